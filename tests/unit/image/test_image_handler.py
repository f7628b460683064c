"""ImageHandler on a tmp local folder: staged tars, metadata, checks, determinism, bad inputs."""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from image_helpers import image_cfg, jpeg, make_plan, run_all, small_source, write_source

from augment_jobs.checks import GateInput
from augment_jobs.contract import FileEntry, Manifest
from augment_jobs.errors import ConfigError, InputError
from augment_jobs.image.handler import ImageHandler
from augment_jobs.registry import modality_spec
from augment_jobs.store import join


def tar_bytes(plan, results) -> list[bytes]:
    return [Path(join(plan.data_uri, f["path"])).read_bytes() for r in results for f in r.files]


def samples(plan, results) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    for r in results:
        for f in r.files:
            with tarfile.open(join(plan.data_uri, f["path"])) as tf:
                for m in tf.getmembers():
                    key, _, ext = m.name.partition(".")
                    out.setdefault(key, {})[ext] = tf.extractfile(m).read()
    return out


def test_shard_output_meta_counts_and_checks(tmp_path: Path) -> None:
    cfg = image_cfg(small_source(tmp_path / "src"), tmp_path, max_samples=7)
    plan = make_plan(cfg, tmp_path)
    h = ImageHandler()
    results = run_all(cfg, plan)
    r = results[0]
    # 10 originals (2 rare) + 8 common copies + 2*3 rare copies = 24 samples, 7 per tar
    assert [f["rows"] for f in r.files] == [7, 7, 7, 3]
    assert r.counts == {"common": {"before": 8, "after": 16, "synthetic": 8},
                        "rare": {"before": 2, "after": 8, "synthetic": 6}}
    assert set(r.metrics) >= {"samples_per_s", "decode_s", "augment_s", "encode_s"}
    assert "/data/" not in r.extra["meta"] and r.extra["meta"].startswith(plan.staging_uri)
    s = samples(plan, results)
    assert len(s) == 24
    for key, parts in s.items():
        assert "." not in key and set(parts) == {"jpg", "json"}
        rec = json.loads(parts["json"])
        assert {"label", "boxes", "box_labels", "source_key", "synthetic", "method", "params", "seed"} <= set(rec)
        if rec["synthetic"]:
            assert rec["method"] == "image_policy" and isinstance(rec["params"]["ops"], list)
            assert isinstance(rec["seed"], int)
    frame = h.gate_frame(cfg, plan, results)
    assert len(frame) == 24 and frame["key"].is_unique
    assert frame["synthetic"].sum() == 14
    checks = {c.name: c for c in image_checks(cfg, plan, results, frame)}
    assert all(c.passed for c in checks.values()), checks
    grid = h.artifacts(cfg, plan, results, str(tmp_path / "art"))
    assert len(grid) == 1 and Path(grid[0]).stat().st_size > 0


def test_stock_webdataset_reads_the_tars(tmp_path: Path) -> None:
    import webdataset as wds

    cfg = image_cfg(small_source(tmp_path / "src", n=5), tmp_path, max_samples=4)
    plan = make_plan(cfg, tmp_path)
    results = run_all(cfg, plan)
    urls = [join(plan.data_uri, f["path"]) for r in results for f in r.files]
    got = list(wds.WebDataset(urls, shardshuffle=False).decode("rgb8").to_tuple("__key__", "jpg", "json"))
    assert len(got) == sum(f["rows"] for r in results for f in r.files) == 5 + 4 + 3
    assert got[0][1].shape[2] == 3 and "boxes" in got[0][2]


def test_byte_identical_whatever_batch_size_threads_and_chunk(tmp_path: Path, monkeypatch) -> None:
    import augment_jobs.image.handler as handler_mod

    src = small_source(tmp_path / "src", n=12, sizes=((64, 48), (48, 64), (40, 40)))
    cfg_a = image_cfg(src, tmp_path, params={"batch_size": 64}, max_samples=9)
    plan_a = make_plan(cfg_a, tmp_path, "a")
    a = tar_bytes(plan_a, run_all(cfg_a, plan_a))
    monkeypatch.setattr(handler_mod, "THREADS", 1)
    monkeypatch.setattr(handler_mod, "CHUNK", 5)
    cfg_b = image_cfg(src, tmp_path, params={"batch_size": 3}, max_samples=9)
    plan_b = make_plan(cfg_b, tmp_path, "b")
    b = tar_bytes(plan_b, run_all(cfg_b, plan_b))
    assert a == b and len(a) >= 2


