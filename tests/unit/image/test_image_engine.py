"""The engine: boxes move with the image, output independent of batching, params replayable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from image_helpers import POLICY

from augment_jobs.image import ImagePolicyParams
from augment_jobs.image.engine import apply, draw, transform_boxes

W, H = 96, 80


def painted(box: list[int]) -> torch.Tensor:
    img = torch.zeros((1, 3, H, W), dtype=torch.uint8)
    x1, y1, x2, y2 = box
    img[:, :, y1:y2, x1:x2] = 255
    return img


def pixel_box(img: torch.Tensor) -> np.ndarray:
    """Enclosing box of the clearly painted pixels, in continuous pixel coordinates."""
    ys, xs = np.nonzero(img[0, 0].numpy() > 127)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def run_one(op: dict, box: list[int], seed: int) -> tuple[torch.Tensor, np.ndarray]:
    params = ImagePolicyParams(ops=[{**op, "p": 1.0}], min_box_visibility=0.0)
    drawn = [draw(params.ops, np.random.default_rng(seed), W, H)]
    out, boxes, *_ = apply(painted(box), [np.array([box], dtype=float)], [["obj"]], drawn, 0.0)
    return out, boxes[0]


@pytest.mark.parametrize("op", [
    {"op": "hflip"},
    {"op": "vflip"},
    {"op": "affine", "scale": [0.7, 1.3]},
    {"op": "affine", "translate": [0.2, 0.2]},
    {"op": "affine", "scale": [0.8, 1.2], "translate": [0.1, 0.1]},
    {"op": "resized_crop", "scale": [0.5, 1.0]},
])
@pytest.mark.parametrize("seed", range(6))
def test_box_encloses_painted_rectangle(op: dict, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    x1, y1 = int(rng.integers(20, 40)), int(rng.integers(20, 35))
    box = [x1, y1, x1 + int(rng.integers(12, 30)), y1 + int(rng.integers(12, 25))]
    out, boxes = run_one(op, box, seed)
    assert len(boxes) == 1
    assert iou(boxes[0], pixel_box(out)) >= 0.9, (boxes[0], pixel_box(out))


@pytest.mark.parametrize("seed", range(6))
def test_rotation_box_within_enclosing_bound(seed: int) -> None:
    box = [36, 30, 60, 50]
    out, boxes = run_one({"op": "affine", "rotate": [-30, 30]}, box, seed)
    got, pix = boxes[0], pixel_box(out)
    # the box contains the rotated pixels (1 px slack for interpolation)...
    assert got[0] <= pix[0] + 1 and got[1] <= pix[1] + 1 and got[2] >= pix[2] - 1 and got[3] >= pix[3] - 1
    # ...and is no bigger than the rotated box's exact enclosing box
    a = np.radians(max(abs(float(d["angle"])) for d in [
        draw(ImagePolicyParams(ops=[{"op": "affine", "p": 1, "rotate": [-30, 30]}]).ops,
             np.random.default_rng(seed), W, H)[0]]))
    bw, bh = 24, 20
    bound_w, bound_h = bw * np.cos(a) + bh * np.sin(a), bw * np.sin(a) + bh * np.cos(a)
    assert got[2] - got[0] <= bound_w + 1e-3 and got[3] - got[1] <= bound_h + 1e-3


def test_boxes_clipped_and_dropped_below_visibility() -> None:
    # translate right by ~half the width: a box near the right edge leaves the frame
    m = np.array([[1.0, 0, 60], [0, 1, 0], [0, 0, 1]])
    boxes, vis = transform_boxes(np.array([[50.0, 10, 80, 30], [0, 0, 10, 10]]), m, W, H)
    assert boxes[0].tolist() == [W, 10, W, 30] and vis[0] == 0.0
    assert boxes[1].tolist() == [60, 0, 70, 10] and vis[1] == 1.0
    drawn = [[{"op": "affine", "angle": 0.0, "scale": 1.0, "tx": 40.0, "ty": 0.0, "shear_x": 0.0, "shear_y": 0.0}]]
    _, out_boxes, out_labels, *_ = apply(painted([60, 10, 90, 30]), [np.array([[60.0, 10, 90, 30], [10, 10, 20, 20]])],
                                     [["gone", "kept"]], drawn, 0.5)
    assert out_labels == [["kept"]] and out_boxes[0].tolist() == [[50, 10, 60, 20]]


def full_policy() -> ImagePolicyParams:
    return ImagePolicyParams(ops=[{**o, "p": max(o["p"], 0.5)} for o in POLICY])


def test_same_output_whatever_the_batch_size() -> None:
    params = full_policy()
    rng = np.random.default_rng(0)
    n = 11
    imgs = torch.from_numpy(rng.integers(0, 256, (n, 3, 40, 52), dtype=np.uint8))
    boxes = [np.array([[5.0, 5, 30, 25]])] * n
    drawn = [draw(params.ops, np.random.default_rng(i), 52, 40) for i in range(n)]
    whole, wb, *_ = apply(imgs, boxes, [["a"]] * n, drawn, 0.3)
    ones = [apply(imgs[i:i + 1], boxes[i:i + 1], [["a"]], drawn[i:i + 1], 0.3) for i in range(n)]
    assert torch.equal(whole, torch.cat([o[0] for o in ones]))
    assert all(np.array_equal(a, o[1][0]) for a, o in zip(wb, ones, strict=True))
    threes = [apply(imgs[i:i + 3], boxes[i:i + 3], [["a"]] * 3, drawn[i:i + 3], 0.3)[0]
              for i in range(0, n, 3)]
    assert torch.equal(whole, torch.cat(threes))


def test_drawn_params_are_plain_and_replayable() -> None:
    import json

    params = full_policy()
    d1 = draw(params.ops, np.random.default_rng(5), 64, 48)
    d2 = draw(params.ops, np.random.default_rng(5), 64, 48)
    assert d1 == d2
    recorded = json.loads(json.dumps([d for d in d1 if d]))  # survives JSON
    aligned, it = [], iter(recorded)
    for d in d1:
        aligned.append(next(it) if d else None)
    img = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (1, 3, 48, 64), dtype=np.uint8))
    a = apply(img, [np.zeros((0, 4))], [[]], [d1], 0.3)[0]
    b = apply(img, [np.zeros((0, 4))], [[]], [aligned], 0.3)[0]
    assert torch.equal(a, b)


def test_identity_policy_keeps_pixels() -> None:
    img = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (2, 3, 20, 30), dtype=np.uint8))
    params = ImagePolicyParams(ops=[{"op": "hflip", "p": 1.0}, {"op": "hflip", "p": 1.0}])
    drawn = [draw(params.ops, np.random.default_rng(i), 30, 20) for i in range(2)]
    out, *_ = apply(img, [np.zeros((0, 4))] * 2, [[]] * 2, drawn, 0.3)
    assert torch.equal(out, img)
