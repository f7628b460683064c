"""The batch an image method receives: same-size images as one uint8 tensor, plus per-sample data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Partner:
    """A source image that copies may be mixed with (mixup, cutmix)."""

    key: str  # its source key: recorded as the partner in the copy's params and `_source_ids`
    label: str
    pixels: np.ndarray  # H x W x 3 uint8
    boxes: np.ndarray  # n x 4
    box_labels: list[str]
    mask: np.ndarray | None = None


@dataclass
class ImageBatch:
    """B same-size RGB images and what travels with each.

    `images` is a uint8 torch tensor [B, 3, H, W]; `boxes[i]` a float array (n, 4) of
    [x1, y1, x2, y2] pixel coordinates (continuous: a full-image box is [0, 0, W, H]).
    `masks[i]` is an (H, W) uint8 class-id array or None; `keypoints[i]` a float array (k, 3) of
    [x, y, visible]. `keys` and `copies` identify each sample's random stream; a method fills `params` (the drawn
    parameters, a plain JSON-able dict) and `seeds`.
    """

    images: Any
    boxes: list[np.ndarray]
    box_labels: list[list[str]]
    keys: list[str]
    copies: list[int]
    params: list[dict[str, Any]] = field(default_factory=list)
    masks: list[np.ndarray | None] | None = None
    keypoints: list[np.ndarray] | None = None
    #: the images mixing ops may draw a partner from (the sample's block of source images)
    pool: list[Partner] | None = None
    seeds: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)