def test_lineage_of_a_copy(tmp_path: Path) -> None:
    cfg = image_cfg(small_source(tmp_path / "src", n=3), tmp_path)
    plan = make_plan(cfg, tmp_path)
    results = run_all(cfg, plan)
    s = samples(plan, results)
    key = next(k for k, p in s.items() if json.loads(p["json"])["synthetic"])
    files = [FileEntry.model_construct(path=f["path"]) for r in results for f in r.files]
    manifest = Manifest.model_construct(files=files, seed=cfg.seed, logical_date=plan.ds)
    info = ImageHandler().lineage(manifest, plan.data_uri, key)
    assert info["source_key"].startswith("img_") and info["method"] == "image_policy"
    assert info["params"]["ops"] is not None and info["config_seed"] == 3 and info["sample_seed"]


def png16(w: int, h: int) -> bytes:
    """A 16-bit greyscale PNG written by hand (values up to 65535)."""
    rows = np.linspace(0, 65535, w * h).astype(">u2").reshape(h, w)
    raw = b"".join(b"\x00" + r.tobytes() for r in rows)

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_grayscale_rgba_and_16bit_inputs(tmp_path: Path) -> None:
    from PIL import Image

    data = {"gray.png": jpeg(40, 30, fmt="PNG", mode="L"), "rgba.png": jpeg(40, 30, fmt="PNG", mode="RGBA"),
            "g16.png": png16(40, 30), "gray.jpg": jpeg(40, 30, mode="L")}
    assert Image.open(io.BytesIO(data["g16.png"])).mode.startswith("I")
    items = [{"file": n, "label": "x", "boxes": [[1, 1, 20, 20]], "box_labels": ["x"]} for n in data]
    cfg = image_cfg(write_source(tmp_path / "src", items, data), tmp_path, params={"copies_per_image": 2})
    plan = make_plan(cfg, tmp_path)
    results = run_all(cfg, plan)
    assert not results[0].rejected and results[0].counts["x"]["after"] == 12
    for key, parts in samples(plan, results).items():
        img_ext = "jpg" if "jpg" in parts else "png"
        im = Image.open(io.BytesIO(parts[img_ext]))
        im.load()
        assert im.size == (40, 30), key
    frame = ImageHandler().gate_frame(cfg, plan, results)
    # the 16-bit gradient is scaled, not clipped to white
    g16 = frame[frame["source_key"] == "g16.png"]
    assert (g16["pixel_max"] > 200).all() and (g16["pixel_mean"] < 200).all()


def test_corrupt_and_oversized_inputs_rejected_by_key(tmp_path: Path) -> None:
    good = {f"ok{i}.jpg": jpeg(40, 30, seed=i) for i in range(6)}
    full = jpeg(64, 64, seed=9)
    truncated = full[: len(full) * 2 // 3]
    # a PNG header declaring 20000x20000: rejected from the header, nothing decoded
    bomb = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    bomb += struct.pack(">I", zlib.crc32(bomb[12:29]) & 0xFFFFFFFF)
    idat = zlib.compress(b"\x00" * 64)
    bomb += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat) & 0xFFFFFFFF)
    # 10000x12000: over the 100 Mpx limit too
    big = bomb.replace(struct.pack(">II", 20000, 20000), struct.pack(">II", 10000, 12000))
    big = big[:29] + struct.pack(">I", zlib.crc32(big[12:29]) & 0xFFFFFFFF) + big[33:]
    data = {**good, "trunc.jpg": truncated, "bomb.png": bomb, "big.png": big, "junk.jpg": b"not an image"}
    items = [{"file": n, "label": "x", "boxes": [], "box_labels": []} for n in data]
    src = write_source(tmp_path / "src", items, data)
    cfg = image_cfg(src, tmp_path, params={"copies_per_image": 1}, max_corrupt_share=0.05)
    plan = make_plan(cfg, tmp_path)
    results = run_all(cfg, plan)
    rejected = {r["key"]: r["reason"] for r in results[0].rejected}
    assert set(rejected) == {"trunc.jpg", "bomb.png", "big.png", "junk.jpg"}
    assert "not decoded" in rejected["bomb.png"] and "400000000" in rejected["bomb.png"]
    assert "not decoded" in rejected["big.png"] and "120000000" in rejected["big.png"]
    assert "truncated" in rejected["trunc.jpg"] or "corrupt" in rejected["trunc.jpg"]
    assert results[0].counts["x"] == {"before": 6, "after": 12, "synthetic": 6}
    h = ImageHandler()
    checks = {c.name: c for c in image_checks(cfg, plan, results, h.gate_frame(cfg, plan, results))}
    assert not checks["image.corrupt_share"].passed  # 4 of 10 > 5%
    assert checks["image.decodable"].passed


