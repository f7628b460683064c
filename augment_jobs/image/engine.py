"""The batched augmentation engine: draw per-sample parameters, then apply them op by op.

Drawing is separate from applying: `draw(ops, rng, w, h)` returns plain dicts (recorded in each
sample's json as `params`) and `apply(...)` replays them, so a recorded sample can be re-made.
`draw` returns one entry per *slot*: one per op, `num_ops` for `randaugment`; a policy family
draws concrete ops (an `affine` rotation, a `posterize`, ...), so `apply` dispatches each slot on
the drawn op's name, sample by sample, and one implementation serves every op, policy family and
the online (DataLoader) path alike.

Targets: boxes, masks (class ids, resampled nearest) and keypoints (`[x, y, visible]`) go through
the same matrix or displacement field as the pixels. A keypoint that leaves the image (outside
[0, W] x [0, H]) becomes `[0, 0, 0]`: kept, so keypoint indices keep their meaning, and marked not
visible (COCO's convention for an unlabelled keypoint).
Every random number comes from the sample's own generator, seeded by (seed, date, step, key, copy),
so output does not depend on batch size, order or worker count.

Why own torch ops rather than kornia.augmentation: kornia draws parameters from torch's global
generator per batch (not per sample key), and its AugmentationSequential cost 3x albumentations on
2 CPU threads (benchmarks/README_image.md). Here consecutive geometric ops (flips, affine, crop) are fused into
one 3x3 matrix per sample and resampled once (one `grid_sample` per run of geometric ops: faster,
and one interpolation instead of several), and boxes go through the same matrix. Everything else
is elementwise torch on the device the images are on (CUDA when present, CPU otherwise), written
without batch-shape-dependent kernels (no matmul/conv whose algorithm depends on batch size), so
bytes are identical whatever the batching.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from augment_jobs.image import MATRIX_OPS, MIXING_OPS, ImagePolicyParams
from augment_jobs.rng import derive_seed

if TYPE_CHECKING:
    import torch

    from augment_jobs.image.batch import ImageBatch, Partner
    from augment_jobs.registry import AugmentContext

GRAY = (0.299, 0.587, 0.114)


def _r(v: float) -> float:
    return float(round(float(v), 4))


# --- drawing -----------------------------------------------------------------------------------
def n_slots(op: Any) -> int:
    """Entries `draw` makes for one op: `num_ops` for randaugment, one otherwise."""
    return int(getattr(op, "num_ops", 1)) if op.op == "randaugment" else 1


def draw(ops: Sequence[Any], rng: np.random.Generator, w: int, h: int) -> list[dict[str, Any] | None]:
    """Draw one sample's parameters: a list of slots (`n_slots` per op), None where it does not fire."""
    out: list[dict[str, Any] | None] = []
    for op in ops:
        fires = rng.random() < op.p
        if not fires:
            out.extend([None] * n_slots(op))
            continue
        name = op.op
        if name == "randaugment":
            for _ in range(op.num_ops):
                member = op.pool[int(rng.integers(len(op.pool)))]
                out.append(_pool_op(member, op.magnitude, op.num_magnitude_bins, False, rng, w, h))
            continue
        if name == "trivialaugment":
            member = op.pool[int(rng.integers(len(op.pool)))]
            mag = int(rng.integers(op.num_magnitude_bins))
            out.append(_pool_op(member, mag, op.num_magnitude_bins, True, rng, w, h))
            continue
        d: dict[str, Any] = {"op": name}
        if name == "affine":
            sh = op.shear
            d.update(
                angle=_r(rng.uniform(*op.rotate)),
                scale=_r(rng.uniform(*op.scale)),
                tx=_r(rng.uniform(-op.translate[0], op.translate[0]) * w),
                ty=_r(rng.uniform(-op.translate[1], op.translate[1]) * h),
                shear_x=_r(rng.uniform(sh[0], sh[1])),
                shear_y=_r(rng.uniform(sh[2], sh[3])) if len(sh) == 4 else 0.0,
            )
        elif name == "resized_crop":
            d.update(_draw_crop(rng, w, h, op.scale, op.ratio))
        elif name == "perspective":
            # torchvision's RandomPerspective: corners (tl, tr, br, bl) moved inward
            dx, dy = op.distortion * w / 2, op.distortion * h / 2
            u = [_r(v) for v in rng.uniform(0, 1, 8)]
            d.update(corners=[[_r(u[0] * dx), _r(u[1] * dy)], [_r(w - u[2] * dx), _r(u[3] * dy)],
                              [_r(w - u[4] * dx), _r(h - u[5] * dy)], [_r(u[6] * dx), _r(h - u[7] * dy)]])
        elif name == "elastic":
            d.update(alpha=_r(rng.uniform(*op.alpha)), sigma=_r(rng.uniform(*op.sigma)),
                     seed=int(rng.integers(2**31 - 1)))
        elif name == "color_jitter":
            d.update(
                brightness=_r(rng.uniform(1 - op.brightness, 1 + op.brightness)),
                contrast=_r(rng.uniform(1 - op.contrast, 1 + op.contrast)),
                saturation=_r(rng.uniform(1 - op.saturation, 1 + op.saturation)),
                hue=_r(rng.uniform(-op.hue, op.hue)),
            )
        elif name == "posterize":
            d.update(bits=int(rng.integers(op.bits[0], op.bits[1] + 1)))
        elif name == "solarize":
            d.update(threshold=_r(rng.uniform(*op.threshold) * 255.0))
        elif name == "sharpness":
            d.update(factor=_r(rng.uniform(*op.factor)))
        elif name == "gaussian_noise":
            d.update(sigma=_r(rng.uniform(*op.sigma)), seed=int(rng.integers(2**31 - 1)))
        elif name == "gaussian_blur":
            d.update(sigma=_r(rng.uniform(*op.sigma)))
        elif name == "mixup":
            d.update(lam=_r(rng.beta(op.alpha, op.alpha)), pick=float(rng.random()))
        elif name == "cutmix":
            lam = float(rng.beta(op.alpha, op.alpha))
            cw, ch = w * math.sqrt(1 - lam), h * math.sqrt(1 - lam)
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            rect = [int(max(0, round(cx - cw / 2))), int(max(0, round(cy - ch / 2))),
                    int(min(w, round(cx + cw / 2))), int(min(h, round(cy + ch / 2)))]
            area = (rect[2] - rect[0]) * (rect[3] - rect[1])
            d.update(rect=rect, lam=_r(1 - area / (w * h)), pick=float(rng.random()))
        elif name == "cutout":
            holes = []
            for _ in range(op.holes):
                hw, hh = rng.uniform(*op.size) * w, rng.uniform(*op.size) * h
                cx, cy = rng.uniform(0, w), rng.uniform(0, h)
                holes.append([int(max(0, cx - hw / 2)), int(max(0, cy - hh / 2)),
                              int(min(w, math.ceil(cx + hw / 2))), int(min(h, math.ceil(cy + hh / 2)))])
            d.update(holes=holes, fill=op.fill)
        out.append(d)
    return out


