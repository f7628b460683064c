"""Image modality: the `image_policy` method (params model + registration).

Importing this package is cheap (pydantic only): torch and the engine are imported inside the
method, so `augment check` and DAG parsing stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

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


#: The kinds an op can declare (docs/config.md, "Op kinds and restrict").
Kind = Literal["geometric", "color", "noise", "blur", "occlusion", "mixing"]
KINDS: tuple[str, ...] = ("geometric", "color", "noise", "blur", "occlusion", "mixing")


class _Op(MethodParams):
    """Base of every op: `p` is the probability it fires; `KINDS` is what it declares."""

    KINDS: ClassVar[frozenset[str]] = frozenset()
    p: float = Field(1.0, ge=0, le=1)

    def kinds(self) -> frozenset[str]:
        return self.KINDS


class HFlip(_Op):
    """Mirror left-right. Boxes: x -> width - x; masks and keypoints mirrored."""

    KINDS = frozenset({"geometric"})
    op: Literal["hflip"]


class VFlip(_Op):
    """Mirror top-bottom. Boxes: y -> height - y; masks and keypoints mirrored."""

    KINDS = frozenset({"geometric"})
    op: Literal["vflip"]


class Affine(_Op):
    """Rotate (degrees), scale, translate (max fraction of width/height), shear (degrees) about the
    centre. Boxes: corners mapped, enclosing box, clipped. Empty corners are filled black."""

    KINDS = frozenset({"geometric"})
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

    KINDS = frozenset({"geometric"})
    op: Literal["resized_crop"]
    scale: Range = (0.08, 1.0)
    ratio: Range = (0.75, 4 / 3)

    @model_validator(mode="after")
    def _ranges(self) -> ResizedCrop:
        _check_range("scale", self.scale, 0, 1, positive=True)
        _check_range("ratio", self.ratio, 0, 10, positive=True)
        return self


class Perspective(_Op):
    """torchvision's RandomPerspective: each corner moves inward by up to `distortion` of half the
    side; one homography. Boxes: the mapped corners' enclosing box (exact: lines stay lines)."""

    KINDS = frozenset({"geometric"})
    op: Literal["perspective"]
    distortion: float = Field(0.3, ge=0, le=1)


class Elastic(_Op):
    """Elastic deformation (Simard et al. 2003): uniform noise in [-1, 1] smoothed by a Gaussian of
    `sigma` px, times `alpha` (px), is each output pixel's displacement. Masks resampled nearest;
    keypoints moved by inverting the field; boxes enclose their moved outline."""

    KINDS = frozenset({"geometric"})
    op: Literal["elastic"]
    alpha: Range = (30.0, 60.0)
    sigma: Range = (4.0, 6.0)

    @model_validator(mode="after")
    def _ranges(self) -> Elastic:
        _check_range("alpha", self.alpha, 0, 1000)
        _check_range("sigma", self.sigma, 0, 50, positive=True)
        return self


class ColorJitter(_Op):
    """Brightness, contrast, saturation factors in [1-v, 1+v]; hue shift in [-hue, hue] turns.
    Boxes: unchanged."""

    KINDS = frozenset({"color"})
    op: Literal["color_jitter"]
    brightness: float = Field(0.0, ge=0, le=1)
    contrast: float = Field(0.0, ge=0, le=1)
    saturation: float = Field(0.0, ge=0, le=1)
    hue: float = Field(0.0, ge=0, le=0.5)


class Grayscale(_Op):
    """Luma (0.299 R + 0.587 G + 0.114 B) in all three channels."""

    KINDS = frozenset({"color"})
    op: Literal["grayscale"]


class Posterize(_Op):
    """Keep the top `bits` bits of each channel, `bits` drawn from the (integer) range."""

    KINDS = frozenset({"color"})
    op: Literal["posterize"]
    bits: tuple[int, int] = (4, 8)

    @model_validator(mode="after")
    def _ranges(self) -> Posterize:
        _check_range("bits", self.bits, 1, 8)
        return self


class Solarize(_Op):
    """Invert every channel value at or above a threshold drawn from the range (fraction of 255)."""

    KINDS = frozenset({"color"})
    op: Literal["solarize"]
    threshold: Range = (0.5, 1.0)

    @model_validator(mode="after")
    def _ranges(self) -> Solarize:
        _check_range("threshold", self.threshold, 0, 1)
        return self


class Equalize(_Op):
    """Histogram equalisation per channel (PIL's / torchvision's rule)."""

    KINDS = frozenset({"color"})
    op: Literal["equalize"]