def test_box_outside_image_is_an_input_error(tmp_path: Path) -> None:
    data = {"a.jpg": jpeg(40, 30)}
    items = [{"file": "a.jpg", "label": "x", "boxes": [[10, 10, 50, 20]], "box_labels": ["x"]}]
    cfg = image_cfg(write_source(tmp_path / "src", items, data), tmp_path)
    plan = make_plan(cfg, tmp_path)
    with pytest.raises(InputError, match=r"a\.jpg.*\[10, 10, 50, 20\].*outside the 40x30"):
        run_all(cfg, plan)


def test_degenerate_box_is_an_input_error(tmp_path: Path) -> None:
    data = {"a.jpg": jpeg(40, 30)}
    items = [{"file": "a.jpg", "label": "x", "boxes": [[20, 5, 10, 9]], "box_labels": ["x"]}]
    cfg = image_cfg(write_source(tmp_path / "src", items, data), tmp_path)
    plan = make_plan(cfg, tmp_path)
    with pytest.raises(InputError, match=r"a\.jpg.*\[20, 5, 10, 9\].*degenerate"):
        run_all(cfg, plan)


def test_annotation_naming_a_missing_file(tmp_path: Path) -> None:
    data = {"a.jpg": jpeg(40, 30)}
    items = [{"file": "a.jpg", "label": "x"}, {"file": "missing.jpg", "label": "x"}]
    cfg = image_cfg(write_source(tmp_path / "src", items, data), tmp_path)
    with pytest.raises(InputError, match=r"annotations\.jsonl: line 2 names 'missing\.jpg'"):
        make_plan(cfg, tmp_path)


@pytest.mark.parametrize("ops, match", [
    ([{"op": "twirl", "p": 1}], "twirl"),
    ([{"op": "affine", "rotate": [-500, 15]}], r"ops\.0\.affine.*rotate"),
    ([{"op": "color_jitter", "hue": 0.9}], r"ops\.0\.color_jitter\.hue"),
    ([{"op": "cutout", "size": [0.1, 0.2], "colour": 3}], r"ops\.0\.cutout\.colour"),
    ([{"op": "hflip", "p": 1.5}], r"ops\.0\.hflip\.p"),
])
def test_bad_ops_are_config_errors(ops, match) -> None:
    from augment_jobs.image import ImagePolicyParams
    from augment_jobs.registry import MethodSpec

    spec = MethodSpec("image_policy", "image", ImagePolicyParams, lambda *a: None)
    with pytest.raises(ConfigError, match=match):
        spec.parse_params({"ops": ops})