def _pool_op(member: str, mag_bin: int, bins: int, wide: bool, rng: np.random.Generator, w: int, h: int
             ) -> dict[str, Any]:
    """A RandAugment / TrivialAugment member at a magnitude bin, as one of the registered ops
    (torchvision's `_augmentation_space`; `wide` is TrivialAugmentWide's)."""
    frac = mag_bin / (bins - 1)
    sign = -1.0 if rng.random() < 0.5 else 1.0
    via = {"via": member}
    ident = {"angle": 0.0, "scale": 1.0, "tx": 0.0, "ty": 0.0, "shear_x": 0.0, "shear_y": 0.0}
    if member in ("shear_x", "shear_y"):
        deg = _r(sign * math.degrees(math.atan(frac * (0.99 if wide else 0.3))))
        return {"op": "affine", **ident, ("shear_x" if member == "shear_x" else "shear_y"): deg, **via}
    if member in ("translate_x", "translate_y"):
        side = w if member == "translate_x" else h
        px = _r(sign * frac * (32.0 if wide else 150.0 / 331.0 * side))
        return {"op": "affine", **ident, ("tx" if member == "translate_x" else "ty"): px, **via}
    if member == "rotate":
        return {"op": "affine", **ident, "angle": _r(sign * frac * (135.0 if wide else 30.0)), **via}
    enhance = _r(1.0 + sign * frac * (0.99 if wide else 0.9))
    if member in ("brightness", "color", "contrast"):
        key = {"brightness": "brightness", "color": "saturation", "contrast": "contrast"}[member]
        return {"op": "color_jitter", "brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "hue": 0.0,
                key: enhance, **via}
    if member == "sharpness":
        return {"op": "sharpness", "factor": enhance, **via}
    if member == "posterize":
        return {"op": "posterize", "bits": int(8 - round(mag_bin / ((bins - 1) / (6 if wide else 4)))), **via}
    if member == "solarize":
        return {"op": "solarize", "threshold": _r(255.0 * (1 - frac)), **via}
    return {"op": member, **via}  # identity, autocontrast, equalize: no parameter


def _draw_crop(rng: np.random.Generator, w: int, h: int, scale: tuple[float, float],
               ratio: tuple[float, float]) -> dict[str, float]:
    """torchvision's RandomResizedCrop rule: 10 tries, then a centre crop at the clamped ratio."""
    area = w * h
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        ar = math.exp(rng.uniform(*log_r))
        cw, ch = math.sqrt(target * ar), math.sqrt(target / ar)
        if 0 < cw <= w and 0 < ch <= h:
            return {"x": _r(rng.uniform(0, w - cw)), "y": _r(rng.uniform(0, h - ch)), "w": _r(cw), "h": _r(ch)}
    ar = w / h
    cw, ch = (w, w / ratio[0]) if ar < ratio[0] else ((h * ratio[1], h) if ar > ratio[1] else (w, h))
    cw, ch = min(cw, w), min(ch, h)
    return {"x": _r((w - cw) / 2), "y": _r((h - ch) / 2), "w": _r(cw), "h": _r(ch)}


def matrix(d: dict[str, Any], w: int, h: int) -> np.ndarray:
    """Forward 3x3 matrix of a geometric op in pixel coordinates (a full image is [0, W] x [0, H])."""
    name = d["op"]
    if name == "hflip":
        return np.array([[-1.0, 0, w], [0, 1, 0], [0, 0, 1]])
    if name == "vflip":
        return np.array([[1.0, 0, 0], [0, -1, h], [0, 0, 1]])
    if name == "resized_crop":
        sx, sy = w / d["w"], h / d["h"]
        return np.array([[sx, 0, -d["x"] * sx], [0, sy, -d["y"] * sy], [0, 0, 1]])
    if name == "affine":
        a = math.radians(d["angle"])
        cx, cy = w / 2, h / 2
        rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
        shear = np.array([[1, math.tan(math.radians(d["shear_x"])), 0],
                          [math.tan(math.radians(d["shear_y"])), 1, 0], [0, 0, 1]])
        scale = np.diag([d["scale"], d["scale"], 1.0])
        to_origin = np.array([[1.0, 0, -cx], [0, 1, -cy], [0, 0, 1]])
        back = np.array([[1.0, 0, cx + d["tx"]], [0, 1, cy + d["ty"]], [0, 0, 1]])
        return back @ rot @ shear @ scale @ to_origin
    if name == "perspective":
        src = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]
        return homography(src, [tuple(c) for c in d["corners"]])
    raise ValueError(f"{name} is not a matrix op")


