"""Op kinds, `restrict`, the policy families' draws, and the new single ops against reference
implementations (PIL for posterize/solarize/equalize/grayscale, torchvision's sharpness rule)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from augment_jobs.cli import main
from augment_jobs.image import KINDS, POOL_KINDS, ImagePolicyParams, op_kinds
from augment_jobs.image.engine import apply, draw, n_slots


def test_every_op_declares_known_kinds() -> None:
    kinds = op_kinds()
    assert kinds and all(k and k <= set(KINDS) for k in kinds.values()), kinds
    assert kinds["cutout"] == {"occlusion"} and kinds["gaussian_noise"] == {"noise"}
    assert kinds["elastic"] == kinds["perspective"] == {"geometric"}
    assert all(v <= set(KINDS) for v in POOL_KINDS.values())


def write_config(tmp: Path, params: dict) -> str:
    cfg = {"dataset": "med", "modality": "image", "seed": 1, "label": "label",
           "source": {"uri": "{store}/raw/med/{ds}/", "format": "images"},
           "augment": [{"method": "image_policy", "params": params}],
           "publish": {"uri": "{store}/published/med", "format": "webdataset"}}
    (tmp / "configs").mkdir(exist_ok=True)
    path = tmp / "configs" / "med.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.mark.parametrize("kind", KINDS)
def test_restricting_a_kind_refuses_every_op_of_it_at_check(kind: str, tmp_path: Path, capsys) -> None:
    for op, kinds in op_kinds().items():
        if op in ("mixup", "cutmix"):
            continue
        path = write_config(tmp_path, {"restrict": [kind], "ops": [{"op": op}]})
        code = main(["check", path])
        err = capsys.readouterr().err.strip().splitlines()
        if kind in kinds:
            assert code == 2 and len(err) == 1 and f"ops[0] {op!r}" in err[0] and kind in err[0], (op, err)
        else:
            assert code == 0, (op, err)


def test_a_family_restricted_names_its_members_and_a_clean_pool_passes(tmp_path: Path, capsys) -> None:
    path = write_config(tmp_path, {"restrict": ["color"], "ops": [{"op": "trivialaugment"}]})
    assert main(["check", path]) == 2
    err = capsys.readouterr().err
    assert "'trivialaugment' draws brightness, color, contrast" in err and "pool" in err
    path = write_config(tmp_path, {"restrict": ["color", "occlusion"],
                                   "ops": [{"op": "trivialaugment", "pool": ["rotate", "shear_x", "identity"]}]})
    assert main(["check", path]) == 0


def test_unknown_op_is_a_config_error(tmp_path: Path, capsys) -> None:
    assert main(["check", write_config(tmp_path, {"ops": [{"op": "twirl"}]})]) == 2
    assert "'twirl'" in capsys.readouterr().err


def test_randaugment_draws_num_ops_members_per_sample_at_the_magnitude() -> None:
    params = ImagePolicyParams(ops=[{"op": "randaugment", "num_ops": 3, "magnitude": 30,
                                     "pool": ["rotate", "posterize", "solarize"]}])
    assert n_slots(params.ops[0]) == 3
    seen = set()
    for s in range(40):
        d = draw(params.ops, np.random.default_rng(s), 64, 48)
        assert len(d) == 3
        for sub in d:
            seen.add(sub["via"])
            if sub["via"] == "rotate":
                assert abs(sub["angle"]) == 30.0  # full magnitude: torchvision's 30 degrees
            elif sub["via"] == "posterize":
                assert sub["bits"] == 4
            else:
                assert sub["threshold"] == 0.0
    assert seen == {"rotate", "posterize", "solarize"}
    # per sample: two samples of a batch draw different members
    a = draw(params.ops, np.random.default_rng(1), 64, 48)
    assert any(a != draw(params.ops, np.random.default_rng(s), 64, 48) for s in range(2, 6))


def test_trivialaugment_draws_one_member_at_a_uniform_magnitude() -> None:
    params = ImagePolicyParams(ops=[{"op": "trivialaugment", "pool": ["rotate"]}])
    angles = {abs(draw(params.ops, np.random.default_rng(s), 64, 48)[0]["angle"]) for s in range(60)}
    assert len(angles) > 10 and max(angles) <= 135.0


def pil_reference(op: str, img: np.ndarray, d: dict) -> np.ndarray:
    from PIL import Image, ImageOps

    im = Image.fromarray(img)
    if op == "posterize":
        return np.asarray(ImageOps.posterize(im, d["bits"]))
    if op == "solarize":
        return np.asarray(ImageOps.solarize(im, d["threshold"]))
    if op == "equalize":
        return np.asarray(ImageOps.equalize(im))
    if op == "autocontrast":
        return np.asarray(ImageOps.autocontrast(im))
    raise AssertionError(op)


@pytest.mark.parametrize("d", [{"op": "posterize", "bits": 3}, {"op": "solarize", "threshold": 128.0},
                               {"op": "equalize"}, {"op": "autocontrast"}])
def test_level_ops_match_pil(d: dict) -> None:
    rng = np.random.default_rng(0)
    img = (rng.beta(2, 5, (40, 50, 3)) * 255).astype(np.uint8)  # skewed histogram: equalize has work
    out = apply(torch.from_numpy(img).permute(2, 0, 1)[None].contiguous(), [np.zeros((0, 4))], [[]], [[d]], 0.3)
    got = out.images[0].permute(1, 2, 0).numpy()
    ref = pil_reference(d["op"], img, d)
    # autocontrast: PIL rounds its LUT, we scale exactly; one level apart at most
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= (1 if d["op"] == "autocontrast" else 0)


def test_grayscale_matches_pil_luma_and_sharpness_zero_is_the_smoothed_image() -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    g = apply(x, [np.zeros((0, 4))], [[]], [[{"op": "grayscale"}]], 0.3).images[0].numpy()
    ref = np.asarray(Image.fromarray(img).convert("L")).astype(int)
    assert np.array_equal(g[0], g[1]) and np.abs(g[0].astype(int) - ref).max() <= 1
    s = apply(x, [np.zeros((0, 4))], [[]], [[{"op": "sharpness", "factor": 0.0}]], 0.3).images[0].numpy()
    f = img.astype(float).transpose(2, 0, 1)
    k = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13
    inner = sum(k[dy, dx] * f[:, dy:dy + 28, dx:dx + 38] for dy in range(3) for dx in range(3))
    assert np.abs(s[:, 1:-1, 1:-1] - np.round(inner)).max() <= 1 and np.array_equal(s[:, 0], img.transpose(2, 0, 1)[:, 0])
