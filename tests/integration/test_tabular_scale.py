"""Tabular at scale through the CLI on a real local store: the streamed path (several Parquet parts,
mapped tasks) publishes the same bytes for any number of tasks, records parents as SMOTE does, and
refuses bad partitions and unfittable plans with exit 2 and one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.neighbors import NearestNeighbors

from augment_jobs.cli import main
from augment_jobs.reader import open_dataset

D1 = "2026-11-01"
pytestmark = pytest.mark.integration


def table(rows: int, seed: int = 0, minority: float = 0.05, categorical: bool = False) -> pa.Table:
    """Floats, an int and a bool feature, an int label with a `minority` share of class 1."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < minority).astype(np.int64)
    cols = {f"f{i}": rng.normal(size=rows) + 1.5 * y * (i % 2 == 0) for i in range(4)}
    cols["count"] = rng.integers(0, 50, rows).astype(np.int32)
    cols["flag"] = rng.random(rows) < 0.3
    if categorical:
        cols["region"] = rng.choice(["north", "south", "east"], rows)
    cols["label"] = y
    return pa.table(cols)


def write_parts(store: Path, sizes: list[int], row_group: int = 700, **kw: object) -> Path:
    folder = store / "raw" / "scale" / D1
    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(sizes):
        pq.write_table(table(n, seed=i, **kw), folder / f"part-{i}.parquet", row_group_size=row_group)
    return folder


def config(tmp: Path, *, method: str = "smote", params: dict | None = None, **source: object) -> Path:
    cfg = {
        "dataset": "scale", "modality": "tabular", "seed": 3,
        "source": {"uri": "{store}/raw/scale/{ds}/", "format": "parquet", **source},
        "label": "label",
        "augment": [{"method": method, "params": params or {"sampling_strategy": 0.25}}],
        "limits": {"max_synthetic_ratio": 0.5},
        "quality": {"suite": "expectations/scale.json"},
        "publish": {"uri": f"{{store}}/published/scale-{tmp.name}", "rows_per_file": 1500},
    }
    (tmp / "configs").mkdir(parents=True, exist_ok=True)
    (tmp / "expectations").mkdir(exist_ok=True)
    (tmp / "expectations" / "scale.json").write_text(json.dumps({"name": "scale", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "f0"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "label", "value_set": [0, 1]}},
    ]}))
    path = tmp / "configs" / "scale.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def publish_dir(store: Path, tmp: Path) -> Path:
    return store / "published" / f"scale-{tmp.name}"


def file_digests(store: Path, tmp: Path) -> list[tuple[str, str]]:
    m = open_dataset(str(publish_dir(store, tmp))).manifest
    return [(f["path"], f["sha256"]) for f in m["files"]]


def test_streamed_output_is_identical_for_any_task_count(store: Path, tmp_path: Path) -> None:
    write_parts(store, [2500, 0, 1800, 3100])
    digests = []
    for n, per in enumerate((1000, 2000, 100_000)):
        tmp = tmp_path / f"t{n}"
        assert main(["run", str(config(tmp, rows_per_task=per)), "--date", D1]) == 0
        digests.append(file_digests(store, tmp))
        plan_shards = open_dataset(str(publish_dir(store, tmp))).manifest
        assert plan_shards["rows"] > 7400
    assert digests[0] == digests[1] == digests[2]
    assert len(digests[0]) == 6  # 7400 real + 1 600-odd synthetic rows in files of 1500