def homography(src: Sequence[tuple[float, float]], dst: Sequence[tuple[float, float]]) -> np.ndarray:
    """The 3x3 projective matrix taking the four `src` points to the four `dst` points."""
    a, b = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    coef = np.linalg.solve(np.array(a, dtype=np.float64), np.array(b, dtype=np.float64))
    return np.append(coef, 1.0).reshape(3, 3)


# --- boxes and keypoints ---------------------------------------------------------------------
def map_points(m: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points through a 3x3 matrix (projective: divided by the third coordinate; exact for affine)."""
    tx = m[0, 0] * x + m[0, 1] * y + m[0, 2]
    ty = m[1, 0] * x + m[1, 1] * y + m[1, 2]
    if m[2, 0] == 0 and m[2, 1] == 0 and m[2, 2] == 1:
        return tx, ty
    wz = m[2, 0] * x + m[2, 1] * y + m[2, 2]
    return tx / wz, ty / wz


def transform_boxes(boxes: np.ndarray, m: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Map boxes through `m`: corners mapped, enclosing box, clipped to the image.

    Returns (boxes, visible): `visible` is the clipped area over the unclipped enclosing area.
    """
    if len(boxes) == 0:
        return boxes.reshape(0, 4), np.ones(0)
    x1, y1, x2, y2 = boxes.T
    tx, ty = map_points(m, np.stack([x1, x2, x2, x1], 1), np.stack([y1, y1, y2, y2], 1))
    return _enclose(tx, ty, w, h)


def _enclose(tx: np.ndarray, ty: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Enclosing boxes of point sets (one row per box), clipped, and their visible share."""
    enc = np.stack([tx.min(1), ty.min(1), tx.max(1), ty.max(1)], 1)
    clip = np.stack([enc[:, 0].clip(0, w), enc[:, 1].clip(0, h), enc[:, 2].clip(0, w), enc[:, 3].clip(0, h)], 1)
    area = (enc[:, 2] - enc[:, 0]) * (enc[:, 3] - enc[:, 1])
    carea = np.maximum(clip[:, 2] - clip[:, 0], 0) * np.maximum(clip[:, 3] - clip[:, 1], 0)
    return clip, np.where(area > 0, carea / np.maximum(area, 1e-12), 0.0)


def keep_inside(kp: np.ndarray, w: int, h: int) -> np.ndarray:
    """The documented rule: a keypoint outside [0, W] x [0, H] becomes [0, 0, 0] (kept, not visible)."""
    out = kp.copy()
    gone = (out[:, 0] < 0) | (out[:, 0] > w) | (out[:, 1] < 0) | (out[:, 1] > h) | (out[:, 2] <= 0)
    out[gone] = 0.0
    return out


def transform_keypoints(kp: np.ndarray, m: np.ndarray, w: int, h: int) -> np.ndarray:
    """Keypoints [x, y, visible] through `m`; those leaving the image become [0, 0, 0]."""
    if len(kp) == 0:
        return kp.reshape(0, 3)
    x, y = map_points(m, kp[:, 0], kp[:, 1])
    return keep_inside(np.stack([x, y, kp[:, 2]], 1), w, h)


# --- elastic ----------------------------------------------------------------------------------
def elastic_field(d: dict[str, Any], w: int, h: int) -> np.ndarray:
    """The displacement (2, H, W) in pixels at each output pixel centre: the output pixel at p
    shows the input at p + field(p). From the recorded seed, on the host: identical on CPU and CUDA."""
    from scipy.ndimage import gaussian_filter

    noise = np.random.default_rng(d["seed"]).uniform(-1, 1, (2, h, w))
    return np.stack([gaussian_filter(c, d["sigma"], mode="constant") * d["alpha"] for c in noise]).astype(np.float32)


def _field_at(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear lookup of the field at continuous points (values at pixel centres, edges clamped)."""
    _, h, w = field.shape
    fx = np.clip(x - 0.5, 0, w - 1)
    fy = np.clip(y - 0.5, 0, h - 1)
    x0, y0 = np.minimum(fx.astype(int), w - 2 if w > 1 else 0), np.minimum(fy.astype(int), h - 2 if h > 1 else 0)
    ax, ay = fx - x0, fy - y0
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)

    def lerp(c: np.ndarray) -> np.ndarray:
        top = c[y0, x0] * (1 - ax) + c[y0, x1] * ax
        bot = c[y1, x0] * (1 - ax) + c[y1, x1] * ax
        return top * (1 - ay) + bot * ay

    return lerp(field[0]), lerp(field[1])


def elastic_points(field: np.ndarray, x: np.ndarray, y: np.ndarray, iters: int = 20
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Where input points land: solve q + field(q) = k by fixed-point iteration (the field is
    smooth, so the map is a contraction)."""
    qx, qy = x.astype(np.float64).copy(), y.astype(np.float64).copy()
    for _ in range(iters):
        dx, dy = _field_at(field, qx, qy)
        qx, qy = x - dx, y - dy
    return qx, qy


def elastic_boxes(boxes: np.ndarray, field: np.ndarray, w: int, h: int, per_side: int = 16
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Boxes enclosing their moved outline (`per_side` points on each edge)."""
    if len(boxes) == 0:
        return boxes.reshape(0, 4), np.ones(0)
    t = np.linspace(0, 1, per_side)
    x1, y1, x2, y2 = (boxes[:, i:i + 1] for i in range(4))
    xs = np.concatenate([x1 + (x2 - x1) * t, x2 + 0 * t, x2 - (x2 - x1) * t, x1 + 0 * t], 1)
    ys = np.concatenate([y1 + 0 * t, y1 + (y2 - y1) * t, y2 + 0 * t, y2 - (y2 - y1) * t], 1)
    qx, qy = elastic_points(field, xs.ravel(), ys.ravel())
    return _enclose(qx.reshape(xs.shape), qy.reshape(ys.shape), w, h)


# --- applying ----------------------------------------------------------------------------------
def _warp(x: torch.Tensor, inv: np.ndarray, mode: str = "bilinear") -> torch.Tensor:
    """Resample x [n, C, H, W] at inv @ (output pixel centre): one grid_sample for the batch."""
    return _sample(x, _grid(x, inv), mode)


def _sample(x: torch.Tensor, grid: torch.Tensor, mode: str) -> torch.Tensor:
    import torch.nn.functional as F

    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _grid(x: torch.Tensor, inv: np.ndarray) -> torch.Tensor:
    """grid_sample's grid for inv @ (output pixel centre), divided through for projective rows."""
    import torch

    n, _, hh, ww = x.shape
    # grid_sample wants normalised coordinates u = 2 x / W - 1; fold that into the coefficients
    # (float64 on the host), so the grid costs one full-size add per axis.
    norm = np.array([[2.0 / ww, 0, -1.0], [0, 2.0 / hh, -1.0], [0, 0, 1]])
    m = torch.as_tensor(norm @ inv, dtype=torch.float32, device=x.device)
    xs = (torch.arange(ww, device=x.device, dtype=torch.float32) + 0.5).view(1, 1, ww)
    ys = (torch.arange(hh, device=x.device, dtype=torch.float32) + 0.5).view(1, hh, 1)
    grid = torch.empty((n, hh, ww, 2), dtype=torch.float32, device=x.device)
    for axis in (0, 1):
        # elementwise (not a batched matmul) so results do not depend on the batch's shape
        a, b, c = (m[:, axis, j].view(n, 1, 1) for j in range(3))
        torch.add(a * xs, b * ys + c, out=grid[..., axis])
    if not (inv[:, 2, :2] == 0).all() or not (inv[:, 2, 2] == 1).all():  # a perspective in the run
        a, b, c = (m[:, 2, j].view(n, 1, 1) for j in range(3))
        grid /= (a * xs + b * ys + c).unsqueeze(-1)
    return grid


def _elastic_grid(x: torch.Tensor, fields: list[np.ndarray]) -> torch.Tensor:
    import torch

    n, _, hh, ww = x.shape
    xs = np.arange(ww, dtype=np.float32) + 0.5
    ys = (np.arange(hh, dtype=np.float32) + 0.5)[:, None]
    g = np.stack([np.stack([(xs + f[0]) * (2.0 / ww) - 1.0, (ys + f[1]) * (2.0 / hh) - 1.0], -1) for f in fields])
    return torch.from_numpy(g.astype(np.float32)).to(x.device)


def _color_jitter(x: torch.Tensor, ds: list[dict[str, Any]]) -> torch.Tensor:
    """Brightness, contrast, saturation and hue fused into one affine colour map per sample:
    y = A x + bias, with A = contrast * brightness * K (K: saturation then hue as a rotation in
    YIQ's IQ plane) and the contrast pivot at the grey mean. One clamp at the end (torchvision
    clamps after each factor; the difference is confined to pixels pushed out of range)."""
    n = x.shape[0]
    # Row sums (a reduction over the contiguous last dim: fixed order per row, whatever the batch
    # shape), then rows added in float64: the mean does not depend on batching or threads.
    sums = x.sum(dim=3).double().sum(dim=2).cpu().numpy() / (x.shape[2] * x.shape[3])
    gray_mean = sums @ np.array(GRAY)
    a = np.empty((n, 3, 3))
    bias = np.empty((n, 3))
    for i, d in enumerate(ds):
        k = _sat_hue_matrix(d["saturation"], d["hue"])
        b, c = d["brightness"], d["contrast"]
        a[i] = c * b * k
        bias[i] = (1 - c) * b * gray_mean[i] * k.sum(axis=1)
    return _color_affine(x, a, bias)


def _color_affine(x: torch.Tensor, a: np.ndarray, bias: np.ndarray) -> torch.Tensor:
    import torch

    n = x.shape[0]
    at = torch.as_tensor(a, dtype=torch.float32, device=x.device)
    bt = torch.as_tensor(bias, dtype=torch.float32, device=x.device)

    # out[c] = a[c, 0] x[0] + a[c, 1] x[1] + a[c, 2] x[2] + bias[c], written in place term by term:
    # elementwise in a fixed order (no matmul, whose kernel depends on the batch), and no 9-plane
    # temporary (8x faster than a broadcast multiply and a sum on CPU)
    at = at.view(n, 3, 3, 1, 1)
    bt = bt.view(n, 3, 1, 1)
    out = torch.empty_like(x)
    for c in range(3):
        o = out[:, c:c + 1]
        torch.mul(x[:, 0:1], at[:, c, 0:1], out=o)
        o.addcmul_(x[:, 1:2], at[:, c, 1:2]).addcmul_(x[:, 2:3], at[:, c, 2:3]).add_(bt[:, c:c + 1])
    return out.clamp_(0, 255)


_RGB2YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)


def _sat_hue_matrix(sat: float, hue: float) -> np.ndarray:
    w = np.array(GRAY)
    s = sat * np.eye(3) + (1 - sat) * np.outer(np.ones(3), w)
    t = hue * 2 * math.pi
    rot = np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
    return (_YIQ2RGB @ rot @ _RGB2YIQ) @ s


def _noise(x: torch.Tensor, ds: list[dict[str, Any]]) -> torch.Tensor:
    import torch

    _, c, hh, ww = x.shape
    # Noise from each sample's recorded seed: replayable, and identical on CPU and CUDA.
    noise = np.stack([np.random.default_rng(d["seed"]).standard_normal((c, hh, ww), dtype=np.float32)
                      * np.float32(d["sigma"] * 255.0) for d in ds])
    return (x + torch.from_numpy(noise).to(x.device)).clamp_(0, 255)


def _blur(x: torch.Tensor, ds: list[dict[str, Any]]) -> torch.Tensor:
    """Separable Gaussian blur with per-sample sigma, as a weighted sum of shifted views."""
    import torch
    import torch.nn.functional as F

    n, _, hh, ww = x.shape
    if min(hh, ww) < 2:  # a 1-pixel-wide image has no neighbourhood to blur (and reflect padding needs one)
        return x
    # Each sample's kernel depends on its own sigma only; taps beyond its radius weigh exactly 0
    # (adding 0.0 is exact), so the result does not depend on which samples share the batch.
    radii = [max(1, min(math.ceil(3 * d["sigma"]), hh - 1, ww - 1)) for d in ds]
    radius = max(radii)
    taps = np.arange(-radius, radius + 1)
    wts = np.stack([np.where(np.abs(taps) <= r, np.exp(-(taps**2) / (2 * d["sigma"] ** 2)), 0.0)
                    for d, r in zip(ds, radii, strict=True)])
    wts = wts / wts.sum(1, keepdims=True)
    wt = torch.as_tensor(wts, dtype=torch.float32, device=x.device)
    xp = F.pad(x, (radius, radius, 0, 0), mode="reflect")
    acc = torch.zeros_like(x)
    for i in range(len(taps)):
        acc += wt[:, i].view(n, 1, 1, 1) * xp[..., i:i + ww]
    yp = F.pad(acc, (0, 0, radius, radius), mode="reflect")
    out = torch.zeros_like(x)
    for i in range(len(taps)):
        out += wt[:, i].view(n, 1, 1, 1) * yp[..., i:i + hh, :]
    return out


def _cutout(x: torch.Tensor, ds: list[dict[str, Any]]) -> torch.Tensor:
    import torch

    n, _, hh, ww = x.shape
    dev = x.device
    xs = torch.arange(ww, device=dev).view(1, 1, ww)
    ys = torch.arange(hh, device=dev).view(1, hh, 1)
    mask = torch.zeros((n, hh, ww), dtype=torch.bool, device=dev)
    for j in range(max(len(d["holes"]) for d in ds)):
        rect = torch.tensor([d["holes"][j] if j < len(d["holes"]) else [0, 0, 0, 0] for d in ds],
                            device=dev).view(n, 4, 1, 1)
        mask |= (xs >= rect[:, 0]) & (xs < rect[:, 2]) & (ys >= rect[:, 1]) & (ys < rect[:, 3])
    fill = torch.tensor([float(d["fill"]) for d in ds], dtype=torch.float32, device=dev).view(n, 1, 1, 1)
    return torch.where(mask.unsqueeze(1), fill, x)


def _grayscale(x: torch.Tensor, ds: list[dict[str, Any]]) -> torch.Tensor:
    n = x.shape[0]
    return _color_affine(x, np.tile(np.array([GRAY] * 3), (n, 1, 1)), np.zeros((n, 3)))


def _levels(x: torch.Tensor) -> torch.Tensor:
    """The 8-bit levels these ops are defined on (PIL's and torchvision's uint8 semantics)."""
    return x.round().clamp_(0, 255)


def _per_sample(x: torch.Tensor, values: list[float]) -> torch.Tensor:
    import torch

    return torch.tensor(values, dtype=torch.float32, device=x.device).view(-1, 1, 1, 1)


def _posterize(x: torch.Tensor, ds: list[dict[str, Any]]) -> torch.Tensor:
    step = _per_sample(x, [float(2 ** (8 - d["bits"])) for d in ds])
    return (_levels(x) / step).floor_() * step


def _solarize(x: torch.Tensor, ds: list[dict[str, Any]]) -> torch.Tensor:
    import torch

    xr = _levels(x)
    return torch.where(xr >= _per_sample(x, [d["threshold"] for d in ds]), 255.0 - xr, xr)


def _autocontrast(x: torch.Tensor, ds: list[dict[str, Any]]) -> torch.Tensor:
    """Each channel stretched to [0, 255] (min and max are exact whatever the reduction order)."""
    import torch

    xr = _levels(x)
    lo = xr.amin(dim=(2, 3), keepdim=True)
    hi = xr.amax(dim=(2, 3), keepdim=True)
    flat = hi <= lo
    scale = torch.where(flat, torch.ones_like(hi), 255.0 / (hi - lo).clamp_min(1))
    return torch.where(flat, xr, ((xr - lo) * scale).clamp_(0, 255))


def _equalize(x: torch.Tensor, ds: list[dict[str, Any]]) -> torch.Tensor:
    """torchvision's equalize, per sample and channel: integer histograms (exact on any device)."""
    import torch

    n, c, hh, ww = x.shape
    lv = _levels(x).long().view(n * c, hh * ww)
    rows = torch.arange(n * c, device=x.device).view(-1, 1) * 256
    hist = torch.bincount((lv + rows).view(-1), minlength=n * c * 256).view(n * c, 256)
    last = 255 - torch.argmax((hist.flip(1) > 0).long(), dim=1)  # the last non-empty level
    step = (hist.sum(1) - hist.gather(1, last.view(-1, 1)).view(-1)) // 255
    safe = step.clamp_min(1).view(-1, 1)
    lut = (torch.cumsum(hist, 1) + safe // 2) // safe
    lut = torch.cat([torch.zeros_like(lut[:, :1]), lut[:, :-1]], 1).clamp_(0, 255)
    out = lut.gather(1, lv)
    out = torch.where((step == 0).view(-1, 1), lv, out)
    return out.view(n, c, hh, ww).float()


def _sharpness(x: torch.Tensor, ds: list[dict[str, Any]]) -> torch.Tensor:
    """torchvision's adjust_sharpness: blend with the [[1,1,1],[1,5,1],[1,1,1]]/13 smoothed image
    (border pixels kept); the smoothing is a fixed-order sum of shifted views, not a conv."""
    _, _, hh, ww = x.shape
    if hh < 3 or ww < 3:
        return x
    inner = x[..., 1:-1, 1:-1] * 5.0
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if (dy, dx) != (1, 1):
                inner = inner + x[..., dy:dy + hh - 2, dx:dx + ww - 2]
    smooth = x.clone()
    smooth[..., 1:-1, 1:-1] = inner / 13.0
    f = _per_sample(x, [d["factor"] for d in ds])
    return (f * x + (1.0 - f) * smooth).clamp_(0, 255)


#: Ops that change pixel values only: boxes, masks and keypoints stay as they are.
_PIXEL_OPS = {"color_jitter": _color_jitter, "gaussian_noise": _noise, "gaussian_blur": _blur, "cutout": _cutout,
              "grayscale": _grayscale, "posterize": _posterize, "solarize": _solarize, "equalize": _equalize,
              "autocontrast": _autocontrast, "sharpness": _sharpness}


CPU_MICRO = 8  # on CPU, batches this small stay in cache: 2-3x faster than 64 at once
class Applied(NamedTuple):
    """What `apply` returns: uint8 images on the input's device, and the moved targets."""

    images: torch.Tensor
    boxes: list[np.ndarray]
    box_labels: list[list[str]]
    masks: list[np.ndarray | None]
    keypoints: list[np.ndarray]


def apply(images: torch.Tensor, boxes: list[np.ndarray], box_labels: list[list[str]],
          drawn: list[list[dict[str, Any] | None]], min_visibility: float,
          masks: list[np.ndarray | None] | None = None, keypoints: list[np.ndarray] | None = None,
          partners: dict[str, Partner] | None = None) -> Applied:
    """Apply drawn params to a uint8 batch [B, 3, H, W]: one batched call per op and slot (per run
    of matrix ops). `masks[i]` is an (H, W) uint8 class-id array or None; `keypoints[i]` (k, 3);
    `partners` the images mixing ops name (by key) in their drawn params.

    On CUDA the batch goes in whole. On CPU it is cut into micro-batches of CPU_MICRO run on a
    thread pool; every op is per sample, so the result is the same either way."""
    import torch

    n = len(images)
    masks = list(masks) if masks is not None else [None] * n
    keypoints = list(keypoints) if keypoints is not None else [np.zeros((0, 3))] * n
    if images.is_cuda or n <= CPU_MICRO:
        return _apply(images, boxes, box_labels, drawn, min_visibility, masks, keypoints, partners or {})
    from torch.utils.data import get_worker_info

    from augment_jobs.samples import cpu_pool

    step = CPU_MICRO

    def part(s: int) -> Applied:
        return _apply(images[s:s + step], boxes[s:s + step], box_labels[s:s + step], drawn[s:s + step],
                      min_visibility, masks[s:s + step], keypoints[s:s + step], partners or {})

    # in a DataLoader worker the workers are the parallelism: micro-batches in turn, no threads
    starts = range(0, n, step)
    parts = [part(s) for s in starts] if get_worker_info() is not None else list(cpu_pool().map(part, starts))
    return Applied(torch.cat([p.images for p in parts]), *([v for p in parts for v in getattr(p, f)]
                                                           for f in ("boxes", "box_labels", "masks", "keypoints")))


def _apply(images: torch.Tensor, boxes: list[np.ndarray], box_labels: list[list[str]],
           drawn: list[list[dict[str, Any] | None]], min_visibility: float,
           masks: list[np.ndarray | None], keypoints: list[np.ndarray], partners: dict[str, Partner]) -> Applied:
    import torch

    n, _, hh, ww = images.shape
    x = images.float()  # 0..255 scale: saves a pass
    boxes = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in boxes]
    kps = [np.array(k, dtype=np.float64).reshape(-1, 3) for k in keypoints]  # copies: changed in place
    labels = [list(bl) for bl in box_labels]
    visible = [np.ones(len(b)) for b in boxes]
    has_mask = np.array([m is not None for m in masks])
    mk = None
    if has_mask.any():  # class ids as float32 (exact up to 2**24); resampled nearest, 0 outside
        mk = torch.from_numpy(np.stack([m if m is not None else np.zeros((hh, ww), np.uint8) for m in masks])
                              ).to(x.device).unsqueeze(1).float()
    pending = np.tile(np.eye(3), (n, 1, 1))
    moved = np.zeros(n, dtype=bool)

    def keep_boxes(i: int, nb: np.ndarray, vis: np.ndarray) -> None:
        visible[i] = visible[i] * vis
        keep = (visible[i] >= min_visibility) & (nb[:, 2] - nb[:, 0] >= 1) & (nb[:, 3] - nb[:, 1] >= 1)
        boxes[i], visible[i] = nb[keep], visible[i][keep]
        labels[i] = [lb for lb, k in zip(labels[i], keep, strict=True) if k]

    def put(t: torch.Tensor, sel: np.ndarray, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        if len(sel) == n:  # all of them: no gather/scatter copies
            return fn(t)
        idx = torch.as_tensor(sel, device=t.device)
        t[idx] = fn(t[idx])
        return t

    def flush(among: np.ndarray) -> None:
        """Resample the samples in `among` that have matrix ops pending (one warp per run)."""
        nonlocal x, mk
        sel = np.flatnonzero(moved & among)
        if not len(sel):
            return
        grid = _grid(x[:len(sel)], np.linalg.inv(pending[sel]))  # one grid for pixels and masks
        x = put(x, sel, lambda t: _sample(t, grid, "bilinear"))
        on = has_mask[sel]
        if on.any():
            mgrid = grid if on.all() else grid[torch.as_tensor(np.flatnonzero(on), device=grid.device)]
            mk = put(mk, sel[on], lambda t: _sample(t, mgrid, "nearest"))
        for i in sel:
            keep_boxes(i, *transform_boxes(boxes[i], pending[i], ww, hh))
            kps[i] = transform_keypoints(kps[i], pending[i], ww, hh)
        pending[sel] = np.eye(3)
        moved[sel] = False

    def elastic(sel: np.ndarray, ds: list[dict[str, Any]]) -> None:
        nonlocal x, mk
        fields = [elastic_field(d, ww, hh) for d in ds]
        grid = _elastic_grid(x, fields)
        x = put(x, sel, lambda t: _sample(t, grid, "bilinear"))
        on = has_mask[sel]
        if on.any():
            mgrid = grid[torch.as_tensor(np.flatnonzero(on), device=grid.device)]
            mk = put(mk, sel[on], lambda t: _sample(t, mgrid, "nearest"))
        for i, f in zip(sel, fields, strict=True):
            keep_boxes(i, *elastic_boxes(boxes[i], f, ww, hh))
            if len(kps[i]):
                qx, qy = elastic_points(f, kps[i][:, 0], kps[i][:, 1])
                kps[i] = keep_inside(np.stack([qx, qy, kps[i][:, 2]], 1), ww, hh)

    def mix(sel: np.ndarray, ds: list[dict[str, Any]], name: str) -> None:
        """mixup / cutmix with each sample's partner, resized to this batch's size."""
        nonlocal x, mk
        resized = [_resized_partner(partners[d["partner"]], hh, ww) for d in ds]
        other = torch.stack([r[0] for r in resized]).to(x.device)
        if name == "mixup":
            lam = _per_sample(x, [d["lam"] for d in ds])
            x = put(x, sel, lambda t: lam * t + (1.0 - lam) * other)
        else:
            xs = torch.arange(ww, device=x.device).view(1, 1, ww)
            ys = torch.arange(hh, device=x.device).view(1, hh, 1)
            rect = torch.tensor([d["rect"] for d in ds], device=x.device).view(-1, 4, 1, 1)
            inside = ((xs >= rect[:, 0]) & (xs < rect[:, 2]) & (ys >= rect[:, 1]) & (ys < rect[:, 3])).unsqueeze(1)
            x = put(x, sel, lambda t: torch.where(inside, other, t))
        for i, d, (_, pb, pl, pm) in zip(sel, ds, resized, strict=True):
            n_own = len(boxes[i])
            if name == "mixup":
                vis = np.ones(n_own + len(pb))
                pbox = pb
                if has_mask[i] and d["lam"] < 0.5:  # the mask of the image that weighs more
                    mk[i, 0] = torch.from_numpy(pm if pm is not None else np.zeros((hh, ww), np.uint8)).to(mk.device)
            else:
                r0, r1, r2, r3 = d["rect"]
                ob = boxes[i]
                area = np.maximum((ob[:, 2] - ob[:, 0]) * (ob[:, 3] - ob[:, 1]), 1e-12)
                ix = np.maximum(np.minimum(ob[:, 2], r2) - np.maximum(ob[:, 0], r0), 0)
                iy = np.maximum(np.minimum(ob[:, 3], r3) - np.maximum(ob[:, 1], r1), 0)
                pbox = np.stack([pb[:, 0].clip(r0, r2), pb[:, 1].clip(r1, r3), pb[:, 2].clip(r0, r2),
                                 pb[:, 3].clip(r1, r3)], 1) if len(pb) else pb.reshape(0, 4)
                parea = np.maximum((pb[:, 2] - pb[:, 0]) * (pb[:, 3] - pb[:, 1]), 1e-12)
                pvis = (pbox[:, 2] - pbox[:, 0]) * (pbox[:, 3] - pbox[:, 1]) / parea
                vis = np.concatenate([1 - ix * iy / area, pvis])
                if has_mask[i]:
                    patch = pm if pm is not None else np.zeros((hh, ww), np.uint8)
                    mk[i, 0, r1:r3, r0:r2] = torch.from_numpy(patch[r1:r3, r0:r2].copy()).float().to(mk.device)
                kp = kps[i]
                under = (kp[:, 0] >= r0) & (kp[:, 0] < r2) & (kp[:, 1] >= r1) & (kp[:, 1] < r3)
                kp[under] = 0.0
            boxes[i] = np.vstack([boxes[i], pbox])
            labels[i] = labels[i] + pl
            visible[i] = np.concatenate([visible[i], np.ones(len(pbox))])
            keep_boxes(i, boxes[i], vis)

    for k in range(len(drawn[0]) if n else 0):
        slot = [dr[k] for dr in drawn]
        names = sorted({d["op"] for d in slot if d is not None} - {"identity"})
        for name in names:
            sel = np.array([i for i, d in enumerate(slot) if d is not None and d["op"] == name])
            ds = [slot[i] for i in sel]
            if name in MATRIX_OPS:
                for i, d in zip(sel, ds, strict=True):
                    pending[i] = matrix(d, ww, hh) @ pending[i]
                    moved[i] = True
                continue
            # pixel ops and elastic need the pending geometry of these samples applied first
            among = np.zeros(n, dtype=bool)
            among[sel] = True
            flush(among)
            if name == "elastic":
                elastic(sel, ds)
            elif name in MIXING_OPS:
                mix(sel, ds, name)
            else:
                x = put(x, sel, lambda t, name=name, ds=ds: _PIXEL_OPS[name](t, ds))
    flush(np.ones(n, dtype=bool))
    out = x.round_().clamp_(0, 255).to(torch.uint8)
    out_masks: list[np.ndarray | None] = [None] * n
    if mk is not None:
        arr = mk.squeeze(1).round().to(torch.uint8).cpu().numpy()
        out_masks = [arr[i] if has_mask[i] else None for i in range(n)]
    return Applied(out, [b.astype(np.float32) for b in boxes], labels, out_masks, kps)


def _resized_partner(p: Partner, hh: int, ww: int) -> tuple[torch.Tensor, np.ndarray, list[str], np.ndarray | None]:
    """A partner's pixels (float [3, H, W]), boxes, box labels and mask at this batch's size
    (bilinear; the mask nearest), on the host: the same on CPU and CUDA."""
    import torch
    import torch.nn.functional as F

    ph, pw = p.pixels.shape[:2]
    t = torch.from_numpy(np.array(p.pixels)).permute(2, 0, 1).float()  # a copy: decoded arrays are read-only
    boxes = np.asarray(p.boxes, dtype=np.float64).reshape(-1, 4)
    mask = p.mask
    if (ph, pw) != (hh, ww):
        t = F.interpolate(t[None], size=(hh, ww), mode="bilinear", align_corners=False)[0]
        boxes = boxes * np.array([ww / pw, hh / ph, ww / pw, hh / ph])
        if mask is not None:
            m = F.interpolate(torch.from_numpy(mask.astype(np.float32))[None, None], size=(hh, ww), mode="nearest")
            mask = m[0, 0].to(torch.uint8).numpy()
    return t, boxes, list(p.box_labels), mask


def resolve_partners(drawn: list[list[dict[str, Any] | None]], keys: list[str], pool: list[Partner] | None
                     ) -> int:
    """Turn each mixing op's uniform `pick` into a partner: another image of the pool (by source
    key, in pool order). A mixing op with no other image to mix with does not fire. Returns how
    many did not."""
    unfired = 0
    for key, dr in zip(keys, drawn, strict=True):
        for k, d in enumerate(dr):
            if d is None or d["op"] not in MIXING_OPS or "pick" not in d:
                continue
            others = [p.key for p in pool or [] if p.key != key]
            if not others:
                dr[k] = None
                unfired += 1
                continue
            d["partner"] = others[int(d.pop("pick") * len(others))]
    return unfired


def device() -> str:
    """CUDA when present, CPU otherwise: the same code runs on both."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run_policy(batch: ImageBatch, params: ImagePolicyParams, ctx: AugmentContext) -> ImageBatch:
    """The `image_policy` method: draw per sample (from its own generator), apply batched."""
    from augment_jobs.image.batch import ImageBatch

    _, _, hh, ww = batch.images.shape
    drawn, seeds = [], []
    for key, copy in zip(batch.keys, batch.copies, strict=True):
        seeds.append(derive_seed(ctx.cfg.seed, ctx.ds, ctx.step, key, copy))
        drawn.append(draw(params.ops, ctx.rng(key, copy), ww, hh))
    unfired = resolve_partners(drawn, list(batch.keys), batch.pool)
    if unfired:
        ctx.notes.append(f"{unfired} mixing ops did not fire: no other image in the block to mix with")
    imgs = batch.images.to(device(), non_blocking=True)
    out = apply(imgs, batch.boxes, batch.box_labels, drawn, params.min_box_visibility, batch.masks, batch.keypoints,
                {p.key: p for p in batch.pool or []})
    recorded = [{"step": ctx.step, "copy": c, "ops": [d for d in dr if d is not None]}
                for c, dr in zip(batch.copies, drawn, strict=True)]
    return ImageBatch(images=out.images.cpu(), boxes=out.boxes, box_labels=out.box_labels, keys=list(batch.keys),
                      copies=list(batch.copies), params=recorded, seeds=seeds, masks=out.masks,
                      keypoints=out.keypoints)
