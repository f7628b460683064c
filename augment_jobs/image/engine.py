"""The batched augmentation engine: draw per-sample parameters, then apply them op by op.

Drawing is separate from applying: `draw(ops, rng, w, h)` returns plain dicts (recorded in each
sample's json as `params`) and `apply(...)` replays them, so a recorded sample can be re-made.
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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from augment_jobs.image import GEOMETRIC_OPS, ImagePolicyParams
from augment_jobs.rng import derive_seed

if TYPE_CHECKING:
    import torch

    from augment_jobs.image.batch import ImageBatch
    from augment_jobs.registry import AugmentContext

GRAY = (0.299, 0.587, 0.114)


def _r(v: float) -> float:
    return float(round(float(v), 4))


# --- drawing -----------------------------------------------------------------------------------
def draw(ops: Sequence[Any], rng: np.random.Generator, w: int, h: int) -> list[dict[str, Any] | None]:
    """Draw one sample's parameters: a list aligned with `ops`, None where the op does not fire."""
    out: list[dict[str, Any] | None] = []
    for op in ops:
        fires = rng.random() < op.p
        if not fires:
            out.append(None)
            continue
        name = op.op
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
        elif name == "color_jitter":
            d.update(
                brightness=_r(rng.uniform(1 - op.brightness, 1 + op.brightness)),
                contrast=_r(rng.uniform(1 - op.contrast, 1 + op.contrast)),
                saturation=_r(rng.uniform(1 - op.saturation, 1 + op.saturation)),
                hue=_r(rng.uniform(-op.hue, op.hue)),
            )
        elif name == "gaussian_noise":
            d.update(sigma=_r(rng.uniform(*op.sigma)), seed=int(rng.integers(2**31 - 1)))
        elif name == "gaussian_blur":
            d.update(sigma=_r(rng.uniform(*op.sigma)))
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
    raise ValueError(f"{name} is not a geometric op")