class Sharpness(_Op):
    """torchvision's adjust_sharpness: blend with a 3x3 smoothed image; factor 0 blurs, 1 keeps, 2
    sharpens; drawn from the range."""

    KINDS = frozenset({"blur"})
    op: Literal["sharpness"]
    factor: Range = (0.5, 2.0)

    @model_validator(mode="after")
    def _ranges(self) -> Sharpness:
        _check_range("factor", self.factor, 0, 10)
        return self


class GaussianNoise(_Op):
    """Additive noise, sigma drawn from the range (fraction of full scale). Boxes: unchanged."""

    KINDS = frozenset({"noise"})
    op: Literal["gaussian_noise"]
    sigma: Range = (0.0, 0.03)

    @model_validator(mode="after")
    def _ranges(self) -> GaussianNoise:
        _check_range("sigma", self.sigma, 0, 1)
        return self


class GaussianBlur(_Op):
    """Separable Gaussian blur, sigma (pixels) drawn from the range. Boxes: unchanged."""

    KINDS = frozenset({"blur"})
    op: Literal["gaussian_blur"]
    sigma: Range = (0.1, 1.5)

    @model_validator(mode="after")
    def _ranges(self) -> GaussianBlur:
        _check_range("sigma", self.sigma, 0, 5, positive=True)
        return self


class Cutout(_Op):
    """`holes` rectangles with sides a fraction `size` of the image side, filled with `fill`.
    Boxes, masks, keypoints: unchanged (an occluded object is still there)."""

    KINDS = frozenset({"occlusion"})
    op: Literal["cutout"]
    holes: int = Field(1, ge=1, le=16)
    size: Range = (0.1, 0.2)
    fill: int = Field(0, ge=0, le=255)

    @model_validator(mode="after")
    def _ranges(self) -> Cutout:
        _check_range("size", self.size, 0, 1, positive=True)
        return self


class MixUp(_Op):
    """Blend with a partner image (another source image of the same block, resized to this one's
    size): x = lam x + (1 - lam) partner, lam ~ Beta(alpha, alpha). Soft label by weight; boxes of
    both images; the mask of the image weighing more; keypoints its own."""

    KINDS = frozenset({"mixing"})
    op: Literal["mixup"]
    alpha: float = Field(0.4, gt=0, le=10)


class CutMix(_Op):
    """Paste a rectangle of a partner image (area share 1 - lam, lam ~ Beta(alpha, alpha)). Soft
    label by area; own boxes kept by min_box_visibility outside the patch, the partner's clipped to
    it; the mask is the partner's inside the patch; own keypoints under the patch become [0, 0, 0]."""

    KINDS = frozenset({"occlusion", "mixing"})
    op: Literal["cutmix"]
    alpha: float = Field(1.0, gt=0, le=10)


#: The members of the RandAugment / TrivialAugment op space, each with its kinds
#: (torchvision's `_augmentation_space`); each is made with one of the ops above.
POOL_KINDS: dict[str, frozenset[str]] = {
    "identity": frozenset(), "shear_x": frozenset({"geometric"}), "shear_y": frozenset({"geometric"}),
    "translate_x": frozenset({"geometric"}), "translate_y": frozenset({"geometric"}),
    "rotate": frozenset({"geometric"}), "brightness": frozenset({"color"}), "color": frozenset({"color"}),
    "contrast": frozenset({"color"}), "sharpness": frozenset({"blur"}), "posterize": frozenset({"color"}),
    "solarize": frozenset({"color"}), "autocontrast": frozenset({"color"}), "equalize": frozenset({"color"}),
}
PoolOp = Literal["identity", "shear_x", "shear_y", "translate_x", "translate_y", "rotate", "brightness", "color",
                 "contrast", "sharpness", "posterize", "solarize", "autocontrast", "equalize"]


class _PolicyFamily(_Op):
    pool: list[PoolOp] = Field(default_factory=lambda: list(POOL_KINDS))

    @model_validator(mode="after")
    def _pool(self) -> _PolicyFamily:
        if not self.pool:
            raise ValueError("pool is empty; name at least one op (e.g. [rotate, contrast])")
        return self

    def kinds(self) -> frozenset[str]:
        return frozenset().union(*(POOL_KINDS[m] for m in self.pool))


class RandAugment(_PolicyFamily):
    """RandAugment (Cubuk et al. 2020): `num_ops` ops drawn per sample from `pool`, each at
    `magnitude` of `num_magnitude_bins - 1`, sign drawn (torchvision's ranges)."""

    op: Literal["randaugment"]
    num_ops: int = Field(2, ge=1, le=8)
    magnitude: int = Field(9, ge=0, le=100)
    num_magnitude_bins: int = Field(31, ge=2, le=101)

    @model_validator(mode="after")
    def _magnitude(self) -> RandAugment:
        if self.magnitude >= self.num_magnitude_bins:
            raise ValueError(f"magnitude {self.magnitude} must be below num_magnitude_bins {self.num_magnitude_bins}")
        return self


