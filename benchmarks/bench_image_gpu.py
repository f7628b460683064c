"""Image engine on the GPU: images/s at 224² and 512², batch 256, augmentation alone and end to end
(batched nvJPEG decode → augment → nvJPEG encode), with the same run on the CPU side by side.

    python benchmarks/bench_image_gpu.py [--batch 256] [--batches 8] [--sizes 224 512]
    BENCH_TINY=1 python benchmarks/bench_image_gpu.py   # smoke test: batch 8, 1 batch, 64² (CPU is fine)

Goal (issue 21): >= 20,000 images/s of augmentation at 224² on an H100/H200. Without CUDA it
runs the CPU path only and says so. Decode and encode on CUDA need torchvision (the build that
matches the installed torch); without it, PIL on the host is used and the line says so.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

POLICY = [
    {"op": "hflip", "p": 0.5},
    {"op": "affine", "p": 1.0, "rotate": [-15, 15], "scale": [0.9, 1.1], "translate": [0.05, 0.05]},
    {"op": "color_jitter", "p": 1.0, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.02},
    {"op": "gaussian_blur", "p": 0.3, "sigma": [0.1, 1.5]},
    {"op": "cutout", "p": 0.3, "holes": 1, "size": [0.1, 0.2]},
]
GOAL_224 = 20_000.0


def photos(n: int, size: int) -> list[bytes]:
    """JPEGs of scikit-image's photos (synthetic textures when it is not installed), size x size."""
    from PIL import Image

    try:
        import skimage.data as d

        base = [d.astronaut(), d.coffee(), d.chelsea(), d.rocket()]
    except ImportError:
        rng = np.random.default_rng(0)
        base = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8)]
    out = []
    for i in range(n):
        im = Image.fromarray(base[i % len(base)]).resize((size, size))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=92)
        out.append(buf.getvalue())
    return out


def timed(fn, repeat: int) -> float:
    import torch

    fn()  # warm-up (CUDA context, kernels, thread pool)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeat


def run(size: int, batch: int, batches: int, dev: str) -> dict[str, float]:
    import torch

    from augment_jobs.image import ImagePolicyParams
    from augment_jobs.image.engine import apply, draw

    params = ImagePolicyParams(ops=POLICY)
    jpegs = photos(batch, size)
    try:
        import torchvision.io as tv_io
    except ImportError:
        tv_io = None
    gpu_codec = dev == "cuda" and tv_io is not None

    def decode() -> torch.Tensor:
        if gpu_codec:
            return torch.stack(tv_io.decode_jpeg([torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in jpegs],
                                                 device="cuda"))
        from PIL import Image

        arr = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in jpegs])
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous().to(dev)

    def encode(x: torch.Tensor) -> list[bytes]:
        if gpu_codec:
            return [t.cpu().numpy().tobytes() for t in tv_io.encode_jpeg(list(x), quality=95)]
        from PIL import Image

        out = []
        for a in x.permute(0, 2, 3, 1).cpu().numpy():
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, format="JPEG", quality=95)
            out.append(buf.getvalue())
        return out

    images = decode()
    boxes = [np.array([[20.0, 20, size / 2, size / 2]])] * batch
    labels = [["a"]] * batch
    counter = iter(range(10**9))

    def augment(x: torch.Tensor) -> torch.Tensor:
        k = next(counter)  # a new draw every call: per-sample parameters, as a run makes them
        drawn = [draw(params.ops, np.random.default_rng((k, i)), size, size) for i in range(batch)]
        return apply(x, boxes, labels, drawn, 0.3).images

    aug_s = timed(lambda: augment(images), batches)
    e2e_s = timed(lambda: encode(augment(decode())), max(1, batches // 2))
    return {"augment": batch / aug_s, "end_to_end": batch / e2e_s, "gpu_codec": float(gpu_codec)}


def main() -> None:
    import torch

    tiny = os.environ.get("BENCH_TINY") == "1"
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8 if tiny else 256)
    ap.add_argument("--batches", type=int, default=1 if tiny else 8)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64] if tiny else [224, 512])
    args = ap.parse_args()
    devices = ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]
    if "cuda" not in devices:
        print("no CUDA device: CPU only (the GPU figures need a device; see benchmarks/gpu_check.sh)")
    else:
        print(f"device: {torch.cuda.get_device_name(0)}")
    results = {}
    for size in args.sizes:
        for dev in devices:
            r = run(size, args.batch, args.batches if dev == "cuda" else max(1, args.batches // 4), dev)
            results[(size, dev)] = r
            codec = "nvJPEG" if r["gpu_codec"] else "PIL"
            print(f"{size}x{size} batch {args.batch} {dev:4s}  augment {r['augment']:10.1f} img/s   "
                  f"end to end ({codec}) {r['end_to_end']:9.1f} img/s", flush=True)
        if "cuda" in devices:
            g, c = results[(size, "cuda")], results[(size, "cpu")]
            print(f"  ratio cuda / cpu: augment {g['augment'] / c['augment']:.1f}x, "
                  f"end to end {g['end_to_end'] / c['end_to_end']:.1f}x")
            if size == 224:
                print(f"  vs the goal of {GOAL_224:.0f} img/s: {g['augment'] / GOAL_224:.2f}x")


if __name__ == "__main__":
    main()
