"""The image codecs and the gate's per-image figures, on scikit-image's photos: JPEG through
libjpeg-turbo gives PIL's pixels (and PIL keeps what libjpeg-turbo refuses), encoding is
deterministic, a source mask publishes as it is, and the figures read from channel planes equal
their definitions on interleaved pixels."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from image_helpers import image_cfg, make_plan, run_all, write_source

from augment_jobs.image.io import RawSample, Rejected, decode, decode_rgb, encode
from augment_jobs.image.meta import class_ids, pixel_figures
from augment_jobs.store import join

skdata = pytest.importorskip("skimage.data")
Image = pytest.importorskip("PIL.Image")

PHOTOS = ["astronaut", "camera", "coffee", "chelsea", "coins", "rocket"]


def saved(arr: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    (arr if isinstance(arr, Image.Image) else Image.fromarray(arr)).save(buf, format=fmt, **kw)
    return buf.getvalue()


def raw(data: bytes, name: str = "a.jpg") -> RawSample:
    return RawSample(source_key=name, source_uri=f"mem://{name}", ext=name.rsplit(".", 1)[1], label="x", boxes=[],
                     box_labels=[], data=data)


def pil_rgb(data: bytes) -> np.ndarray:
    from PIL import ImageOps

    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_decodes_to_pils_pixels(name: str, progressive: bool) -> None:
    data = saved(getattr(skdata, name)(), "JPEG", quality=90, progressive=progressive)
    want = pil_rgb(data)
    got = decode(raw(data))
    assert got.pixels.shape == want.shape and got.pixels.dtype == np.uint8
    np.testing.assert_array_equal(got.pixels, want)
    assert got.passthrough and got.raw.data == data
    np.testing.assert_array_equal(decode_rgb(data), want)


def test_jpegs_libjpeg_turbo_refuses_go_through_pil() -> None:
    photo = skdata.astronaut()
    cmyk = saved(Image.fromarray(photo).convert("CMYK"), "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the pixels are turned, the bytes re-encoded
    rotated = saved(photo, "JPEG", quality=90, exif=exif.tobytes())
    for data in (cmyk, rotated):
        got = decode(raw(data))
        np.testing.assert_array_equal(got.pixels, pil_rgb(data))
        assert not got.passthrough
    assert decode(raw(rotated)).pixels.shape == (512, 512, 3)
    # a JPEG cut in half: rejected by key with PIL's reason, as before
    with pytest.raises(Rejected, match="corrupt or truncated image"):
        decode(raw(cmyk[: len(cmyk) // 2]))
    with pytest.raises(Rejected, match="corrupt or truncated image"):
        decode(raw(rotated[: len(rotated) // 2]))


def test_jpeg_encoding_is_deterministic_and_faithful() -> None:
    photo = skdata.coffee()
    a, b = encode(photo, "jpg", 95), encode(photo.copy(), "jpg", 95)
    assert a == b and a[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(a)).info.get("progressive") is None  # baseline

    def psnr(b: bytes) -> float:
        back = np.asarray(Image.open(io.BytesIO(b))).astype(float)
        return float(10 * np.log10(255 ** 2 / np.mean((back - photo) ** 2)))

    # as faithful as PIL's own encoder at the same quality (both libjpeg-turbo at 4:2:0; 37.3 vs 37.5 dB)
    assert psnr(a) == pytest.approx(psnr(saved(photo, "JPEG", quality=95)), abs=0.25)
    assert len(encode(photo, "jpg", 50)) < len(a) / 2  # the quality is honoured
    # a non-contiguous view encodes as its pixels
    assert encode(photo[:, ::-1], "jpg", 95) == encode(np.ascontiguousarray(photo[:, ::-1]), "jpg", 95)


@pytest.mark.parametrize("mask", [
    np.zeros((20, 30), np.uint8), np.full((20, 30), 3, np.uint8), np.arange(600, dtype=np.uint8).reshape(20, 30),
    (skdata.coins() > 110).astype(np.uint8), np.where(skdata.camera() > 128, 15, 4).astype(np.uint8),
    np.zeros((0, 5), np.uint8),
], ids=["zeros", "one-class-no-background", "600-values", "coins", "15-and-4", "empty"])
def test_class_ids_are_the_values_present(mask: np.ndarray) -> None:
    assert class_ids(mask) == np.unique(mask).tolist()


def reference_figures(px: np.ndarray) -> dict:
    """The figures' definitions on H x W x 3 pixels (what the planes version must equal)."""
    g = px.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    sub = px[::2, ::2].astype(np.float32)
    clipped = (px == 0).all(axis=2) | (px == 255).all(axis=2)
    return {"pixel_mean": float(sub.mean()), "pixel_std": float(sub.std()), "pixel_min": int(px.min()),
            "pixel_max": int(px.max()), "clip_share": float(clipped.mean()),
            "sharpness": float(lap.var()) if min(g.shape) >= 3 else 0.0}