# --- boxes -------------------------------------------------------------------------------------
def transform_boxes(boxes: np.ndarray, m: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Map boxes through `m`: corners mapped, enclosing box, clipped to the image.

    Returns (boxes, visible): `visible` is the clipped area over the unclipped enclosing area.
    """
    if len(boxes) == 0:
        return boxes.reshape(0, 4), np.ones(0)
    x1, y1, x2, y2 = boxes.T
    xs = np.stack([x1, x2, x2, x1], 1)
    ys = np.stack([y1, y1, y2, y2], 1)
    tx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    ty = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    enc = np.stack([tx.min(1), ty.min(1), tx.max(1), ty.max(1)], 1)
    clip = np.stack([enc[:, 0].clip(0, w), enc[:, 1].clip(0, h), enc[:, 2].clip(0, w), enc[:, 3].clip(0, h)], 1)
    area = (enc[:, 2] - enc[:, 0]) * (enc[:, 3] - enc[:, 1])
    carea = np.maximum(clip[:, 2] - clip[:, 0], 0) * np.maximum(clip[:, 3] - clip[:, 1], 0)
    return clip, np.where(area > 0, carea / np.maximum(area, 1e-12), 0.0)


# --- applying ----------------------------------------------------------------------------------
def _warp(x: torch.Tensor, inv: np.ndarray) -> torch.Tensor:
    """Resample x [n, C, H, W] at inv @ (output pixel centre): one grid_sample for the batch."""
    import torch
    import torch.nn.functional as F

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
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


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

    # out[c] = sum_k a[c, k] * x[k] + bias[c]: a broadcast multiply, then a sum over k (3 terms,
    # a non-contiguous dim: fixed order) - no matmul, whose kernel choice depends on the batch
    prod = at.view(n, 3, 3, 1, 1) * x.unsqueeze(1)
    return (prod.sum(dim=2) + bt.view(n, 3, 1, 1)).clamp_(0, 255)


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


_PIXEL_OPS = {"color_jitter": _color_jitter, "gaussian_noise": _noise, "gaussian_blur": _blur, "cutout": _cutout}


CPU_MICRO = 8  # on CPU, batches this small stay in cache: 2-3x faster than 64 at once
def apply(images: torch.Tensor, boxes: list[np.ndarray], box_labels: list[list[str]],
          drawn: list[list[dict[str, Any] | None]], ops: Sequence[Any], min_visibility: float,
          ) -> tuple[torch.Tensor, list[np.ndarray], list[list[str]]]:
    """Apply drawn params to a uint8 batch [B, 3, H, W]; one batched call per op (per run of
    geometric ops). Returns uint8 images on the same device, boxes and their labels.

    On CUDA the batch goes in whole. On CPU it is cut into micro-batches of CPU_MICRO run on a
    thread pool; every op is per sample, so the result is the same either way."""
    import torch

    from augment_jobs.samples import cpu_pool

    if images.is_cuda or len(images) <= CPU_MICRO:
        return _apply(images, boxes, box_labels, drawn, ops, min_visibility)
    step = CPU_MICRO
    parts = list(cpu_pool().map(
        lambda s: _apply(images[s:s + step], boxes[s:s + step], box_labels[s:s + step], drawn[s:s + step], ops,
                         min_visibility), range(0, len(images), step)))
    return (torch.cat([p[0] for p in parts]), [b for p in parts for b in p[1]], [lb for p in parts for lb in p[2]])


def _apply(images: torch.Tensor, boxes: list[np.ndarray], box_labels: list[list[str]],
           drawn: list[list[dict[str, Any] | None]], ops: Sequence[Any], min_visibility: float,
           ) -> tuple[torch.Tensor, list[np.ndarray], list[list[str]]]:
    import torch

    n, _, hh, ww = images.shape
    x = images.float()  # 0..255 scale: saves a pass
    boxes = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in boxes]
    labels = [list(bl) for bl in box_labels]
    visible = [np.ones(len(b)) for b in boxes]
    pending = np.tile(np.eye(3), (n, 1, 1))
    moved = np.zeros(n, dtype=bool)

    def flush() -> None:
        nonlocal x
        if not moved.any():
            return
        sel = np.flatnonzero(moved)
        if len(sel) == n:  # all moved: no gather/scatter copies
            x = _warp(x, np.linalg.inv(pending))
        else:
            idx = torch.as_tensor(sel, device=x.device)
            x[idx] = _warp(x[idx], np.linalg.inv(pending[sel]))
        for i in sel:
            nb, vis = transform_boxes(boxes[i], pending[i], ww, hh)
            visible[i] = visible[i] * vis
            keep = (visible[i] >= min_visibility) & (nb[:, 2] - nb[:, 0] >= 1) & (nb[:, 3] - nb[:, 1] >= 1)
            boxes[i], visible[i] = nb[keep], visible[i][keep]
            labels[i] = [lb for lb, k in zip(labels[i], keep, strict=True) if k]
        pending[:] = np.eye(3)
        moved[:] = False

    for k, op in enumerate(ops):
        sel = [i for i in range(n) if drawn[i][k] is not None]
        if op.op in GEOMETRIC_OPS:
            for i in sel:
                pending[i] = matrix(drawn[i][k], ww, hh) @ pending[i]
                moved[i] = True
            continue
        flush()
        if len(sel) == n:
            x = _PIXEL_OPS[op.op](x, [drawn[i][k] for i in sel])
        elif sel:
            idx = torch.as_tensor(sel, device=x.device)
            x[idx] = _PIXEL_OPS[op.op](x[idx], [drawn[i][k] for i in sel])
    flush()
    out = x.round_().clamp_(0, 255).to(torch.uint8)
    return out, [b.astype(np.float32) for b in boxes], labels


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
    imgs = batch.images.to(device(), non_blocking=True)
    out, boxes, labels = apply(imgs, batch.boxes, batch.box_labels, drawn, params.ops, params.min_box_visibility)
    recorded = [{"step": ctx.step, "copy": c, "ops": [d for d in dr if d is not None]}
                for c, dr in zip(batch.copies, drawn, strict=True)]
    return ImageBatch(images=out.cpu(), boxes=boxes, box_labels=labels, keys=list(batch.keys),
                      copies=list(batch.copies), params=recorded, seeds=seeds)
