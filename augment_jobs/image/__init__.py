"""Image modality: the `image_policy` method (params model + registration).

Importing this package is cheap (pydantic only): torch and the engine are imported inside the
method, so `augment check` and DAG parsing stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from augment_jobs.image import checks as images
from augment_jobs.modality import ModalitySpec
from augment_jobs.registry import AugmentContext, MethodParams, register, register_modality
from augment_jobs.sampling import Copies, copies_for

if TYPE_CHECKING:
    from augment_jobs.image.batch import ImageBatch

Range = tuple[float, float]


def _check_range(name: str, r: Range, lo: float, hi: float, *, positive: bool = False) -> None:
    a, b = r
    if a > b:
        raise ValueError(f"{name}: low {a} is above high {b}")
    if a < lo or b > hi or (positive and a <= 0):
        bound = f"({lo}, {hi}]" if positive else f"[{lo}, {hi}]"
        raise ValueError(f"{name}: {list(r)} must lie in {bound}")


class _Op(MethodParams):
    p: float = Field(1.0, ge=0, le=1)


class HFlip(_Op):
    """Mirror left-right. Boxes: x -> width - x."""

    op: Literal["hflip"]


class VFlip(_Op):
    """Mirror top-bottom. Boxes: y -> height - y."""

    op: Literal["vflip"]


class Affine(_Op):
    """Rotate (degrees), scale, translate (max fraction of width/height), shear (degrees) about the
    centre. Boxes: corners mapped, enclosing box, clipped. Empty corners are filled black."""

    op: Literal["affine"]
    rotate: Range = (0.0, 0.0)
    scale: Range = (1.0, 1.0)
    translate: Range = (0.0, 0.0)
    shear: tuple[float, float] | tuple[float, float, float, float] = (0.0, 0.0)

    @model_validator(mode="after")
    def _ranges(self) -> Affine:
        _check_range("rotate", self.rotate, -180, 180)
        _check_range("scale", self.scale, 0, 10, positive=True)
        for v in self.translate:
            if not 0 <= v <= 1:
                raise ValueError(f"translate: {list(self.translate)} are max fractions of width/height in [0, 1]")
        _check_range("shear", self.shear[:2], -45, 45)
        if len(self.shear) == 4:
            _check_range("shear (y)", self.shear[2:], -45, 45)
        return self


class ResizedCrop(_Op):
    """Crop a random area (fraction `scale`, aspect `ratio`) and resize it back to the full size.
    Boxes: shifted and scaled with the crop, clipped."""

    op: Literal["resized_crop"]
    scale: Range = (0.08, 1.0)
    ratio: Range = (0.75, 4 / 3)

    @model_validator(mode="after")
    def _ranges(self) -> ResizedCrop:
        _check_range("scale", self.scale, 0, 1, positive=True)
        _check_range("ratio", self.ratio, 0, 10, positive=True)
        return self


class ColorJitter(_Op):
    """Brightness, contrast, saturation factors in [1-v, 1+v]; hue shift in [-hue, hue] turns.
    Boxes: unchanged."""

    op: Literal["color_jitter"]
    brightness: float = Field(0.0, ge=0, le=1)
    contrast: float = Field(0.0, ge=0, le=1)
    saturation: float = Field(0.0, ge=0, le=1)
    hue: float = Field(0.0, ge=0, le=0.5)


class GaussianNoise(_Op):
    """Additive noise, sigma drawn from the range (fraction of full scale). Boxes: unchanged."""

    op: Literal["gaussian_noise"]
    sigma: Range = (0.0, 0.03)

    @model_validator(mode="after")
    def _ranges(self) -> GaussianNoise:
        _check_range("sigma", self.sigma, 0, 1)
        return self


class GaussianBlur(_Op):
    """Separable Gaussian blur, sigma (pixels) drawn from the range. Boxes: unchanged."""

    op: Literal["gaussian_blur"]
    sigma: Range = (0.1, 1.5)

    @model_validator(mode="after")
    def _ranges(self) -> GaussianBlur:
        _check_range("sigma", self.sigma, 0, 5, positive=True)
        return self


class Cutout(_Op):
    """`holes` rectangles with sides a fraction `size` of the image side, filled with `fill`.
    Boxes: unchanged (an occluded object is still there)."""

    op: Literal["cutout"]
    holes: int = Field(1, ge=1, le=16)
    size: Range = (0.1, 0.2)
    fill: int = Field(0, ge=0, le=255)

    @model_validator(mode="after")
    def _ranges(self) -> Cutout:
        _check_range("size", self.size, 0, 1, positive=True)
        return self


Op = Annotated[
    HFlip | VFlip | Affine | ResizedCrop | ColorJitter | GaussianNoise | GaussianBlur | Cutout,
    Field(discriminator="op"),
]
GEOMETRIC_OPS = frozenset({"hflip", "vflip", "affine", "resized_crop"})


class ImagePolicyParams(MethodParams):
    """Params of `image_policy` (docs/config.md, image)."""

    copies_per_image: Copies = 1
    min_box_visibility: float = Field(0.3, ge=0, le=1)
    ops: list[Op] = Field(default_factory=list)
    jpeg_quality: int = Field(95, ge=50, le=100)
    batch_size: int = Field(64, ge=1, le=4096)  # samples per batched call; output does not depend on it

    def copies_for(self, label: str) -> int:
        return copies_for(self.copies_per_image, label)


@register("image_policy", modality="image", params=ImagePolicyParams, example={
    "copies_per_image": 1, "ops": [{"op": "hflip", "p": 0.5}, {"op": "affine", "p": 0.9, "rotate": [-10, 10]}]})
def image_policy(batch: ImageBatch, params: ImagePolicyParams, ctx: AugmentContext) -> ImageBatch:
    """Batched flips, affine, crop, colour jitter, noise, blur, cutout; boxes move with the image."""
    from augment_jobs.image.engine import run_policy

    return run_policy(batch, params, ctx)


register_modality(ModalitySpec(
    name="image",
    handler="augment_jobs.image.handler:ImageHandler",
    source_formats=("images", "webdataset"),
    publish_format="webdataset",
    checks=(images.decodable, images.boxes_valid, images.exposure, images.class_counts, images.corrupt_share),
    demo_writers={"shapes": "augment_jobs.image.demo:write_raw"},
    report_parts="augment_jobs.image.artifacts:report_parts",
    example="augment_jobs.image.demo:example",
    probe="augment_jobs.image.demo:probe",
))