def test_figures_from_planes_equal_their_definitions() -> None:
    rng = np.random.default_rng(0)
    cases = [np.asarray(Image.fromarray(getattr(skdata, n)()).convert("RGB")) for n in PHOTOS]
    burnt = np.full((40, 60, 3), 128, np.uint8)
    burnt[:10] = 255  # white sky
    burnt[-10:, :, :2] = 0  # two channels at 0: not black
    burnt[-4:] = 0  # black
    burnt[20, 5] = (255, 255, 254)  # nor is nearly white
    cases += [burnt, rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), np.zeros((2, 2, 3), np.uint8)]
    for px in cases:
        got = pixel_figures(np.ascontiguousarray(px.transpose(2, 0, 1)))
        want = reference_figures(px)
        assert got["mask_classes"] is None
        for k, v in want.items():
            assert got[k] == pytest.approx(v, rel=1e-5, abs=1e-6), (k, px.shape)
    assert pixel_figures(np.ascontiguousarray(burnt.transpose(2, 0, 1)))["clip_share"] == pytest.approx(
        (10 + 4) / 40)
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0] = 7
    assert json.loads(pixel_figures(np.zeros((3, 4, 4), np.uint8), mask)["mask_classes"]) == [0, 7]


def published_masks(tmp_path: Path, masks: dict[str, bytes]) -> dict[str, bytes]:
    photo = skdata.chelsea()[::4, ::4].copy()
    data = {"cat.jpg": saved(photo, "JPEG", quality=90), **masks}
    items = [{"file": "cat.jpg", "label": "cat", "mask": name} for name in masks][:1]
    cfg = image_cfg(write_source(tmp_path / "src", items, data), tmp_path,
                    params={"copies_per_image": 1, "ops": [{"op": "hflip", "p": 1.0}]})
    plan = make_plan(cfg, tmp_path)
    out = {}
    for r in run_all(cfg, plan):
        for f in r.files:
            with tarfile.open(join(plan.data_uri, f["path"])) as tf:
                for m in tf.getmembers():
                    if m.name.endswith(".mask.png"):
                        out[m.name.split(".")[0]] = tf.extractfile(m).read()
    return out


def test_a_source_mask_publishes_as_it_is(tmp_path: Path) -> None:
    ids = np.zeros((75, 113), np.uint8)
    ids[10:50, 20:80] = 3
    src = saved(ids, "PNG", optimize=True)  # bytes our encoder would not write
    got = published_masks(tmp_path, {"m.png": src})
    original = next(v for k, v in got.items() if "-a" not in k)
    copy = next(v for k, v in got.items() if "-a" in k)
    assert original == src
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(copy))), ids[:, ::-1])


def test_a_palette_mask_publishes_as_greyscale_ids(tmp_path: Path) -> None:
    ids = np.zeros((75, 113), np.uint8)
    ids[10:50, 20:80] = 2
    pal = Image.fromarray(ids).convert("P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    got = published_masks(tmp_path, {"m.png": saved(pal, "PNG")})
    for v in got.values():
        im = Image.open(io.BytesIO(v))
        assert im.mode == "L" and set(np.unique(np.asarray(im)).tolist()) == {0, 2}


def test_online_batches_leave_workers_as_one_block_of_boxes() -> None:
    import torch

    from augment_jobs.image.online import OnlineAugment
    from augment_jobs.image.torch_data import TensorViews

    aug = OnlineAugment({"ops": [{"op": "affine", "p": 1.0, "rotate": [-20, 20]}], "min_box_visibility": 0.0})
    images = torch.from_numpy(np.ascontiguousarray(skdata.astronaut()[::8, ::8].transpose(2, 0, 1)))
    batch = {"__key__": ["a", "b", "c"], "image": torch.stack([images] * 3),
             "boxes": TensorViews([torch.tensor([[4.0, 4.0, 40.0, 40.0]]), torch.zeros((0, 4)),
                                   torch.tensor([[1.0, 2.0, 30.0, 20.0], [10.0, 10.0, 60.0, 60.0]])]),
             "box_labels": [["face"], [], ["x", "y"]]}
    out = aug(batch, epoch=1)
    assert isinstance(out["boxes"], TensorViews) and [len(b) for b in out["boxes"]] == [1, 0, 2]
    back = pickle.loads(pickle.dumps(out["boxes"]))
    assert all(torch.equal(x, y) for x, y in zip(back, out["boxes"], strict=True))
    assert not torch.equal(out["boxes"][0], batch["boxes"][0])  # moved by the rotation