def test_streamed_smote_counts_types_and_parents(store: Path, tmp_path: Path) -> None:
    write_parts(store, [2500, 1800, 3100])
    assert main(["run", str(config(tmp_path, rows_per_task=2000)), "--date", D1]) == 0
    ds = open_dataset(str(publish_dir(store, tmp_path)))
    df, m = ds.to_pandas(), ds.manifest
    src = pd.concat([table(n, seed=i).to_pandas() for i, n in enumerate([2500, 1800, 3100])], ignore_index=True)
    n0, n1 = int((src["label"] == 0).sum()), int((src["label"] == 1).sum())
    want = int(0.25 * n0) - n1
    assert dict(m["counts"]["1"]) == {"before": n1, "after": n1 + want, "synthetic": want}
    assert dict(m["counts"]["0"]) == {"before": n0, "after": n0, "synthetic": 0}
    assert len(df) == m["rows"] == len(src) + want and df["_id"].is_unique
    real, syn = df[~df["_synthetic"]], df[df["_synthetic"]]
    # real rows untouched and first, in source order, with `<file>#<row>` ids
    pd.testing.assert_frame_equal(real[src.columns].reset_index(drop=True), src, check_dtype=True)
    assert real["_id"].iloc[2500] == "part-1.parquet#0"
    schema = pq.read_schema(str(publish_dir(store, tmp_path) / "versions" / ds.version / "part-00000.parquet"))
    assert schema.field("count").type == pa.int32() and schema.field("flag").type == pa.bool_()
    # parents: two real minority rows; the synthetic row on the segment between them at `step`
    by_id = real.set_index("_id")
    for _, row in syn.sample(50, random_state=0).iterrows():
        a, b = row["_source_ids"]
        assert by_id.loc[a, "label"] == by_id.loc[b, "label"] == 1 and a != b
        t = json.loads(row["_params"])["step"]
        for col in ("f0", "f1"):
            assert row[col] == pytest.approx(by_id.loc[a, col] + t * (by_id.loc[b, col] - by_id.loc[a, col]), abs=1e-5)
    # SMOTE's neighbour semantics: every partner is among the base row's k=5 nearest same-class rows
    minority = real[real["label"] == 1]
    X = minority[["f0", "f1", "f2", "f3", "count", "flag"]].to_numpy(np.float64)
    nn = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(X, return_distance=False)[:, 1:]
    pos = {k: i for i, k in enumerate(minority["_id"])}
    for pair in syn["_source_ids"].head(200):
        assert pos[pair[1]] in set(nn[pos[pair[0]]])
    assert m["gate"]["passed"]


def test_streamed_smotenc_and_integer_ids(store: Path, tmp_path: Path) -> None:
    folder = write_parts(store, [1200, 1300], categorical=True)
    for i, p in enumerate(sorted(folder.glob("*.parquet"))):
        t = pq.read_table(p)
        pq.write_table(t.append_column("row_id", pa.array(np.arange(len(t)) + 10_000 * i)), p)
    cfg = config(tmp_path, method="smotenc", params={"sampling_strategy": 0.25, "categorical_features": ["region"]},
                 rows_per_task=1000, id_column="row_id")
    assert main(["run", str(cfg), "--date", D1]) == 0
    df = open_dataset(str(publish_dir(store, tmp_path))).to_pandas()
    syn = df[df["_synthetic"]]
    assert set(syn["region"]) <= {"north", "south", "east"} and len(syn) > 0
    assert df["row_id"].is_unique and syn["row_id"].min() == 10_000 + 1299 + 1
    assert df.loc[~df["_synthetic"], "_id"].iloc[0] == "0"


