"""Online augmentation: `open_dataset(...).torch(augment=...)` on a version published without
augmentation; draws from (seed, epoch, key), independent of workers and batch size, replayable,
with masks and keypoints moved by the same op implementations as offline."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from image_helpers import image_cfg, make_plan, run_all
from test_image_masks import photo_source

from augment_jobs.errors import ConfigError
from augment_jobs.image.online import OnlineAugment
from augment_jobs.publish import version_uri
from augment_jobs.reader import open_dataset
from augment_jobs.store import join

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reader"))
from reader_helpers import commit, manifest  # noqa: E402

POLICY = {"ops": [{"op": "hflip", "p": 0.5}, {"op": "affine", "p": 0.9, "rotate": [-20, 20]},
                  {"op": "color_jitter", "p": 0.8, "brightness": 0.3}, {"op": "randaugment", "num_ops": 1}],
          "min_box_visibility": 0.0}
VERSION = "2026-01-05.plain000"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Coins and chelsea (masks, keypoints) plus eight more tiles, published with no copies."""
    root = tmp_path_factory.mktemp("online")
    src = Path(photo_source(root / "src"))
    import json

    lines = (src / "annotations.jsonl").read_text().splitlines()
    for i in range(8):  # more samples: shards and workers have something to split
        for name in ("coins.png", "coins_mask.png"):
            shutil.copy(src / name, src / name.replace("coins", f"coins{i}"))
        rec = json.loads(lines[0]) | {"file": f"coins{i}.png", "mask": f"coins{i}_mask.png"}
        lines.append(json.dumps(rec))
    (src / "annotations.jsonl").write_text("\n".join(lines) + "\n")
    cfg = image_cfg(str(src), root, params={"copies_per_image": 0, "ops": []}, max_samples=4, files_per_shard=5)
    plan = make_plan(cfg, root)
    results = run_all(cfg, plan)
    uri = str(root / "pub")
    files = []
    for r in results:
        for f in r.files:
            name = f"shard-{len(files):06d}.tar"
            dst = Path(join(version_uri(uri, VERSION), name))
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(join(plan.data_uri, f["path"]), dst)
            files.append({"path": name, "rows": f["rows"]})
    commit(uri, manifest(uri, VERSION, "webdataset", files))
    return uri


def by_key(items) -> dict[str, dict]:
    out = {}
    for item in items:
        if isinstance(item["__key__"], str):
            out[item["__key__"]] = item
            continue
        for i, k in enumerate(item["__key__"]):
            out[k] = {c: v[i] for c, v in item.items() if isinstance(v, list | torch.Tensor) and len(v) == len(item["__key__"])}
    return out


@pytest.mark.timeout(180)
def test_draws_do_not_depend_on_workers_or_batch_size(published: str) -> None:
    from augment_jobs.image.engine import CPU_MICRO, apply

    # the engine's thread pool exists in this process before the workers fork (they must not use it)
    n = CPU_MICRO + 1
    apply(torch.zeros((n, 3, 8, 8), dtype=torch.uint8), [np.zeros((0, 4))] * n, [[]] * n, [[None]] * n, 0.3)
    ds = open_dataset(published)
    single = by_key(ds.torch(augment=POLICY, seed=5))
    batched = by_key(ds.torch(batch_size=3, augment=POLICY, seed=5).loader(num_workers=2))
    big = by_key(ds.torch(batch_size=10, augment=POLICY, seed=5).loader(num_workers=2))
    assert all(torch.equal(single[k]["image"], big[k]["image"]) for k in single)
    plain = by_key(ds.torch(seed=5))
    assert set(single) == set(batched) == set(plain) and len(single) == 10
    changed = 0
    for k in single:
        assert torch.equal(single[k]["image"], batched[k]["image"]), k
        assert np.array_equal(single[k]["mask"].numpy(), batched[k]["mask"].numpy())
        assert single[k]["augment_params"] == batched[k]["augment_params"]
        changed += not torch.equal(single[k]["image"], plain[k]["image"])
    assert changed >= 8


def test_epochs_differ_and_replay(published: str) -> None:
    ds = open_dataset(published)
    train = ds.torch(augment=POLICY, seed=5)
    e0 = by_key(train)
    train.set_epoch(1)
    e1 = by_key(train)
    train.set_epoch(0)
    again = by_key(train)
    assert sum(not torch.equal(e0[k]["image"], e1[k]["image"]) for k in e0) >= 8
    assert all(torch.equal(e0[k]["image"], again[k]["image"]) for k in e0)
    plain = by_key(ds.torch())
    aug = OnlineAugment(POLICY, seed=5)
    for k in list(e1)[:4]:
        assert torch.equal(aug.replay(k, 1, plain[k]["image"]), e1[k]["image"])
        h, w = plain[k]["image"].shape[1:]
        assert [d for d in aug.draw(k, 1, w, h) if d] == e1[k]["augment_params"]["ops"]
    other_seed = by_key(ds.torch(augment=POLICY, seed=6))
    assert sum(not torch.equal(e0[k]["image"], other_seed[k]["image"]) for k in e0) >= 8


def test_masks_and_keypoints_move_online(published: str) -> None:
    ds = open_dataset(published)
    plain = by_key(ds.torch())
    flipped = by_key(ds.torch(augment={"ops": [{"op": "hflip", "p": 1.0}]}))
    for k, s in plain.items():
        f = flipped[k]
        assert torch.equal(f["image"], s["image"].flip(-1))
        assert torch.equal(f["mask"], s["mask"].flip(-1))
        w = s["image"].shape[-1]
        for a, b in zip(s["keypoints"].tolist(), f["keypoints"].tolist(), strict=True):
            assert b == ([0, 0, 0] if a[2] == 0 else [w - a[0], a[1], a[2]])
        boxes = s["boxes"].numpy()
        assert np.allclose(f["boxes"].numpy(), np.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1))


def test_augment_from_a_config_and_its_restrictions(published: str, tmp_path: Path) -> None:
    cfg = {"dataset": "photos", "modality": "image", "label": "label", "source": {"uri": "x", "format": "images"},
           "augment": [{"method": "image_policy", "params": POLICY}], "publish": {"uri": "y", "format": "webdataset"}}
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "photos.yaml"
    path.write_text(yaml.safe_dump(cfg))
    ds = open_dataset(published)
    from_file = by_key(ds.torch(augment=str(path), seed=5))
    from_dict = by_key(ds.torch(augment=POLICY, seed=5))
    assert all(torch.equal(from_file[k]["image"], from_dict[k]["image"]) for k in from_dict)
    with pytest.raises(ConfigError, match=r"'cutout' is of kind occlusion"):
        ds.torch(augment={"restrict": ["occlusion"], "ops": [{"op": "cutout"}]})
    with pytest.raises(ConfigError, match=r"augment\.ops\.0"):
        ds.torch(augment={"ops": [{"op": "twirl"}]})
