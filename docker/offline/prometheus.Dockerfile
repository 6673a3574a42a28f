# syntax=docker/dockerfile:1
# Prometheus from Debian 12's package, for machines where prom/prometheus cannot be pulled
# (no registry): used by docker/offline/compose.offline.yml only. Same command line, port and
# configuration mount as the official image in docker-compose.yml; runs as Debian's
# `prometheus` user.
ARG BASE_IMAGE=callcenterai-python:3.11-bookworm
FROM ${BASE_IMAGE}
# Debian 12's current package (its security updates replace the version, so none is pinned).
# hadolint ignore=DL3008
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
    && mkdir -p /prometheus /etc/prometheus \
    && chown prometheus:prometheus /prometheus
# The package's system user (its id is chosen at install time).
# hadolint ignore=DL3066
USER prometheus
WORKDIR /prometheus
EXPOSE 9090
# No wget or curl in this base: Python asks /-/ready.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/-/ready', timeout=4)"]
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
