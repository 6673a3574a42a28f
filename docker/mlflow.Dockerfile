# syntax=docker/dockerfile:1
# MLflow tracking server and model registry. The backend store (sqlite) and the artifacts live in
# the volume at /mlflow; with --artifacts-destination clients upload and download through the
# server, so they only need MLFLOW_TRACKING_URI=http://mlflow:5000.
# Build from the repository root: docker build -f docker/mlflow.Dockerfile .

# The Python 3.11 base: the official image; where no registry is reachable, one built from Debian's
# packages (docker/offline/build-images.sh), the same Dockerfile otherwise.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
FROM ${PYTHON_IMAGE} AS builder
# pip's settings from the build (PIP_NO_INDEX, PIP_FIND_LINKS, PIP_TRUSTED_HOST: a local
# wheelhouse of the pinned versions); unset, pip uses PyPI. Builder stage only.
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
ARG PIP_TRUSTED_HOST
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Same pin as pyproject.toml, so clients and server agree.
RUN pip install --no-cache-dir mlflow==3.17.2

FROM ${PYTHON_IMAGE}
# MLflow rejects Host headers other than localhost and private IPs (DNS-rebinding protection);
# the other containers call it as mlflow:5000. Compose overrides this list (MLFLOW_ALLOWED_HOSTS).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    MLFLOW_DISABLE_TELEMETRY=true \
    MLFLOW_SERVER_ALLOWED_HOSTS=mlflow,mlflow:*,localhost,localhost:*,127.0.0.1,127.0.0.1:*
RUN useradd --no-log-init --create-home --uid 10001 --user-group --shell /usr/sbin/nologin app \
    && mkdir -p /mlflow/artifacts \
    && chown -R 10001:10001 /mlflow
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000", \
     "--backend-store-uri", "sqlite:////mlflow/mlflow.db", \
     "--artifacts-destination", "/mlflow/artifacts", "--workers", "1"]