class TrivialAugment(_PolicyFamily):
    """TrivialAugment Wide (Müller & Hutter 2021): one op per sample from `pool` at a magnitude bin
    drawn uniformly (torchvision's wide ranges)."""

    op: Literal["trivialaugment"]
    num_magnitude_bins: int = Field(31, ge=2, le=101)


Op = Annotated[
    HFlip | VFlip | Affine | ResizedCrop | Perspective | Elastic | ColorJitter | Grayscale | Posterize | Solarize
    | Equalize | Sharpness | GaussianNoise | GaussianBlur | Cutout | MixUp | CutMix | RandAugment | TrivialAugment,
    Field(discriminator="op"),
]
#: Ops that move pixels: they go through one 3x3 matrix per sample (elastic through its own field).
MATRIX_OPS = frozenset({"hflip", "vflip", "affine", "resized_crop", "perspective"})
GEOMETRIC_OPS = MATRIX_OPS | {"elastic"}
MIXING_OPS = frozenset({"mixup", "cutmix"})


def op_kinds() -> dict[str, frozenset[str]]:
    """Every op's declared kinds (policy families: those of their default pool), by op name."""
    import typing

    union = typing.get_args(typing.get_args(Op)[0])
    out = {}
    for model in union:
        name = typing.get_args(model.model_fields["op"].annotation)[0]
        out[name] = (model.KINDS if not issubclass(model, _PolicyFamily)
                     else frozenset().union(*POOL_KINDS.values()))
    return out


class ImagePolicyParams(MethodParams):
    """Params of `image_policy` (docs/config.md, image)."""

    copies_per_image: Copies = 1
    min_box_visibility: float = Field(0.3, ge=0, le=1)
    ops: list[Op] = Field(default_factory=list)
    #: kinds of ops this dataset refuses (e.g. [occlusion, color] for medical images)
    restrict: list[Kind] = Field(default_factory=list)
    jpeg_quality: int = Field(95, ge=50, le=100)
    batch_size: int = Field(64, ge=1, le=4096)  # samples per batched call; output does not depend on it

    @model_validator(mode="after")
    def _restrict(self) -> ImagePolicyParams:
        banned = set(self.restrict)
        for i, op in enumerate(self.ops):
            hit = sorted(op.kinds() & banned)
            if not hit:
                continue
            if isinstance(op, _PolicyFamily):
                members = [m for m in op.pool if POOL_KINDS[m] & banned]
                raise ValueError(f"ops[{i}] {op.op!r} draws {', '.join(members)} ({'/'.join(hit)}), restricted by "
                                 f"restrict: {sorted(banned)}; give it a pool without them")
            raise ValueError(f"ops[{i}] {op.op!r} is of kind {'/'.join(hit)}, restricted by restrict: {sorted(banned)}; "
                             "remove the op or the restriction")
        return self

    def copies_for(self, label: str) -> int:
        return copies_for(self.copies_per_image, label)

    @property
    def mixes(self) -> bool:
        """Whether a mixing op is in the policy (it needs labelled partner images)."""
        return any(op.op in MIXING_OPS for op in self.ops)


@register("image_policy", modality="image", params=ImagePolicyParams, example={
    "copies_per_image": 1, "ops": [{"op": "hflip", "p": 0.5}, {"op": "affine", "p": 0.9, "rotate": [-10, 10]}]})
def image_policy(batch: ImageBatch, params: ImagePolicyParams, ctx: AugmentContext) -> ImageBatch:
    """Batched geometric, colour, noise, blur and occlusion ops and policy families; boxes, masks and
    keypoints move with the image."""
    from augment_jobs.image.engine import run_policy

    return run_policy(batch, params, ctx)


register_modality(ModalitySpec(
    name="image",
    handler="augment_jobs.image.handler:ImageHandler",
    source_formats=("images", "webdataset"),
    publish_format="webdataset",
    checks=(images.decodable, images.boxes_valid, images.keypoints_valid, images.exposure, images.class_counts,
            images.corrupt_share, images.artifacts),
    demo_writers={"shapes": "augment_jobs.image.demo:write_raw"},
    report_parts="augment_jobs.image.artifacts:report_parts",
    example="augment_jobs.image.demo:example",
    probe="augment_jobs.image.demo:probe",
))
