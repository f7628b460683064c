"""Online augmentation: the `image_policy` ops applied to samples as a training job reads them.

    ds = open_dataset(uri)
    train = ds.torch(batch_size=64, shuffle=True, seed=0, augment="configs/shapes.yaml")
    for epoch in range(10):
        train.set_epoch(epoch)
        for batch in train.loader(num_workers=4): ...

The ops are the offline engine's own (`engine.draw` / `engine.apply`): no second copy. Each
sample's parameters come from a generator seeded by (seed, epoch, `__key__`), so a sample's draw is
the same for any worker count, batch size or order, changes with the epoch, and can be replayed
(`OnlineAugment.replay`). Boxes, masks and keypoints move with the pixels. A batch is augmented on
the device its images are on: in DataLoader workers that is the CPU; with `augment_on="cuda"`
the loader moves each batch to the GPU and augments it there, batched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from augment_jobs.errors import ConfigError
from augment_jobs.image.engine import apply, draw
from augment_jobs.image.torch_data import TensorViews
from augment_jobs.rng import rng_for

if TYPE_CHECKING:
    import torch

    from augment_jobs.image import ImagePolicyParams


def policy_params(augment: str | Path | dict[str, Any] | ImagePolicyParams) -> ImagePolicyParams:
    """`augment` as image_policy params: a config path (its `image_policy` step), a dict of
    image_policy params, or params already parsed. The config's `restrict` applies."""
    from augment_jobs.image import ImagePolicyParams
    from augment_jobs.registry import get_method

    if isinstance(augment, ImagePolicyParams):
        return augment
    spec = get_method("image_policy")
    if isinstance(augment, dict):
        return spec.parse_params(augment, where="augment")  # type: ignore[return-value]
    from augment_jobs.config import load_config

    cfg = load_config(str(augment))
    steps = [i for i, s in enumerate(cfg.augment) if s.method == "image_policy"]
    if not steps:
        raise ConfigError(f"{augment}: augment= needs a config with an image_policy step; this one has "
                          f"{', '.join(s.method for s in cfg.augment)}")
    i = steps[0]
    return spec.parse_params(cfg.augment[i].params, where=f"{augment}: augment[{i}].params")  # type: ignore[return-value]


class OnlineAugment:
    """Applies an image policy to reader samples or batches (dicts from `.torch()`)."""

    def __init__(self, augment: str | Path | dict[str, Any] | ImagePolicyParams, seed: int = 0) -> None:
        self.params = policy_params(augment)
        if self.params.mixes:
            raise ConfigError("augment=: mixup and cutmix mix two source images and run offline (image_policy "
                              "in a dataset config); online, a sample's draw must not depend on its batch")
        self.seed = int(seed)

    def draw(self, key: str, epoch: int, width: int, height: int) -> list[dict[str, Any] | None]:
        """The drawn parameters of sample `key` in `epoch` (one entry per slot, None: not fired)."""
        return draw(self.params.ops, rng_for(self.seed, "online", int(epoch), key), width, height)

    def replay(self, key: str, epoch: int, image: torch.Tensor) -> torch.Tensor:
        """The augmented image [3, H, W] the reader gave for `key` in `epoch`."""
        return self({"__key__": [key], "image": image[None]}, epoch)["image"][0]

    def __call__(self, item: dict[str, Any], epoch: int) -> dict[str, Any]:
        """Augment one sample (`__key__` a string) or a batch (`__key__` a list), on its device."""
        if isinstance(item["__key__"], str):
            batch = {k: [v] for k, v in item.items()}
            batch["image"] = item["image"][None]
            return {k: v[0] for k, v in self(batch, epoch).items()}  # every value has the batch dim
        import torch

        images = item["image"]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(tuple(img.shape), []).append(i)
        n = len(item["__key__"])
        boxes = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in item.get("boxes") or [np.zeros((0, 4))] * n]
        labels = [list(lb) for lb in item.get("box_labels") or [[""] * len(b) for b in boxes]]
        masks = item.get("mask")
        masks = [None if m is None else np.asarray(m.cpu(), dtype=np.uint8) for m in masks] if masks is not None \
            else [None] * n
        kps = [np.asarray(k, dtype=np.float64).reshape(-1, 3) for k in item.get("keypoints") or [np.zeros((0, 3))] * n]
        out_img: list[Any] = [None] * n
        out_boxes, out_labels, out_masks, out_kps = list(boxes), list(labels), list(masks), list(kps)
        params: list[dict[str, Any]] = [{}] * n
        for shape, idx in groups.items():
            _, h, w = shape
            drawn = [self.draw(item["__key__"][i], epoch, w, h) for i in idx]
            x = images[idx] if isinstance(images, torch.Tensor) else torch.stack([images[i] for i in idx])
            res = apply(x, [boxes[i] for i in idx], [labels[i] for i in idx], drawn, self.params.min_box_visibility,
                        [masks[i] for i in idx], [kps[i] for i in idx])
            for j, i in enumerate(idx):
                out_img[i] = res.images[j]
                out_boxes[i], out_labels[i], out_masks[i], out_kps[i] = (res.boxes[j], res.box_labels[j],
                                                                         res.masks[j], res.keypoints[j])
                params[i] = {"epoch": int(epoch), "ops": [d for d in drawn[j] if d is not None]}
        out = dict(item)
        dev = images.device if isinstance(images, torch.Tensor) else images[0].device
        out["image"] = torch.stack(out_img) if isinstance(images, torch.Tensor) else out_img
        # as the collated batch held them: one flat tensor of views, so that a batch leaving a
        # DataLoader worker is one shared-memory block, not one per sample
        views = TensorViews if n > 1 else list
        if "boxes" in item:
            out["boxes"] = views([torch.from_numpy(b) for b in out_boxes])
            out["box_labels"] = out_labels
        if item.get("mask") is not None:
            ms = [None if m is None else torch.from_numpy(m).to(dev) for m in out_masks]
            out["mask"] = torch.stack(ms) if isinstance(item["mask"], torch.Tensor) else ms
        if "keypoints" in item:
            out["keypoints"] = views([torch.from_numpy(k.astype(np.float32)) for k in out_kps])
        out["augment_params"] = params
        return out
