"""CUDA output equals CPU output for every registered op and target, within stated tolerances,
and batched nvJPEG decode agrees with PIL. Skipped without CUDA (run by benchmarks/gpu_check.sh).

Tolerances (uint8 levels): pixels of geometric ops may differ by 1 level on a share of pixels
(grid_sample's float rounding differs between CPU and CUDA kernels), colour and blur ops by 1 level
anywhere; boxes and keypoints are computed on the host (identical); masks (nearest) agree on all
but a sliver of pixels on object edges where a sample point falls within float epsilon of a pixel
boundary.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from augment_jobs.image import ImagePolicyParams, op_kinds
from augment_jobs.image.batch import Partner
from augment_jobs.image.engine import apply, draw, resolve_partners

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

W, H, N = 96, 80, 16
CASES = {
    "hflip": {}, "vflip": {}, "affine": {"rotate": [-30, 30], "scale": [0.8, 1.2], "translate": [0.1, 0.1]},
    "resized_crop": {"scale": [0.5, 1.0]}, "perspective": {"distortion": 0.4}, "elastic": {},
    "color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.05}, "grayscale": {},
    "posterize": {"bits": [2, 5]}, "solarize": {}, "equalize": {}, "sharpness": {},
    "gaussian_noise": {"sigma": [0.01, 0.05]}, "gaussian_blur": {"sigma": [0.5, 2.0]},
    "cutout": {"holes": 2}, "mixup": {}, "cutmix": {}, "randaugment": {"num_ops": 3}, "trivialaugment": {},
}
MAX_DIFF_LEVELS = 1  # per pixel, uint8 levels
MAX_DIFF_SHARE = 0.02  # share of pixel values that may differ at all (geometric resampling)
MAX_MASK_DIFF_SHARE = 0.002


def batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    imgs = torch.from_numpy(rng.integers(0, 256, (N, 3, H, W), dtype=np.uint8))
    boxes = [np.array([[10.0, 10, 50, 40]]) for _ in range(N)]
    masks = [np.pad(np.full((30, 40), 2, np.uint8), ((10, H - 40), (10, W - 50))) for _ in range(N)]
    kps = [np.array([[20.0, 20, 2], [60, 50, 2]]) for _ in range(N)]
    partner = Partner("p", "b", rng.integers(0, 256, (H, W, 3), dtype=np.uint8), np.array([[5.0, 5, 30, 30]]),
                      ["b"], masks[0])
    return imgs, boxes, masks, kps, partner


def test_every_op_has_a_case() -> None:
    assert set(op_kinds()) == set(CASES)


@pytest.mark.parametrize("op", sorted(CASES))
def test_cuda_equals_cpu(op: str) -> None:
    params = ImagePolicyParams(ops=[{"op": op, "p": 1.0, **CASES[op]}], min_box_visibility=0.0)
    imgs, boxes, masks, kps, partner = batch()
    drawn = [draw(params.ops, np.random.default_rng(i), W, H) for i in range(N)]
    resolve_partners(drawn, [f"k{i}" for i in range(N)], [partner])
    args = (boxes, [["a"]] * N, drawn, 0.0, masks, kps, {"p": partner})
    cpu = apply(imgs, *args)
    gpu = apply(imgs.cuda(), *args)
    diff = (gpu.images.cpu().int() - cpu.images.int()).abs()
    assert diff.max() <= MAX_DIFF_LEVELS, (op, int(diff.max()))
    assert (diff > 0).float().mean() <= MAX_DIFF_SHARE, (op, float((diff > 0).float().mean()))
    for a, b in zip(cpu.boxes, gpu.boxes, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(cpu.keypoints, gpu.keypoints, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(cpu.masks, gpu.masks, strict=True):
        assert (a != b).mean() <= MAX_MASK_DIFF_SHARE, op


def test_nvjpeg_batched_decode_matches_pil() -> None:
    tv_io = pytest.importorskip("torchvision.io")
    from PIL import Image

    rng = np.random.default_rng(0)
    datas, refs = [], []
    for _ in range(8):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=92)
        datas.append(torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8))
        refs.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).transpose(2, 0, 1))
    out = tv_io.decode_jpeg(datas, device="cuda")
    for got, ref in zip(out, refs, strict=True):
        # libjpeg-turbo and nvJPEG use different IDCTs: a few levels apart, never more
        assert (got.cpu().int() - torch.from_numpy(ref).int()).abs().float().mean() < 2.0


def test_online_augment_on_cuda_equals_the_workers_cpu_output(tmp_path_factory) -> None:
    """`torch(augment=..., augment_on="cuda")`: batches augmented on the GPU in `loader()` equal
    the CPU output of the DataLoader workers within the tolerances above."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "image"))
    import test_image_online as online

    from augment_jobs.reader import open_dataset

    uri = online.published.__wrapped__(tmp_path_factory)  # the fixture's body: a version without copies
    ds = open_dataset(uri)
    cpu = online.by_key(ds.torch(batch_size=4, augment=online.POLICY, seed=3).loader(num_workers=2))
    gpu = online.by_key(ds.torch(batch_size=4, augment=online.POLICY, seed=3, augment_on="cuda").loader(num_workers=2))
    assert set(cpu) == set(gpu)
    for k in cpu:
        assert gpu[k]["image"].is_cuda
        diff = (gpu[k]["image"].cpu().int() - cpu[k]["image"].int()).abs()
        assert diff.max() <= MAX_DIFF_LEVELS + 1 and (diff > 0).float().mean() <= MAX_DIFF_SHARE * 2, k
        assert gpu[k]["augment_params"] == cpu[k]["augment_params"]
