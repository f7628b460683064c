"""Masks and keypoints end to end through the handler, on scikit-image's bundled photos: the source
format (`mask`, `keypoints` in annotations.jsonl), the published `mask.png` member and json
`keypoints`, determinism, and the bad inputs (each an InputError naming the file)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from image_helpers import image_cfg, jpeg, make_plan, run_all, write_source

from augment_jobs.errors import InputError
from augment_jobs.store import join

skdata = pytest.importorskip("skimage.data")

GEOMETRIC = [{"op": "hflip", "p": 0.5}, {"op": "affine", "p": 1.0, "rotate": [-20, 20], "scale": [0.9, 1.1]},
             {"op": "perspective", "p": 0.5, "distortion": 0.2}, {"op": "elastic", "p": 0.5}]
COINS_THRESHOLD = 110  # coins are brighter than the tray (Otsu's threshold on this photo is 107)


def png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def photo_source(src: Path) -> str:
    """coins (greyscale) with a thresholded mask and a keypoint per hand-picked coin; chelsea with
    hand-placed eye and nose keypoints and a mask of a face rectangle."""
    coins = skdata.coins()[::2, ::2].copy()  # 152 x 192: the test stays fast
    coins_mask = (coins > COINS_THRESHOLD).astype(np.uint8)
    cat = skdata.chelsea()[::2, ::2].copy()  # 150 x 225
    cat_mask = np.zeros(cat.shape[:2], np.uint8)
    cat_mask[20:130, 40:160] = 2
    data = {"coins.png": png(coins), "coins_mask.png": png(coins_mask), "chelsea.jpg": jpeg_of(cat),
            "chelsea_mask.png": png(cat_mask)}
    items = [
        {"file": "coins.png", "label": "coins", "mask": "coins_mask.png", "boxes": [[10, 10, 60, 60]],
         "box_labels": ["coin"], "keypoints": [[24.0, 22.0, 2], [60.0, 20.0, 2], [95.0, 18.0, 1]]},
        {"file": "chelsea.jpg", "label": "cat", "mask": "chelsea_mask.png", "boxes": [[40, 20, 160, 130]],
         "box_labels": ["face"], "keypoints": [[74.0, 53.0, 2], [117.0, 49.0, 2], [97.0, 79.0, 2], [0, 0, 0]]},
    ]
    return write_source(src, items, data)


def jpeg_of(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def members(plan, results) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    for r in results:
        for f in r.files:
            with tarfile.open(join(plan.data_uri, f["path"])) as tf:
                for m in tf.getmembers():
                    key, _, ext = m.name.partition(".")
                    out.setdefault(key, {})[ext] = tf.extractfile(m).read()
    return out


def decode(b: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(b)))


def test_masks_and_keypoints_published_and_moved_with_the_pixels(tmp_path: Path) -> None:
    cfg = image_cfg(photo_source(tmp_path / "src"), tmp_path,
                    params={"copies_per_image": 4, "ops": GEOMETRIC, "min_box_visibility": 0.0})
    plan = make_plan(cfg, tmp_path)
    assert len(plan.shards[0]) == 5  # annotations, two images, two masks
    results = run_all(cfg, plan)
    got = members(plan, results)
    assert len(got) == 10
    for key, parts in got.items():
        rec = json.loads(parts["json"])
        img_ext = "png" if "png" in parts else "jpg"
        img, mask = decode(parts[img_ext]), decode(parts["mask.png"])
        assert mask.shape == img.shape[:2] and mask.dtype == np.uint8, key
        assert "keypoints" in rec and all(len(k) == 3 for k in rec["keypoints"])
        h, w = mask.shape
        for x, y, v in rec["keypoints"]:
            assert (x, y, v) == (0, 0, 0) or (0 <= x <= w and 0 <= y <= h and v in (1, 2))
        if rec["source_key"] == "coins.png":
            assert set(np.unique(mask)) <= {0, 1} and len(rec["keypoints"]) == 3
            # the moved mask still marks the coins: the copy's own pixels, thresholded, agree with it
            coins = (img if img.ndim == 2 else img[..., 0]) > COINS_THRESHOLD
            inter, union = (coins & (mask == 1)).sum(), (coins | (mask == 1)).sum()
            assert inter / union > 0.8, (key, inter / union, rec["params"])
        else:
            assert set(np.unique(mask)) <= {0, 2} and len(rec["keypoints"]) == 4
            assert rec["keypoints"][3] == [0, 0, 0]
            if rec["synthetic"] and rec["boxes"]:  # the face box stays on the face rectangle of the mask
                ys, xs = np.nonzero(mask == 2)
                b = rec["boxes"][0]
                assert b[0] <= xs.min() + 1 and b[1] <= ys.min() + 1 and b[2] >= xs.max() and b[3] >= ys.max()
    frame = __import__("augment_jobs.image.handler", fromlist=["ImageHandler"]).ImageHandler().gate_frame(
        cfg, plan, results)
    assert set(frame["mask_classes"]) <= {"[0, 1]", "[0, 2]", "[0]", "[1]", "[2]"}


def test_masks_are_byte_identical_whatever_the_batch(tmp_path: Path) -> None:
    src = photo_source(tmp_path / "src")
    outs = []
    for bs, name in ((64, "a"), (1, "b")):
        cfg = image_cfg(src, tmp_path, params={"copies_per_image": 2, "ops": GEOMETRIC, "batch_size": bs})
        plan = make_plan(cfg, tmp_path, name)
        results = run_all(cfg, plan)
        outs.append([Path(join(plan.data_uri, f["path"])).read_bytes() for r in results for f in r.files])
    assert outs[0] == outs[1]


def small(tmp_path: Path, rec: dict, extra: dict[str, bytes], **source) -> tuple:
    data = {"a.jpg": jpeg(40, 30), **extra}
    items = [{"file": "a.jpg", "label": "x", **rec}]
    cfg = image_cfg(write_source(tmp_path / "src", items, data), tmp_path, **source)
    return cfg


def test_mask_of_the_wrong_size(tmp_path: Path) -> None:
    cfg = small(tmp_path, {"mask": "m.png"}, {"m.png": png(np.zeros((20, 40), np.uint8))})
    with pytest.raises(InputError, match=r"a\.jpg: mask m\.png is 40x20 but the image is 40x30"):
        run_all(cfg, make_plan(cfg, tmp_path))


def test_keypoint_outside_the_image(tmp_path: Path) -> None:
    cfg = small(tmp_path, {"keypoints": [[10, 10, 2], [45, 10, 2]]}, {})
    with pytest.raises(InputError, match=r"a\.jpg: keypoint 1 \[45, 10, 2\] lies outside the 40x30 image"):
        run_all(cfg, make_plan(cfg, tmp_path))


def test_malformed_keypoint(tmp_path: Path) -> None:
    cfg = small(tmp_path, {"keypoints": [[10, 10]]}, {})
    with pytest.raises(InputError, match=r"keypoint 0 \[10, 10\] is not \[x, y, visible\]"):
        run_all(cfg, make_plan(cfg, tmp_path))


def test_class_id_missing_from_the_declared_classes(tmp_path: Path) -> None:
    mask = np.zeros((30, 40), np.uint8)
    mask[5:10, 5:10] = 7
    cfg = small(tmp_path, {"mask": "m.png"}, {"m.png": png(mask)}, mask_classes={0: "background", 1: "coin"})
    with pytest.raises(InputError, match=r"mask m\.png has class id 7, not in source\.mask_classes \(\[0, 1\]\)"):
        run_all(cfg, make_plan(cfg, tmp_path))


def test_mask_naming_a_missing_file(tmp_path: Path) -> None:
    cfg = small(tmp_path, {"mask": "gone.png"}, {})
    with pytest.raises(InputError, match=r"line 1 \(a\.jpg\) names mask 'gone\.png'"):
        make_plan(cfg, tmp_path)


def test_mask_in_colour_is_refused(tmp_path: Path) -> None:
    cfg = small(tmp_path, {"mask": "m.png"}, {"m.png": png(np.zeros((30, 40, 3), np.uint8))})
    with pytest.raises(InputError, match=r"mask m\.png has mode RGB"):
        run_all(cfg, make_plan(cfg, tmp_path))
