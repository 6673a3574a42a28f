# syntax=docker/dockerfile:1
# Agent: /classify (PII scrubbing with Presidio + spaCy en/fr, language, routing) and the chat page;
# calls the model services at CALLCENTERAI_TFIDF_URL and CALLCENTERAI_TRANSFORMER_URL.
# Build from the repository root: docker build -f docker/agent.Dockerfile .

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
    && pip install --no-cache-dir "/src[serving,agent]"
COPY README.md ./
COPY callcenterai ./callcenterai
RUN pip install --no-cache-dir --no-deps --force-reinstall .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    CALLCENTERAI_HOME=/app \
    CALLCENTERAI_CACHE_DIR=/app/.cache \
    MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false \
    MLFLOW_DISABLE_TELEMETRY=true \
    CALLCENTERAI_TFIDF_URL=http://tfidf_svc:8001 \
    CALLCENTERAI_TRANSFORMER_URL=http://transformer:8002
RUN useradd --no-log-init --create-home --uid 10001 --user-group --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=4)"]
CMD ["callcenterai", "serve", "agent", "--host", "0.0.0.0", "--port", "8000"]