def test_webdataset_source(tmp_path: Path) -> None:
    """A WebDataset tar as the source: one shard per tar, boxes and labels from the json member."""
    src = tmp_path / "wds"
    src.mkdir()
    for t in range(2):
        with tarfile.open(src / f"part-{t}.tar", "w") as tf:
            for i in range(3):
                for ext, b in (("jpg", jpeg(40, 30, seed=i)),
                               ("json", json.dumps({"label": "y", "boxes": [[1, 1, 9, 9]], "box_labels": ["y"]}).encode())):
                    ti = tarfile.TarInfo(f"s{t}{i}.{ext}")
                    ti.size = len(b)
                    tf.addfile(ti, io.BytesIO(b))
    cfg = image_cfg(str(src), tmp_path, fmt="webdataset", params={"copies_per_image": 1})
    plan = make_plan(cfg, tmp_path)
    assert plan.shards == [[0], [1]]
    results = run_all(cfg, plan)
    assert [r.counts["y"]["after"] for r in results] == [6, 6]
    recs = [json.loads(p["json"]) for p in samples(plan, results).values()]
    assert {r["source_key"] for r in recs} >= {"part-0/s00", "part-1/s12"}


def test_import_is_light() -> None:
    """Importing the image package (as `augment check` and DAG parsing do) loads no heavy library:
    checked by what is imported, not by a clock."""
    import subprocess
    import sys

    heavy = ("torch", "PIL", "scipy", "pandas", "pyarrow", "webdataset", "augment_jobs.image.engine")
    code = ("import sys, augment_jobs.registry; import augment_jobs.image; "
            f"print(' '.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == []


def image_checks(cfg, plan, results, frame):
    """The checks the image modality registered, as the gate runs them."""
    g = GateInput(cfg, plan, results, frame)
    return [r for check in modality_spec("image").checks for r in check(g)]


def _img(mode: str, size: tuple[int, int], fmt: str, **save: Any) -> bytes:
    from PIL import Image

    im = Image.new("RGB", size, (200, 60, 30)).convert(mode) if mode != "I;16" else Image.new("I;16", size, 40000)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **save)
    return buf.getvalue()


def test_awkward_real_world_images_publish(tmp_path: Path) -> None:
    """A 1x1 image, a 16-bit PNG, a CMYK JPEG, a palette PNG with transparency and an RGBA PNG all
    decode and augment; none is rejected."""
    from PIL import Image

    palette = io.BytesIO()
    Image.new("P", (32, 24), 3).save(palette, format="PNG", transparency=0)
    data = {
        "tiny.png": _img("RGB", (1, 1), "PNG"), "deep.png": _img("I;16", (40, 30), "PNG"),
        "cmyk.jpg": _img("CMYK", (40, 30), "JPEG"), "pal.png": palette.getvalue(), "rgba.png": _img("RGBA", (40, 30), "PNG"),
    }
    items = [{"file": f, "label": "x", "boxes": [], "box_labels": []} for f in data]
    cfg = image_cfg(write_source(tmp_path / "src", items, data), tmp_path, params={"copies_per_image": 1})
    plan = make_plan(cfg, tmp_path)
    results = run_all(cfg, plan)
    assert not [r for res in results for r in res.rejected]
    assert sum(res.counts["x"]["after"] for res in results) == 10


def test_exif_rotated_jpeg_boxes_follow_the_displayed_image(tmp_path: Path) -> None:
    from PIL import Image

    arr = np.zeros((48, 64, 3), np.uint8)  # stored 64 wide, 48 high; displayed (orientation 6) 48 x 64
    arr[:, :8] = 255  # a white band on the stored left edge: the displayed top edge after rotating
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    box = [4.0, 40.0, 44.0, 60.0]  # only valid in the displayed frame (y2 = 60 > 48)
    items = [{"file": "rot.jpg", "label": "x", "boxes": [box], "box_labels": ["b"]}]
    cfg = image_cfg(write_source(tmp_path / "src", items, {"rot.jpg": buf.getvalue()}), tmp_path,
                    params={"copies_per_image": 1, "ops": []})
    plan = make_plan(cfg, tmp_path)
    results = run_all(cfg, plan)
    s = samples(plan, results)
    original = next(p for p in s.values() if not json.loads(p["json"])["synthetic"])
    rec = json.loads(original["json"])
    im = Image.open(io.BytesIO(original["jpg"]))
    assert im.size == (48, 64) and (rec["width"], rec["height"]) == (48, 64) and rec["boxes"] == [box]
    assert not im.getexif().get(0x0112)  # published without the tag: every reader sees the same pixels
    top = np.asarray(im.convert("L"))[:6].mean()
    assert top > 200  # the band is on top, as displayed
