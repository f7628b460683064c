"""The image path through S3 (moto's real HTTP server): demo raw data in, staged tars out."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_demo_data_augmented_on_s3(s3_store: str, tmp_path, monkeypatch) -> None:
    import augment_jobs.image.demo as demo
    from augment_jobs.config import DatasetConfig
    from augment_jobs.image.handler import ImageHandler
    from augment_jobs.image.io import iter_tar
    from augment_jobs.modality import RunPlan
    from augment_jobs.store import store_for

    monkeypatch.setattr(demo, "CLASSES", {"circle": 4, "square": 3, "triangle": 2})
    src = f"{s3_store}/raw/shapes/2026-01-05/"
    demo.write_raw(src, "2026-01-05")
    cfg = DatasetConfig(
        dataset="shapes", modality="image", seed=1, label="label", source={"uri": src, "format": "images"},
        augment=[{"method": "image_policy", "params": {"copies_per_image": {"per_class": {"triangle": 2}},
                                                       "ops": [{"op": "hflip", "p": 1.0}]}}],
        publish={"uri": f"{s3_store}/published/shapes", "format": "webdataset", "shard_max_samples": 5},
    )
    h = ImageHandler()
    objs = [o for o in store_for(src).list(src) if h.source_filter(cfg, o)]
    plan = RunPlan(dataset="shapes", ds="2026-01-05", version="v", fingerprint="f", modality="image", config_path="",
                   config_sha256="", platform_version="t", seed=1, source_uri=src,
                   source=[{"uri": o.uri, "etag": o.etag, "size": o.size} for o in objs],
                   shards=h.shard_sources(cfg, objs), publish_uri=cfg.publish.uri,
                   staging_uri=f"{cfg.publish.uri}/_staging/v")
    r = h.augment_shard(cfg, plan, 0)
    assert r.counts["triangle"] == {"before": 2, "after": 6, "synthetic": 4}
    assert [f["rows"] for f in r.files] == [5, 5, 3]
    recs = [json.loads(p["json"]) for f in r.files for _, p in iter_tar(f"{plan.data_uri}/{f['path']}")]
    assert sum(x["synthetic"] for x in recs) == 4 and all(x["source_uri"].startswith("s3://") for x in recs)
    assert len(h.gate_frame(cfg, plan, [r])) == 13
