"""A corpus of real datasets, bundled with installed packages (no network), written as raw partitions.

Each builder writes one dataset's raw partition under `{store}/raw/<name>/{ds}/` in the layout its
committed config (`tests/realdata/configs/<name>.yaml`) reads. The data keep their mess: missing
values, mixed types, duplicate rows and names, zero-inflated counts, uneven and irregular series,
grayscale / palette / RGBA PNGs and an EXIF-rotated JPEG. Sources: scikit-learn's bundled loaders
(`load_*`, never `fetch_*`), statsmodels' bundled datasets, vega_datasets' local data,
palmerpenguins. `churn_copula` is the one synthetic table: a telecom-churn-like shape (86% zero
voicemail counts, minutes) for the Gaussian-copula acceptance test.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CONFIGS = HERE / "configs"
DS = "2026-03-01"


@dataclass(frozen=True)
class Dataset:
    name: str
    modality: str
    build: Callable[[Path], None]  # writes the raw partition into this folder
    what: str  # the mess it carries


def raw_dir(store: Path, name: str, ds: str = DS) -> Path:
    path = store / "raw" / name / ds
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_path(name: str) -> Path:
    return CONFIGS / f"{name}.yaml"


# --- tabular --------------------------------------------------------------------------------------


def churn_frame(n: int = 3333, seed: int = 0) -> pd.DataFrame:
    """Telecom-churn-like: 14.5% churners, zero-inflated voicemail counts, minutes, integer codes."""
    rng = np.random.default_rng(seed)
    churn = rng.random(n) < 0.145
    vmail = rng.random(n) < 0.14
    df = pd.DataFrame({
        "customer_id": np.arange(100_000, 100_000 + n),
        "account_length": np.clip(rng.normal(101, 40, n).round(), 1, 243).astype(np.int64),
        "area_code": rng.choice([408, 415, 510], n, p=[0.25, 0.5, 0.25]),
        "intl_plan": np.where(rng.random(n) < np.where(churn, 0.28, 0.07), "yes", "no"),
        "vmail_plan": np.where(vmail, "yes", "no"),
        "number_vmail_messages": np.where(vmail, np.clip(rng.normal(29, 8, n).round(), 4, 51), 0).astype(np.int64),
        "total_day_minutes": np.clip(rng.normal(np.where(churn, 207, 175), 50, n), 0, 351).round(1),
        "total_day_calls": rng.poisson(100, n).astype(np.int64),
        "customer_service_calls": np.minimum(rng.poisson(np.where(churn, 2.2, 1.4), n), 9).astype(np.int64),
        "churn": np.where(churn, "yes", "no"),
    })
    df.loc[rng.random(n) < 0.003, "total_day_minutes"] = 0.0
    return df


def churn_copula(out: Path) -> None:
    churn_frame().to_csv(out / "churn.csv", index=False)


def penguins(out: Path) -> None:
    """Palmer penguins: missing measurements and sex, text and integer columns."""
    import palmerpenguins

    palmerpenguins.load_penguins().to_csv(out / "penguins.csv", index=False)


def cars(out: Path) -> None:
    """vega cars: duplicate names (high cardinality), missing mpg / horsepower, a date column (JSONL)."""
    from vega_datasets import local_data

    df = local_data.cars()
    df["Year"] = df["Year"].dt.strftime("%Y-%m-%d")
    (out / "cars.jsonl").write_text("".join(json.dumps(r) + "\n" for r in df.to_dict("records")).replace("NaN", "null"))


def affairs(out: Path) -> None:
    """statsmodels fair: `affairs` is 0 in 68% of rows; everything else integer-coded floats."""
    import statsmodels.api as sm

    sm.datasets.fair.load_pandas().data.to_parquet(out / "fair.parquet", index=False)


def seattle_weather(out: Path) -> None:
    """vega seattle-weather: precipitation 0 on 57% of days, a rare class (snow, 23 days), dates."""
    from vega_datasets import local_data

    local_data.seattle_weather().to_parquet(out / "weather.parquet", index=False)


def breast_cancer(out: Path) -> None:
    """scikit-learn breast cancer, with an integer id column as exported by a database."""
    from sklearn.datasets import load_breast_cancer

    df = load_breast_cancer(as_frame=True).frame
    df.insert(0, "patient_id", np.arange(842_302, 842_302 + len(df)))
    df.to_csv(out / "wdbc.csv", index=False)


def iris(out: Path) -> None:
    """vega iris: 150 rows of which one is a duplicate, strings as labels."""
    from vega_datasets import local_data

    local_data.iris().to_csv(out / "iris.csv", index=False)


def anes96(out: Path) -> None:
    """statsmodels anes96: a survey of integer codes (7-point scales, income bands)."""
    import statsmodels.api as sm

    sm.datasets.anes96.load_pandas().data.to_csv(out / "anes96.csv", index=False)


# --- text -----------------------------------------------------------------------------------------


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in text.split("\n\n") if len(p.split()) >= 4]


def sklearn_docs(out: Path) -> None:
    """scikit-learn's dataset descriptions, one paragraph a row: URLs, citations, reST markup,
    integer ids; label: the paragraph's reST form (field list, bullet list, directive or prose)."""
    from importlib import resources

    rows = []
    for f in sorted(resources.files("sklearn.datasets").joinpath("descr").iterdir(), key=lambda p: p.name):
        if not f.name.endswith(".rst"):
            continue
        for para in _paragraphs(f.read_text(encoding="utf-8")):
            kind = ("field" if para.startswith(":") else "list" if para.startswith(("-", "*", "|", "#."))
                    else "directive" if para.startswith("..") else "prose")
            rows.append({"para_id": len(rows) + 1, "source": f.name, "text": para, "kind": kind})
    (out / "docs.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def statsmodels_notes(out: Path) -> None:
    """statsmodels' dataset notes: TITLE / SOURCE / DESCRLONG / NOTE texts; label: the field."""
    import importlib
    import pkgutil

    import statsmodels.datasets as smd

    rows = []
    for mod in sorted(m.name for m in pkgutil.iter_modules(smd.__path__)):
        try:
            m = importlib.import_module(f"statsmodels.datasets.{mod}.data")
        except ImportError:
            continue
        for field in ("SOURCE", "DESCRLONG", "NOTE"):
            for para in _paragraphs(str(getattr(m, field, "") or "")):
                rows.append({"id": f"{mod}-{field.lower()}-{len(rows)}", "dataset": mod, "field": field.lower(), "text": para})
    pd.DataFrame(rows).to_parquet(out / "notes.parquet", index=False)


# --- time series ----------------------------------------------------------------------------------


def stocks(out: Path) -> None:
    """vega stocks: five monthly price series of unequal length (GOOG starts in 2004)."""
    from vega_datasets import local_data

    local_data.stocks().to_parquet(out / "stocks.parquet", index=False)


def iowa_electricity(out: Path) -> None:
    """vega iowa-electricity: three short yearly series (17 points each), integer values."""
    from vega_datasets import local_data

    local_data.iowa_electricity().to_csv(out / "iowa.csv", index=False)


def co2(out: Path) -> None:
    """statsmodels co2: weekly Mauna Loa readings with 59 missing weeks (NaN kept)."""
    import statsmodels.api as sm

    df = sm.datasets.co2.load_pandas().data.rename_axis("week").reset_index()
    df.insert(0, "station", "mauna_loa")
    df.to_parquet(out / "co2.parquet", index=False)


def ohlc(out: Path) -> None:
    """vega ohlc: daily trading days (weekends and holidays missing: irregular), with a signal label."""
    from vega_datasets import local_data

    df = local_data.ohlc()
    df.insert(0, "ticker", "DJI")
    df.to_parquet(out / "ohlc.parquet", index=False)


def grunfeld(out: Path) -> None:
    """statsmodels grunfeld: ten firms' yearly investment (20 points each), integer years."""
    import statsmodels.api as sm

    sm.datasets.grunfeld.load_pandas().data.to_csv(out / "grunfeld.csv", index=False)


# --- images ---------------------------------------------------------------------------------------


def digits_png(out: Path) -> None:
    """scikit-learn digits as 32x32 PNGs: grayscale (L), palette (P) and RGBA files mixed."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    lines = []
    for i in range(300):
        arr = (d.images[i] * (255 / 16)).astype(np.uint8)
        im = Image.fromarray(arr, "L").resize((32, 32), Image.Resampling.NEAREST)
        if i % 3 == 1:
            im = im.convert("P")
        elif i % 3 == 2:
            im = im.convert("RGBA")
            im.putalpha(Image.fromarray(np.where(np.asarray(im.convert("L")) > 0, 255, 128).astype(np.uint8)))
        name = f"digit_{i:04d}.png"
        im.save(out / name)
        lines.append(json.dumps({"file": name, "label": str(int(d.target[i]))}))
    (out / "annotations.jsonl").write_text("\n".join(lines) + "\n")


def exif_jpeg(im: object, orientation: int = 6) -> bytes:
    """JPEG bytes of `im` stored rotated, with the EXIF Orientation tag that displays it upright."""
    from PIL import Image

    assert isinstance(im, Image.Image)
    stored = im.transpose(Image.Transpose.ROTATE_90)  # orientation 6 = rotate 270 (CW 90) to display
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def photos(out: Path) -> None:
    """scikit-learn's two sample photos cut into tiles with a centred box; every fifth tile stored
    as an EXIF-rotated JPEG whose box is given in displayed coordinates."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    data = load_sample_images()
    lines = []
    for path, arr in zip(data.filenames, data.images, strict=True):
        label = Path(path).stem
        img = Image.fromarray(arr)
        n = 0
        for top in range(0, img.height - 96, 80):
            for left in range(0, img.width - 128, 100):
                tile = img.crop((left, top, left + 128, top + 96))
                name = f"{label}_{n:03d}.jpg"
                if n % 5 == 0:
                    (out / name).write_bytes(exif_jpeg(tile))
                else:
                    tile.save(out / name, format="JPEG", quality=90)
                lines.append(json.dumps({"file": name, "label": label, "boxes": [[32, 24, 96, 72]], "box_labels": [label]}))
                n += 1
    (out / "annotations.jsonl").write_text("\n".join(lines) + "\n")


CORPUS: dict[str, Dataset] = {d.name: d for d in [
    Dataset("churn_copula", "tabular", churn_copula, "86% zero counts, minutes, int codes, int id (synthetic)"),
    Dataset("penguins", "tabular", penguins, "missing values, text + int columns"),
    Dataset("cars", "tabular", cars, "duplicate high-cardinality names, missing values, dates, JSONL"),
    Dataset("affairs", "tabular", affairs, "68% zeros, integer-coded floats"),
    Dataset("seattle_weather", "tabular", seattle_weather, "57% zero precipitation, rare class, dates"),
    Dataset("breast_cancer", "tabular", breast_cancer, "30 numeric columns, integer id column"),
    Dataset("iris", "tabular", iris, "a duplicate row"),
    Dataset("anes96", "tabular", anes96, "integer-coded survey answers"),
    Dataset("sklearn_docs", "text", sklearn_docs, "reST, URLs, citations, integer ids"),
    Dataset("statsmodels_notes", "text", statsmodels_notes, "free text, very short and long rows"),
    Dataset("stocks", "timeseries", stocks, "series of unequal length"),
    Dataset("iowa_electricity", "timeseries", iowa_electricity, "short series (17 points), int values"),
    Dataset("co2", "timeseries", co2, "59 missing values in one long series"),
    Dataset("ohlc", "timeseries", ohlc, "irregular (trading days), text label per point"),
    Dataset("grunfeld", "timeseries", grunfeld, "ten short panels, int years"),
    Dataset("digits_png", "image", digits_png, "8x8 grayscale upscaled; L / P / RGBA PNGs"),
    Dataset("photos", "image", photos, "RGB JPEG tiles with boxes, EXIF-rotated ones"),
]}


def build(store: Path, name: str, ds: str = DS) -> Path:
    """Write dataset `name`'s raw partition for `ds` into `store`; returns its config path."""
    CORPUS[name].build(raw_dir(store, name, ds))
    return config_path(name)


def run_one(store: Path, name: str, ds: str = DS) -> dict[str, object]:
    """Build and run one corpus dataset end to end (`augment_jobs.stages.run`); a summary row.

    The store is `AUGMENT_STORE` (the caller sets it, and MLFLOW_TRACKING_URI). Failures are part
    of the summary (`error`: the exception's type and first line), never raised.
    """
    import time

    from augment_jobs.publish import latest_version
    from augment_jobs.reader import open_dataset
    from augment_jobs.stages import run

    config = build(store, name, ds)
    row: dict[str, object] = {"dataset": name, "modality": CORPUS[name].modality}
    t = time.perf_counter()
    try:
        run(str(config), ds)
    except Exception as e:  # the summary names any failure, whatever its type
        row["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    row["seconds"] = round(time.perf_counter() - t, 1)
    published = store / "published" / name
    row["published"] = "error" not in row and latest_version(str(published)) is not None
    if row["published"]:
        m = open_dataset(str(published)).manifest
        row["rows"] = m.rows
        row["synthetic"] = m.synthetic_rows
        row.update(gate_figures(m.gate.checks))
        row["skipped"] = sum(m.skipped.values()) + len(m.rejected)
        row["quality"] = round(m.quality["score"], 3) if m.quality else None
    return row


def gate_figures(checks: list) -> dict[str, object]:
    """Worst KS / TVD of the similarity check, from the manifest's gate checks."""
    out: dict[str, object] = {}
    for check in checks:
        observed = check.observed or {}
        if check.name == "similarity" and isinstance(observed, dict):
            for kind in ("ks", "tvd"):
                vals = [v for k, v in observed.items() if k.startswith(kind + ".")]
                out[f"worst_{kind}"] = max(vals) if vals else None
    return out
