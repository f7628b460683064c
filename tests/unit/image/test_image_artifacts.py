"""Artifact checks of the gate (`quality.artifacts`): defaults pass on real photos with an ordinary
policy; each check fails, naming its config key, on the artifact it is for."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from image_helpers import POLICY, image_cfg, make_plan, run_all, write_source
from test_image_masks import photo_source

from augment_jobs.checks import GateInput
from augment_jobs.config import ImageArtifacts, Quality
from augment_jobs.image.checks import artifacts
from augment_jobs.image.handler import ImageHandler

skdata = pytest.importorskip("skimage.data")


def photos(src: Path) -> str:
    from PIL import Image

    data, items = {}, []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera"):
        arr = getattr(skdata, name)()[::3, ::3]
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        data[f"{name}.png"] = buf.getvalue()
        items.append({"file": f"{name}.png", "label": name})
    return write_source(src, items, data)


def checks(cfg, root: Path, **limits) -> dict:
    if limits:
        cfg = cfg.model_copy(update={"quality": Quality(artifacts=ImageArtifacts(**limits))})
    plan = make_plan(cfg, root)
    results = run_all(cfg, plan)
    g = GateInput(cfg, plan, results, ImageHandler().gate_frame(cfg, plan, results))
    return {c.name: c for c in artifacts(g)}


def test_defaults_pass_on_real_photos(tmp_path: Path) -> None:
    cfg = image_cfg(photos(tmp_path / "src"), tmp_path, params={"copies_per_image": 3, "ops": POLICY + [
        {"op": "randaugment", "p": 0.5}, {"op": "elastic", "p": 0.3}]})
    got = checks(cfg, tmp_path)
    assert set(got) == {"image.clipping", "image.sharpness", "image.near_constant", "image.mask_classes"}
    assert all(c.passed for c in got.values()), got
    assert got["image.mask_classes"].detail == "no copy has a mask: nothing to compare"  # not "0 of 0"


def test_clipping_fails_above_the_limit(tmp_path: Path) -> None:
    cfg = image_cfg(photos(tmp_path / "src"), tmp_path, params={"copies_per_image": 2, "ops": [
        {"op": "color_jitter", "p": 1.0, "brightness": 1.0, "contrast": 1.0}]})
    c = checks(cfg, tmp_path, max_clipping_increase=0.05)["image.clipping"]
    assert not c.passed and "quality.artifacts.max_clipping_increase = 0.05" in c.detail


def test_blur_and_pixelation_fail_below_the_sharpness_ratio(tmp_path: Path) -> None:
    cfg = image_cfg(photos(tmp_path / "src"), tmp_path, params={"copies_per_image": 1, "ops": [
        {"op": "gaussian_blur", "p": 1.0, "sigma": [4.0, 5.0]}]})
    c = checks(cfg, tmp_path, min_sharpness_ratio=0.01)["image.sharpness"]
    assert not c.passed and c.observed == 5 and "min_sharpness_ratio" in c.detail
    cfg = image_cfg(photos(tmp_path / "src2"), tmp_path / "b", params={"copies_per_image": 1, "ops": [
        {"op": "resized_crop", "p": 1.0, "scale": [0.01, 0.01]}]})  # a tiny crop blown up: blocky
    assert not checks(cfg, tmp_path / "b", min_sharpness_ratio=0.01)["image.sharpness"].passed


def test_near_constant_copies_fail(tmp_path: Path) -> None:
    cfg = image_cfg(photos(tmp_path / "src"), tmp_path, params={"copies_per_image": 1, "ops": [
        {"op": "cutout", "p": 1.0, "holes": 16, "size": [1.0, 1.0], "fill": 90}]})
    c = checks(cfg, tmp_path)["image.near_constant"]
    assert not c.passed and c.observed["copies"] == 5 and "min_pixel_std" in c.detail


def test_masks_that_lost_a_class(tmp_path: Path) -> None:
    cfg = image_cfg(photo_source(tmp_path / "src"), tmp_path, params={"copies_per_image": 2, "ops": [
        {"op": "affine", "p": 1.0, "translate": [1.0, 1.0], "scale": [0.3, 0.3]}]})
    got = checks(cfg, tmp_path, max_mask_class_loss_share=0.1)["image.mask_classes"]
    assert not got.passed and got.observed > 0.1 and "max_mask_class_loss_share" in got.detail
    np.testing.assert_equal(checks(cfg, tmp_path / "again")["image.mask_classes"].observed, got.observed)
