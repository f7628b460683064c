"""Example training consumers: `train__<dataset>` for every tabular dataset config.

Each DAG is scheduled on the dataset's published Asset by partition (`PartitionedAssetTimetable`,
Airflow 3.2+): the event `augment__<dataset>`'s publish task emits carries the logical date as its
partition key, so each published date starts one training run whose `partition_key` is that date
(a backfill of three dates trains three times). It reads exactly the version the event of its
partition names (else the newest version published for that date) through
`augment_jobs.reader.open_dataset`, trains a small scikit-learn model on all rows (real and
synthetic) except a held-out set of real rows, scores it on that held-out set, and logs the metrics
to MLflow with the dataset version as the run's input. Synthetic rows derived from a held-out row
(its id in `_source_ids`) are left out of training, so the score is not leaked.

Triggered by hand (or `dag.test`) without an Asset event or partition, it trains on `latest`.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Asset, dag, task

try:  # partitioned assets (AIP-76) came with Airflow 3.2
    from airflow.sdk import PartitionedAssetTimetable
except ImportError:  # pragma: no cover - older Airflow: plain Asset scheduling
    PartitionedAssetTimetable = None

from augment_jobs.config import DatasetConfig, load_configs

HOLDOUT_BUCKETS = 4  # one real row in four (by a hash of its id) is held out for scoring


def train_and_score(dataset: str, uri: str, label: str, version: str) -> dict[str, Any]:
    """Train on the published version, score on held-out real rows, log to MLflow."""
    import mlflow
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from augment_jobs.lineage import tracking_uri
    from augment_jobs.reader import open_dataset

    data = open_dataset(uri, version=version)
    df = data.to_pandas()
    real = df[~df["_synthetic"].astype(bool)]
    held = {i for i in real["_id"].astype(str) if zlib.crc32(i.encode()) % HOLDOUT_BUCKETS == 0}
    test = real[real["_id"].astype(str).isin(held)]
    leaks = df["_source_ids"].apply(lambda ids: any(str(i) in held for i in (ids if ids is not None else [])))
    train = df[~df["_id"].astype(str).isin(held) & ~leaks]

    features = [c for c in df.columns if not c.startswith("_") and c != label]
    numeric = [
        c for c in features if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
    ]
    categorical = [c for c in features if c not in numeric]
    model = make_pipeline(
        ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
                ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
            ]
        ),
        LogisticRegression(max_iter=1000),
    )
    model.fit(train[features], train[label].astype(str))
    y_true = test[label].astype(str)
    y_pred = model.predict(test[features])
    metrics = {
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro")),
        "train_rows": float(len(train)),
        "train_synthetic_rows": float(train["_synthetic"].astype(bool).sum()),
        "test_rows": float(len(test)),
    }
    if len(model.classes_) == 2 and y_true.nunique() == 2:
        metrics["roc_auc"] = float(roc_auc_score(y_true, model.predict_proba(test[features])[:, 1]))

    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(f"train/{dataset}")
    with mlflow.start_run(run_name=f"train {dataset}@{data.version}") as run:
        mlflow.set_tags({"augment.dataset": dataset, "augment.version": data.version})
        mlflow.log_params(
            {
                "dataset_uri": uri,
                "version": data.version,
                "model": "logistic_regression",
                "features": len(features),
            }
        )
        source = f"{uri}/versions/{data.version}"
        mlflow.log_input(
            mlflow.data.from_pandas(df, source=source, name=f"{dataset}@{data.version}"), context="training"
        )
        mlflow.log_metrics(metrics)
    return {"dataset": dataset, "version": data.version, "mlflow_run_id": run.info.run_id, **metrics}


def version_for(context: dict[str, Any], published: Asset, publish_uri: str) -> str:
    """The version a run trains on: the one its partition's event names, else the newest version
    published for its partition (logical date), else the last event's, else `latest`."""
    key = context.get("partition_key")
    try:
        events = list(context["triggering_asset_events"][published])
    except KeyError:
        events = []
    for event in reversed(events):
        if (event.extra or {}).get("version") and (key is None or getattr(event, "partition_key", None) == key):
            return str(event.extra["version"])
    if key:
        from augment_jobs.publish import committed_versions

        dated = [m.version for m in committed_versions(publish_uri) if m.logical_date == key]
        if dated:
            return dated[0]
        raise ValueError(f"{publish_uri}: no version published for partition {key}")
    return "latest"


def build_training_dag(cfg: DatasetConfig) -> Any:
    publish_uri = cfg.publish_uri()
    published = Asset(cfg.asset_uri())

    @dag(
        dag_id=f"train__{cfg.dataset}",
        schedule=PartitionedAssetTimetable(assets=published) if PartitionedAssetTimetable else [published],
        start_date=datetime.fromisoformat(cfg.airflow.start_date).replace(tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["training", "example", cfg.dataset],
        doc_md=__doc__,
        default_args={"retries": 0},
    )
    def training() -> None:
        @task
        def train(**context: Any) -> dict[str, Any]:
            version = version_for(context, published, publish_uri)
            return train_and_score(cfg.dataset, publish_uri, str(cfg.label), version)

        train()

    return training()


for _path, _cfg in load_configs()[0]:  # broken configs are reported by augment_config_errors.py
    if _cfg.modality == "tabular" and _cfg.label:
        globals()[f"train__{_cfg.dataset}"] = build_training_dag(_cfg)
