"""mixup and cutmix: pixels and targets from both images, soft labels, both parents in `_source_ids`,
partners fixed by the source (not the batch), and the bad input (an image without a label)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from image_helpers import image_cfg, jpeg, make_plan, run_all, small_source, write_source

from augment_jobs.errors import ConfigError, InputError
from augment_jobs.image.batch import Partner
from augment_jobs.image.engine import apply
from augment_jobs.image.online import OnlineAugment
from augment_jobs.store import join

W, H = 40, 30


def own_and_partner():
    rng = np.random.default_rng(0)
    own = torch.from_numpy(rng.integers(0, 256, (1, 3, H, W), dtype=np.uint8))
    ppx = rng.integers(0, 256, (H * 2, W * 2, 3), dtype=np.uint8)  # twice the size: resized to the copy's
    pmask = np.zeros((H * 2, W * 2), np.uint8)
    pmask[10:40, 10:50] = 5
    partner = Partner("p.jpg", "dog", ppx, np.array([[10.0, 10, 50, 40]]), ["dog"], pmask)
    mask = np.ones((H, W), np.uint8)
    return own, partner, mask


def test_mixup_blends_pixels_and_keeps_both_images_boxes() -> None:
    own, partner, mask = own_and_partner()
    d = {"op": "mixup", "lam": 0.3, "partner": "p.jpg"}
    out = apply(own, [np.array([[1.0, 1, 10, 10]])], [["cat"]], [[d]], 0.3, masks=[mask],
                keypoints=[np.array([[5.0, 5, 2]])], partners={"p.jpg": partner})
    small = torch.nn.functional.interpolate(torch.from_numpy(partner.pixels).permute(2, 0, 1)[None].float(),
                                            size=(H, W), mode="bilinear", align_corners=False)
    ref = (0.3 * own.float() + 0.7 * small).round().clamp(0, 255)
    assert (out.images.float() - ref).abs().max() <= 1
    assert out.box_labels[0] == ["cat", "dog"] and out.boxes[0][1].tolist() == [5, 5, 25, 20]  # halved
    assert set(np.unique(out.masks[0])) == {0, 5}  # lam < 0.5: the partner's mask
    assert out.keypoints[0].tolist() == [[5, 5, 2]]


def test_cutmix_pastes_a_rectangle_with_its_targets() -> None:
    own, partner, mask = own_and_partner()
    d = {"op": "cutmix", "rect": [0, 0, 20, 15], "lam": 0.75, "partner": "p.jpg"}
    kps = np.array([[5.0, 5, 2], [30.0, 20, 2]])
    out = apply(own, [np.array([[2.0, 2, 12, 12], [22.0, 16, 38, 28]])], [["hidden", "seen"]], [[d]], 0.3,
                masks=[mask], keypoints=[kps], partners={"p.jpg": partner})
    assert torch.equal(out.images[0, :, 15:, :], own[0, :, 15:, :])  # outside the patch: own pixels
    assert not torch.equal(out.images[0, :, :15, :20], own[0, :, :15, :20])
    # own box under the patch dropped (visible share 0), the other kept; the partner's clipped to the patch
    assert out.box_labels[0] == ["seen", "dog"] and out.boxes[0][1].tolist() == [5, 5, 20, 15]
    assert (out.masks[0][:15, :20] != 1).all() and (out.masks[0][15:] == 1).all()
    assert out.keypoints[0].tolist() == [[0, 0, 0], [30, 20, 2]]
    assert kps[0].tolist() == [5, 5, 2]  # the caller's arrays are not changed


def mixed_run(tmp_path: Path, op: str, batch_size: int = 64, name: str = "v1"):
    cfg = image_cfg(small_source(tmp_path / "src", n=8), tmp_path, params={
        "copies_per_image": 2, "batch_size": batch_size, "ops": [{"op": "hflip", "p": 0.5}, {"op": op, "p": 1.0}]})
    plan = make_plan(cfg, tmp_path, name)
    return plan, run_all(cfg, plan)


def recs(plan, results) -> list[dict]:
    out = []
    for r in results:
        for f in r.files:
            with tarfile.open(join(plan.data_uri, f["path"])) as tf:
                out += [json.loads(tf.extractfile(m).read()) for m in tf.getmembers() if m.name.endswith(".json")]
    return out


@pytest.mark.parametrize("op", ["mixup", "cutmix"])
def test_mixed_copies_carry_soft_labels_and_both_parents(tmp_path: Path, op: str) -> None:
    plan, results = mixed_run(tmp_path, op)
    got = recs(plan, results)
    labels = {r["source_key"]: r["label"] for r in got if not r["synthetic"]}
    copies = [r for r in got if r["synthetic"]]
    assert len(copies) == 16  # 8 images x 2 copies, every one mixed (next() below finds its op)
    for r in copies:
        mix = next(d for d in r["params"]["ops"] if d["op"] == op)
        own, partner = r["_source_ids"]
        assert own == r["source_key"] and partner == mix["partner"] != own and partner in labels
        assert abs(sum(r["soft_label"].values()) - 1) < 1e-3
        if labels[partner] != r["label"]:
            assert r["soft_label"][labels[partner]] == pytest.approx(1 - mix["lam"], abs=1e-4)
    assert all(r["_source_ids"] == [r["source_key"]] and "soft_label" not in r for r in got if not r["synthetic"])


def test_partners_do_not_depend_on_the_batch(tmp_path: Path) -> None:
    a_plan, a = mixed_run(tmp_path, "cutmix", 64, "a")
    b_plan, b = mixed_run(tmp_path, "cutmix", 1, "b")
    read = lambda plan, res: [Path(join(plan.data_uri, f["path"])).read_bytes() for r in res for f in r.files]  # noqa: E731
    assert read(a_plan, a) == read(b_plan, b)


def test_mixup_without_labels_is_an_input_error(tmp_path: Path) -> None:
    data = {"a.jpg": jpeg(40, 30), "b.jpg": jpeg(40, 30, seed=1)}
    items = [{"file": "a.jpg", "label": "x"}, {"file": "b.jpg", "label": None}]
    cfg = image_cfg(write_source(tmp_path / "src", items, data), tmp_path,
                    params={"copies_per_image": 1, "ops": [{"op": "mixup"}]})
    with pytest.raises(InputError, match=r"b\.jpg.*mixup and cutmix need a label on every image"):
        run_all(cfg, make_plan(cfg, tmp_path))


def test_mixing_is_offline_only() -> None:
    with pytest.raises(ConfigError, match="mixup and cutmix mix two source images"):
        OnlineAugment({"ops": [{"op": "mixup"}]})
