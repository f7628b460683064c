# One image for every Airflow component, the Celery workers (CPU and GPU) and the MLflow server.
#   docker build -t augment-jobs .                                    # CUDA torch (GPU worker)
#   docker build --build-arg TORCH_INDEX_URL=<PyTorch CPU wheel index URL> -t augment-jobs .   # CPU-only
FROM python:3.11-slim-bookworm

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
RUN pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} \
        . apache-airflow-providers-celery "celery>=5.5,<5.7" psycopg2-binary asyncpg redis

COPY dags ./dags
COPY plugins ./plugins
COPY configs ./configs
COPY expectations ./expectations

USER airflow
EXPOSE 8080 5000
CMD ["airflow", "version"]
