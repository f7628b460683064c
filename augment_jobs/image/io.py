"""Image I/O: reading sources (images folder or WebDataset tars), guarded decoding, deterministic
encoding. The tar reader and writer and annotations.jsonl live in `augment_jobs.samples` (shared
with audio) and are re-exported here.

Decoding guards: the size declared in the header is checked before any pixel is decoded (a
decompression bomb is rejected without allocating it), truncated or corrupt files are rejected by
key (PIL's LOAD_TRUNCATED_IMAGES stays off), boxes are validated against the declared size.

JPEG goes through libjpeg-turbo by simplejpeg, which holds no GIL while it works: PIL's JPEG
codec holds it, so two threads encoding with PIL ran slower than one (0.30 against 0.24 ms per
224² image here; simplejpeg 0.12). PIL keeps everything else, and any JPEG simplejpeg refuses.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from augment_jobs.errors import InputError
from augment_jobs.image.meta import class_ids
from augment_jobs.samples import (  # noqa: F401  (re-exported: the image package's names for them)
    ANNOTATIONS,
    TAR_MTIME,
    Rejected,
    TarShardWriter,
    iter_tar,
    member_key,
    read_annotations,
    sample_key,
)
from augment_jobs.store import Store, store_for

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
# 100 Mpx (300 MB as RGB) per image: far above any training image, and it rejects declared sizes
# of 20000x20000 and beyond before decoding. PIL's own bomb guard is set to the same limit.
MAX_PIXELS = 100_000_000


@dataclass
class RawSample:
    """One source sample before decoding; `data` is None until read (images-folder sources)."""

    source_key: str
    source_uri: str
    ext: str
    label: str
    boxes: list[list[float]]
    box_labels: list[str]
    data: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    keypoints: list[list[float]] = field(default_factory=list)  # [x, y, visible] in pixels
    mask: str | None = None  # the annotation's mask path (images folder), for messages
    mask_uri: str | None = None  # where the mask PNG is read from, or None
    mask_data: bytes | None = None  # the mask PNG's bytes (WebDataset sources carry them inline)


@dataclass
class Decoded:
    raw: RawSample
    pixels: np.ndarray  # H x W x 3 uint8
    passthrough: bool  # original bytes can be published as they are (8-bit L/RGB jpg/png)
    mask: np.ndarray | None = None  # H x W uint8 class ids
    mask_png: bytes | None = None  # the source mask's bytes where they can be published as they are


def norm_ext(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower()
    return "jpg" if ext == "jpeg" else ext


def validate_boxes(raw: RawSample, w: int | None = None, h: int | None = None) -> None:
    """InputError naming the file and box if a box is malformed, degenerate or outside the image."""
    if len(raw.box_labels) != len(raw.boxes):
        raise InputError(f"{raw.source_uri}: {len(raw.boxes)} boxes but {len(raw.box_labels)} box_labels; "
                         "give one label per box")
    for box in raw.boxes:
        if not (isinstance(box, list | tuple) and len(box) == 4 and all(isinstance(v, int | float) for v in box)):
            raise InputError(f"{raw.source_uri}: box {box!r} is not [x1, y1, x2, y2] in pixels")
        x1, y1, x2, y2 = box
        if x2 <= x1 or y2 <= y1:
            raise InputError(f"{raw.source_uri}: box {list(box)} is degenerate (needs x2 > x1 and y2 > y1); fix the annotation")
        if w is not None and h is not None and (x1 < 0 or y1 < 0 or x2 > w or y2 > h):
            raise InputError(f"{raw.source_uri}: box {list(box)} lies outside the {w}x{h} image; fix the annotation")


def validate_keypoints(raw: RawSample, w: int | None = None, h: int | None = None) -> None:
    """InputError naming the file and keypoint if one is malformed or (labelled) outside the image."""
    for i, kp in enumerate(raw.keypoints):
        if not (isinstance(kp, list | tuple) and len(kp) == 3 and all(isinstance(v, int | float) for v in kp)
                and kp[2] in (0, 1, 2)):
            raise InputError(f"{raw.source_uri}: keypoint {i} {kp!r} is not [x, y, visible] "
                             "(pixels; visible 0 = unlabelled, 1 = hidden, 2 = visible)")
        x, y, v = kp
        if v and w is not None and h is not None and not (0 <= x <= w and 0 <= y <= h):
            raise InputError(f"{raw.source_uri}: keypoint {i} {list(kp)} lies outside the {w}x{h} image; "
                             "fix the annotation, or give it as [0, 0, 0] if it is not in the picture")


def decode_mask(raw: RawSample, data: bytes, w: int, h: int, classes: set[int] | None
                ) -> tuple[np.ndarray, bytes | None]:
    """The mask PNG as H x W uint8 class ids (8-bit greyscale or palette indices, never colours),
    and its bytes where they publish as they are (an 8-bit greyscale PNG: what `encode` would
    write, read back, gives the same ids); InputError naming the mask for a wrong size, mode or
    undeclared class id."""
    from PIL import Image

    where = f"{raw.source_uri}: mask {raw.mask or 'mask.png'}"
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{where} is not a readable PNG ({e}); re-export it as an 8-bit PNG of class ids") from None
    if im.size != (w, h):
        raise InputError(f"{where} is {im.size[0]}x{im.size[1]} but the image is {w}x{h}; "
                         "a mask must have the image's size (as displayed, after EXIF rotation)")
    if im.mode not in ("L", "P", "1"):
        raise InputError(f"{where} has mode {im.mode}; give class ids as an 8-bit greyscale or palette PNG")
    arr = np.asarray(im.convert("L") if im.mode == "1" else im, dtype=np.uint8)
    if classes is not None:
        extra = sorted(set(class_ids(arr)) - classes)
        if extra:
            raise InputError(f"{where} has class id {extra[0]}, not in source.mask_classes "
                             f"({sorted(classes)}); declare it or fix the mask")
    return arr, data if im.format == "PNG" and im.mode == "L" else None


def decode(raw: RawSample, store: Store | None = None, mask_classes: set[int] | None = None) -> Decoded:
    """Read (if needed) and decode one sample to H x W x 3 uint8; Rejected for unusable images.
    The mask (if any) is decoded and checked against the image's size and `mask_classes`."""
    from PIL import Image

    # PIL raises above 2x MAX_IMAGE_PIXELS (at open, from the header): that is exactly our limit
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2
    data = raw.data if raw.data is not None else (store or store_for(raw.source_uri)).read_bytes(raw.source_uri)
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:  # PIL's guard: above 2x MAX_IMAGE_PIXELS, at open
        raise Rejected(f"declared size too large, not decoded: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise Rejected(f"not a readable image: {e}") from None
    w, h = im.size
    if w * h > MAX_PIXELS or w <= 0 or h <= 0:
        raise Rejected(f"declared size {w}x{h} exceeds the {MAX_PIXELS} pixel limit; not decoded")
    # Annotations are drawn on the image as displayed: an EXIF orientation is applied to the pixels
    # (and the bytes re-encoded without it), so boxes and pixels agree for every reader.
    orientation = _orientation(im)
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    validate_boxes(raw, w, h)
    validate_keypoints(raw, w, h)
    try:
        arr = _turbo_rgb(data) if im.format == "JPEG" and im.mode in ("L", "RGB") and orientation == 1 else None
        if arr is None:
            im.load()
            if orientation != 1:
                from PIL import ImageOps

                im = ImageOps.exif_transpose(im)
            arr = to_rgb8(im)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise Rejected(f"corrupt or truncated image: {e}") from None
    passthrough = raw.ext in ("jpg", "png") and im.mode in ("L", "RGB") and orientation == 1
    raw.data = data if passthrough else None  # keep only what is published as is
    mask = mask_png = None
    if raw.mask_data is not None or raw.mask_uri is not None:
        mdata = raw.mask_data if raw.mask_data is not None else (store or store_for(raw.mask_uri)).read_bytes(raw.mask_uri)
        mask, mask_png = decode_mask(raw, mdata, arr.shape[1], arr.shape[0], mask_classes)
        raw.mask_data = None
    return Decoded(raw, arr, passthrough, mask, mask_png)


def _turbo_rgb(data: bytes) -> np.ndarray | None:
    """A JPEG as H x W x 3 uint8 through libjpeg-turbo (the pixels PIL gives), or None where it
    objects (a damaged or unusual file): PIL then decodes it, or rejects it with its own reason."""
    import simplejpeg

    try:
        return simplejpeg.decode_jpeg(data, colorspace="RGB")
    except ValueError:
        return None


def decode_rgb(data: bytes) -> np.ndarray:
    """Published image bytes (jpg or png) as H x W x 3 uint8: what the reader hands a DataLoader."""
    from PIL import Image

    if data[:2] == b"\xff\xd8":
        arr = _turbo_rgb(data)
        if arr is not None:
            return arr
    return to_rgb8(Image.open(io.BytesIO(data)))


def _orientation(im: Any) -> int:
    """The EXIF orientation tag (1 = as stored; 5-8 swap width and height)."""
    try:
        value = im.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError):  # a damaged EXIF block: show the pixels as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def to_rgb8(im: Any) -> np.ndarray:
    """Any PIL mode to H x W x 3 uint8: 16-bit scaled (not clipped), alpha dropped, palette expanded."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im).astype(np.int64)
        # PIL opens 16-bit greyscale PNGs as I;16 or I; both carry 0..65535
        a = (np.clip(a, 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    if mode == "F":
        a = np.clip(np.asarray(im), 0, 255).astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    if mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def encode(pixels: np.ndarray, ext: str, quality: int) -> bytes:
    """Deterministic encoding: fixed settings, no timestamps or metadata."""
    from PIL import Image

    if ext == "jpg" and pixels.ndim == 3 and pixels.shape[2] == 3:
        import simplejpeg

        # baseline, 4:2:0 (PIL's default), no metadata: the bytes depend on the pixels alone
        return simplejpeg.encode_jpeg(np.ascontiguousarray(pixels), quality=quality, colorspace="RGB",
                                      colorsubsampling="420")
    buf = io.BytesIO()
    im = Image.fromarray(pixels)
    if ext == "jpg":
        im.save(buf, format="JPEG", quality=quality, optimize=False, progressive=False)
    else:
        im.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


# --- sources -----------------------------------------------------------------------------------
def raw_from_record(rec: dict[str, Any], source_key: str, source_uri: str, label_field: str,
                    data: bytes | None = None, where: str = "") -> RawSample:
    if label_field not in rec:
        raise InputError(f"{where or source_uri}: no {label_field!r} (the config's label) for {source_key}")
    boxes = rec.get("boxes") or []
    box_labels = rec.get("box_labels")
    if box_labels is None:
        box_labels = [str(rec[label_field])] * len(boxes)
    keypoints = rec.get("keypoints") or []
    if not isinstance(keypoints, list):
        raise InputError(f"{where or source_uri}: keypoints must be a list of [x, y, visible], got {keypoints!r}")
    mask = rec.get("mask")
    if mask is not None and not isinstance(mask, str):
        raise InputError(f"{where or source_uri}: mask must be the path of a PNG beside annotations.jsonl, got {mask!r}")
    raw = RawSample(source_key=source_key, source_uri=source_uri, ext=norm_ext(source_key),
                    label=str(rec[label_field]), boxes=[list(b) if isinstance(b, list | tuple) else b for b in boxes],
                    box_labels=[str(b) for b in box_labels], data=data,
                    keypoints=[list(k) if isinstance(k, list | tuple) else k for k in keypoints], mask=mask)
    raw.extra["unlabelled"] = rec[label_field] in (None, "")  # mixing ops refuse it (no soft label)
    validate_boxes(raw)
    validate_keypoints(raw)
    return raw


def iter_tar_samples(uri: str, label_field: str) -> Iterator[RawSample | tuple[str, str]]:
    """Source samples from a WebDataset tar: RawSample, or (key, reason) for a sample with no
    image or bad json."""
    tar_name = uri.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    for key, parts in iter_tar(uri):
        yield _tar_sample(uri, tar_name, key, parts, label_field)


def _tar_sample(uri: str, tar_name: str, key: str, parts: dict[str, bytes], label_field: str
                ) -> RawSample | tuple[str, str]:
    source_key = f"{tar_name}/{key}"
    img_ext = next((e for e in parts if f".{e}" in IMAGE_EXTS), None)
    if img_ext is None:
        return source_key, f"no image member (have {sorted(parts)})"
    try:
        rec = json.loads(parts.get("json", b"{}"))
    except ValueError as e:
        return source_key, f"json member is not JSON ({e})"
    raw = raw_from_record(rec, f"{source_key}.{img_ext}", uri, label_field, data=parts[img_ext],
                          where=f"{uri}: sample {key}")
    raw.source_key = source_key
    raw.ext = norm_ext(img_ext)
    if "mask.png" in parts:
        raw.mask, raw.mask_data = "mask.png", parts["mask.png"]
    return raw


