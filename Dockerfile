# The code location image (docs/deploy.md). The same image runs the webserver, the daemon and
# every run worker, so the Dagster versions match everywhere: setup.py pins them exactly.
#   docker build -t REGISTRY/sync-pipeline:VERSION .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home

WORKDIR /opt/dagster/app

# The project and its dependencies from setup.py (the Dagster set pinned exactly there), with the
# deploy extra: dagster-k8s and dagster-docker, the run launchers. A plain install, not editable:
# the migrations are modules of the package and travel with it.
COPY setup.py ./
COPY sync_pipeline ./sync_pipeline
RUN pip install '.[deploy]' \
    && rm -rf build ./*.egg-info \
    && useradd --system --uid 10001 --home-dir /opt/dagster dagster \
    && mkdir -p "$DAGSTER_HOME" \
    && chown -R dagster "$DAGSTER_HOME"

USER dagster
EXPOSE 4000

# The code location: a gRPC code server on the one Definitions object. The webserver and daemon
# Deployments run the same image with their own command (deploy/k8s/).
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", \
     "--module-name", "sync_pipeline.definitions", "--location-name", "sync_pipeline"]
