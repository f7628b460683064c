# One image for every Airflow component, the Celery workers (CPU and GPU) and the MLflow server.
#   docker build -t augment-jobs .                                    # CUDA torch (GPU worker)
#   docker build --build-arg TORCH_INDEX_URL=<PyTorch CPU wheel index URL> -t augment-jobs .   # CPU-only
#   docker build --build-arg PYTHON_VERSION=3.13 -t augment-jobs .   # any of 3.11, 3.12, 3.13
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

ARG TORCH_INDEX_URL=""
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AIRFLOW_HOME=/opt/airflow \
    NO_ALBUMENTATIONS_UPDATE=1 \
    MLFLOW_DISABLE_TELEMETRY=true

RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libpq5 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 --home-dir /opt/airflow airflow \
    && mkdir -p /opt/augment && chown airflow /opt/augment

WORKDIR /opt/augment

# Dependencies first (cached layer), then the project.
COPY pyproject.toml README.md ./
COPY augment_jobs ./augment_jobs
# The production extras (Celery executor on Redis, PostgreSQL metadata DB) come from pyproject.toml.
RUN pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} ".[celery,postgres]"

COPY dags ./dags
COPY plugins ./plugins
COPY configs ./configs
COPY expectations ./expectations

USER airflow
EXPOSE 8080 5000
CMD ["airflow", "version"]