@pytest.mark.parametrize("bad", ["missing_column", "type_clash", "not_parquet"])
def test_bad_partitions_exit_2_naming_the_files(store: Path, tmp_path: Path, bad: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_parts(store, [1000, 1000])
    second = folder / "part-1.parquet"
    if bad == "missing_column":
        pq.write_table(pq.read_table(second).drop_columns(["f2"]), second)
    elif bad == "type_clash":
        t = pq.read_table(second)
        pq.write_table(t.set_column(t.column_names.index("count"), "count", pc_str(t.column("count"))), second)
    else:
        second.write_text("id,value\n1,2\n")
    assert main(["run", str(config(tmp_path, rows_per_task=500)), "--date", D1]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    line = err[-1]
    assert "part-1.parquet" in line
    if bad != "not_parquet":
        assert "part-0.parquet" in line and ("'f2'" in line or "'count'" in line)
    else:
        # text that is no Parquet file: named for what it looks like (frames.check_format), or as unreadable
        assert "not a readable parquet file" in line or "source.format is parquet but the file is" in line
    assert not (publish_dir(store, tmp_path) / "versions").exists() or not any(
        (publish_dir(store, tmp_path) / "versions").glob("*/_manifest.json"))


def pc_str(col: pa.ChunkedArray) -> pa.ChunkedArray:
    import pyarrow.compute as pc

    return pc.cast(col, pa.string())


def test_copula_on_10m_rows_without_a_bound_fails_before_fitting(store: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = store / "raw" / "scale" / D1
    folder.mkdir(parents=True)
    n = 10_000_000
    y = np.zeros(n, dtype=np.int8)
    y[::50] = 1
    zeros = np.zeros(n, dtype=np.float32)
    pq.write_table(pa.table({**{f"f{i}": zeros for i in range(4)}, "label": y}), folder / "big.parquet",
                   row_group_size=1_000_000)
    cfg = config(tmp_path, method="gaussian_copula", params={"sampling_strategy": 0.25})
    assert main(["run", str(cfg), "--date", D1]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "augment[0].params.max_fit_rows" in line and "10,000,000" in line


def test_streamed_gaussian_copula_with_a_fit_bound(store: Path, tmp_path: Path) -> None:
    write_parts(store, [1500, 1500])
    params = {"sampling_strategy": 0.25, "max_fit_rows": 60}
    digests = []
    for n, per in enumerate((1000, 5000)):
        tmp = tmp_path / f"t{n}"
        assert main(["run", str(config(tmp, method="gaussian_copula", params=params, rows_per_task=per)),
                     "--date", D1]) == 0
        digests.append(file_digests(store, tmp))
        m = open_dataset(str(publish_dir(store, tmp))).manifest
        assert any("fitted on 60 of its rows" in note for note in m["notes"])
        names = [getattr(c, "name", None) or c["name"] for c in m["gate"]["checks"]]
        assert "quality_score" in names  # scored on the streamed path too, so quality.min_score can gate it
    assert digests[0] == digests[1]


@pytest.mark.parametrize("method", ["smote", "smotenc"])
def test_synthetic_rows_do_not_depend_on_how_they_are_cut(store: Path, tmp_path: Path, method: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 50 rows, read back in ranges cut anywhere: the same rows as in one piece."""
    from augment_jobs import stages
    from augment_jobs.config import load_config
    from augment_jobs.tabular import write
    from augment_jobs.tabular.engine import load_state

    monkeypatch.setattr(write, "GEN_BLOCK", 50)
    write_parts(store, [900, 700], categorical=method == "smotenc")
    params = {"sampling_strategy": 0.25, **({"categorical_features": ["region"]} if method == "smotenc" else {})}
    path = config(tmp_path, method=method, params=params, rows_per_task=400)
    snap = stages.snapshot(str(path), D1)
    for block in snap["fit_blocks"]:
        stages.fit(snap["run_uri"], block)
    stages.fit_merge(snap["run_uri"])
    plan = stages.load_plan(snap["run_uri"])
    state = load_state(plan)
    assert state is not None and state.n_syn > 150

    def rows(cuts: list[int]) -> pa.Table:
        gen = write.Generator(load_config(str(path)), plan, state, state.arrow_schema())
        edges = [0, *cuts, state.n_syn]
        return pa.concat_tables([gen.rows(a, b) for a, b in zip(edges, edges[1:], strict=False)])

    whole = rows([])
    for cuts in ([1], [49, 50, 51], [37, 113, 160], list(range(7, state.n_syn, 23))):
        assert rows(cuts).equals(whole), cuts
    assert whole.column("_synthetic").to_pylist() == [True] * state.n_syn


# --- Borderline-SMOTE and ADASYN: neighbourhoods over every class, the table streamed in chunks -----
ALL_CLASS = [("borderline_smote", {"kind": "borderline-1"}), ("borderline_smote", {"kind": "borderline-2"}),
             ("adasyn", {})]
ALL_CLASS_IDS = ["borderline-1", "borderline-2", "adasyn"]
FEATURES = ["f0", "f1", "f2", "f3", "count", "flag"]


def write_duplicated_parts(store: Path) -> pd.DataFrame:
    """Parts of 900, 0, 700 and 1200 rows in row groups of 300, the last ending with copies of part 0's
    first 25 minority rows (duplicates in other chunks); returns the whole source in order."""
    import pyarrow.compute as pc

    folder = write_parts(store, [900, 0, 700, 1200], row_group=300)
    t0, t3 = pq.read_table(folder / "part-0.parquet"), pq.read_table(folder / "part-3.parquet")
    dup = t0.filter(pc.equal(t0["label"], 1)).slice(0, 25)
    pq.write_table(pa.concat_tables([t3.slice(0, 1200 - 25), dup]), folder / "part-3.parquet", row_group_size=300)
    return pd.concat([pq.read_table(p).to_pandas() for p in sorted(folder.glob("*.parquet"))], ignore_index=True)


def positions(ids: list[str], folder: Path) -> np.ndarray:
    """Source positions of `<file>#<row>` ids."""
    offsets, at = {}, 0
    for p in sorted(folder.glob("*.parquet")):
        offsets[p.name] = at
        at += pq.ParquetFile(p).metadata.num_rows
    return np.array([offsets[i.split("#")[0]] + int(i.split("#")[1]) for i in ids], dtype=np.int64)


def imblearn_reference(method: str, extra: dict, X: np.ndarray, y: np.ndarray, cls: object,
                       new: dict) -> dict[str, np.ndarray]:
    """imbalanced-learn fitted on the whole table: the rows samples start from, their partners (row
    positions) and, for ADASYN, each row's number of samples (the in-memory path's recorder)."""
    from imblearn.over_sampling import BorderlineSMOTE
    from imblearn_reference import RecordingADASYN

    target = {c: int((y == c).sum()) + n for c, n in new.items()}
    own = np.flatnonzero(y == cls)
    if method == "adasyn":
        s = RecordingADASYN(sampling_strategy=target, random_state=0)
        s.fit_resample(X, y)
        rows = next(r for c, r, _ in s.records_ if c == cls)
        same = s.nn_.kneighbors(X[own], return_distance=False)[:, 1:]  # its last search: within the class
        return {"base": own, "partners": own[same], "counts": np.bincount(rows, minlength=len(own))}
    s = BorderlineSMOTE(sampling_strategy=target, random_state=0, **extra)
    s.fit_resample(X, y)
    danger = s.in_danger_indices[cls]
    if extra["kind"] == "borderline-1":  # k nearest of the same class
        nn = NearestNeighbors(n_neighbors=6).fit(X[own])
        partners = own[nn.kneighbors(X[danger], return_distance=False)[:, 1:]]
    else:  # k nearest of any class: imbalanced-learn's own fitted search over the whole table
        partners = s.nn_k_.kneighbors(X[danger], return_distance=False)[:, 1:]
    return {"base": danger, "partners": partners}


@pytest.mark.parametrize("holdout", [None, 0.25], ids=["all-rows", "split"])
@pytest.mark.parametrize(("method", "extra"), ALL_CLASS, ids=ALL_CLASS_IDS)
def test_all_class_neighbourhoods_equal_imblearn_on_the_whole_table(store: Path, tmp_path: Path, method: str,
                                                                    extra: dict, holdout: float | None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Danger rows (borderline) and per-row sample counts (ADASYN's ratios) found by streaming chunks of
    250 rows equal imbalanced-learn's on the whole table, with duplicate rows in other chunks. With a
    `split`, on the train rows only: a holdout row is nobody's neighbour, as in memory."""
    from augment_jobs import stages
    from augment_jobs.store import store_for
    from augment_jobs.tabular import neighbours
    from augment_jobs.tabular.engine import load_arrays, load_state, state_uri
    from augment_jobs.tabular.methods.smote_family import LEARN, NEIGHBOURS

    monkeypatch.setattr(neighbours, "NN_CHUNK_ROWS", 250)
    src = write_duplicated_parts(store)
    path = config(tmp_path, method=method, params={"sampling_strategy": 0.25, **extra}, rows_per_task=1000)
    folder = store / "raw" / "scale" / D1
    train = np.arange(len(src))
    if holdout:
        from augment_jobs.evaluation.split import assign_split

        raw = yaml.safe_load(path.read_text())
        path.write_text(yaml.safe_dump({**raw, "split": {"holdout": holdout}}))
        ids = [f"{p.name}#{r}" for p in sorted(folder.glob("*.parquet")) for r in range(pq.ParquetFile(p).metadata.num_rows)]
        sides, _ = assign_split(pd.Series(ids), src["label"], holdout, seed=3)
        train = np.flatnonzero(sides == "train")
        assert 0 < len(train) < len(src)
    snap = stages.snapshot(str(path), D1)
    for block in snap["fit_blocks"]:
        stages.fit(snap["run_uri"], block)
    stages.fit_merge(snap["run_uri"])
    plan = stages.load_plan(snap["run_uri"])
    state, arrays = load_state(plan), load_arrays(plan, f"step0-{NEIGHBOURS}")
    uri = state_uri(plan, f"step0-{LEARN}")
    learn = pq.read_table(pa.BufferReader(store_for(uri).read_bytes(uri)))
    glob = positions(learn.column("_id").to_pylist(), folder)  # learning -> source positions
    # ... -> positions among the rows imbalanced-learn is given (all, or the train rows)
    glob = np.searchsorted(train, glob)
    i = 0  # the one oversampled class: slot 0 of step 0
    cls = state.steps[0]["classes"][0]
    X, y = src[FEATURES].to_numpy(np.float64)[train], src["label"].to_numpy()[train]
    ref = imblearn_reference(method, extra, X, y, 1, {1: cls["synthetic"]})
    np.testing.assert_array_equal(glob[arrays[f"base_{i}"]], ref["base"])
    partners = glob[arrays[f"nns_{i}"]]
    # equal distances may pick another copy of a duplicated row: the partners' values are equal
    np.testing.assert_array_equal(X[partners], X[ref["partners"]])
    if extra.get("kind") == "borderline-2":
        np.testing.assert_array_equal(arrays[f"cross_{i}"], y[ref["partners"]] != 1)
        assert arrays[f"cross_{i}"].any()
    else:  # same-class partners: never the row itself, though scikit-learn may pick it among its copies
        base = glob[arrays[f"base_{i}"]]
        assert (partners != base[:, None]).all()
        _, copy_of, copies = np.unique(X, axis=0, return_inverse=True, return_counts=True)
        copied = copies[copy_of.ravel()] > 1
        alone = ~copied[base] & ~copied[ref["partners"]].any(axis=1)  # no copy can tie: scikit-learn's very rows
        assert alone.any()
        np.testing.assert_array_equal(partners[alone], ref["partners"][alone])
    if method == "adasyn":
        np.testing.assert_array_equal(np.diff(arrays[f"cum_{i}"], prepend=0), ref["counts"])
    else:
        assert 0 < len(ref["base"]) < (y == 1).sum()  # some rows in danger, not all


@pytest.mark.parametrize(("method", "extra"), ALL_CLASS, ids=ALL_CLASS_IDS)
def test_all_class_methods_publish_the_same_bytes_for_any_tasks_and_chunk(store: Path, tmp_path: Path, method: str,
                                                                          extra: dict, monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """1 task or 3, chunks of 250 or 4000 rows: the same files; the parents are imbalanced-learn's."""
    from augment_jobs.tabular import neighbours

    src = write_duplicated_parts(store)
    digests = []
    for n, (per, chunk) in enumerate(((100_000, 250), (1000, 250), (1000, 4000))):
        monkeypatch.setattr(neighbours, "NN_CHUNK_ROWS", chunk)
        tmp = tmp_path / f"t{n}"
        cfg = config(tmp, method=method, params={"sampling_strategy": 0.25, **extra}, rows_per_task=per)
        assert main(["run", str(cfg), "--date", D1]) == 0
        assert f"shard {1 if n == 0 else 3}/{1 if n == 0 else 3}" in capsys.readouterr().err
        digests.append(file_digests(store, tmp))
    assert digests[0] == digests[1] == digests[2] and len(digests[0]) == 3
    ds = open_dataset(str(publish_dir(store, tmp)))
    df = ds.to_pandas()
    syn = df[df["_synthetic"]]
    X, y = src[FEATURES].to_numpy(np.float64), src["label"].to_numpy()
    new = int(0.25 * (y == 0).sum()) - int((y == 1).sum())
    assert len(syn) == new and (syn["label"] == 1).all()
    folder = store / "raw" / "scale" / D1
    base = positions([s[0] for s in syn["_source_ids"]], folder)
    partner = positions([s[1] for s in syn["_source_ids"]], folder)
    ref = imblearn_reference(method, extra, X, y, 1, {1: new})
    row = {int(b): j for j, b in enumerate(ref["base"])}
    assert set(base.tolist()) <= set(row)
    for b, p in zip(base.tolist(), partner.tolist(), strict=True):
        assert X[p].tolist() in X[ref["partners"][row[b]]].tolist()
    if method == "adasyn":  # each row's share of the samples, exactly
        np.testing.assert_array_equal(np.bincount([row[b] for b in base.tolist()], minlength=len(row)), ref["counts"])
    t = np.array([json.loads(p)["step"] for p in syn["_params"]])
    np.testing.assert_allclose(X[base, 0] + t * (X[partner, 0] - X[base, 0]), syn["f0"], atol=1e-5)
    if extra.get("kind") == "borderline-2":  # at most half way towards a partner of another class
        other = y[partner] != 1
        assert other.any() and (t[other] < 0.5).all()


@pytest.mark.parametrize(("dataset", "method", "extra"), [
    ("breast_cancer", "borderline_smote", {"kind": "borderline-1"}),
    ("wine", "borderline_smote", {"kind": "borderline-2"}),
    ("wine", "adasyn", {}),
], ids=["breast_cancer-borderline-1", "wine-borderline-2", "wine-adasyn"])
def test_real_dataset_publishes_through_the_streamed_path(store: Path, tmp_path: Path, dataset: str, method: str,
                                                          extra: dict, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """scikit-learn's bundled tables (30 and 13 features: imbalanced-learn's brute and KD-tree searches),
    a class thinned to make them imbalanced, in 3 parts, 2 tasks, chunks of 64 rows: published, with
    imbalanced-learn's danger rows / per-row counts for every oversampled class."""
    from sklearn import datasets

    from augment_jobs.tabular import neighbours

    monkeypatch.setattr(neighbours, "NN_CHUNK_ROWS", 64)
    frame = getattr(datasets, f"load_{dataset}")(as_frame=True).frame
    small, keep = (0, 60) if dataset == "breast_cancer" else (2, 20)
    drop = frame.index[frame["target"] == small][keep:]
    src = frame.drop(index=drop).reset_index(drop=True)
    folder = store / "raw" / "scale" / D1
    folder.mkdir(parents=True)
    cut = np.linspace(0, len(src), 4).astype(int)
    for j in range(3):
        pq.write_table(pa.Table.from_pandas(src.iloc[cut[j]:cut[j + 1]], preserve_index=False),
                       folder / f"part-{j}.parquet", row_group_size=50)
    path = config(tmp_path, method=method, params={"sampling_strategy": "not majority", **extra},
                  rows_per_task=len(src) // 2 + 1)
    raw = yaml.safe_load(path.read_text())
    raw.update(label="target", limits={"max_synthetic_ratio": 0.5})
    raw["quality"]["similarity"] = {"max_ks": 1.0, "max_tvd": 1.0}  # borderline rows are not the class's spread
    (tmp_path / "expectations" / "scale.json").write_text(json.dumps({"name": "scale", "expectations": [
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "target", "value_set": [0, 1, 2]}}]}))
    path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(path), "--date", D1]) == 0
    assert "shard 2/2" in capsys.readouterr().err
    ds = open_dataset(str(publish_dir(store, tmp_path)))
    df, counts = ds.to_pandas(), ds.manifest["counts"]
    features = [c for c in src.columns if c != "target"]
    X, y = src[features].to_numpy(np.float64), src["target"].to_numpy()
    pd.testing.assert_frame_equal(df.loc[~df["_synthetic"], src.columns].reset_index(drop=True), src)
    new = {int(c): n["synthetic"] for c, n in counts.items() if n["synthetic"]}
    assert len(new) == (2 if dataset == "wine" else 1)
    assert all(counts[str(c)]["after"] == np.bincount(y).max() for c in new)  # each class up to the majority's size
    syn = df[df["_synthetic"]]
    for cls, n in new.items():
        ref = imblearn_reference(method, extra, X, y, cls, new)
        mine = syn[syn["target"] == cls]
        assert len(mine) == n
        base = positions([s[0] for s in mine["_source_ids"]], folder)
        assert set(base.tolist()) <= set(ref["base"].tolist())
        if n >= 20 * len(ref["base"]):  # enough draws to start from every row in danger
            assert set(base.tolist()) == set(ref["base"].tolist())
        if method == "adasyn":
            row = {int(b): j for j, b in enumerate(ref["base"])}
            np.testing.assert_array_equal(np.bincount([row[b] for b in base.tolist()], minlength=len(row)),
                                          ref["counts"])


@pytest.mark.parametrize("method", ["borderline_smote", "adasyn"])
def test_separated_classes_borderline_notes_no_rows_adasyn_exits_2(store: Path, tmp_path: Path, method: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """No minority row has a neighbour of another class: Borderline-SMOTE finds none in danger (0 rows,
    a note, as in memory); ADASYN's ratios are undefined (exit 2, one line)."""
    folder = store / "raw" / "scale" / D1
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(2):
        y = (rng.random(500) < 0.1).astype(np.int64)
        pq.write_table(pa.table({"f0": rng.normal(size=500) + 100 * y, "f1": rng.normal(size=500), "label": y}),
                       folder / f"part-{i}.parquet")
    rc = main(["run", str(config(tmp_path, method=method, rows_per_task=300)), "--date", D1])
    if method == "adasyn":
        assert rc == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert "no neighbour of class 1 belongs to another class" in line and "use smote" in line
        return
    assert rc == 0
    m = open_dataset(str(publish_dir(store, tmp_path))).manifest
    assert m["counts"]["1"]["synthetic"] == 0
    assert any("class 1 got 0 of" in n and "near the class border" in n for n in m["notes"])
