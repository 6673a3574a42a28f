# syntax=docker/dockerfile:1
# PostgreSQL 15 from Debian 12's packages, for machines where the official postgres image cannot
# be pulled (no registry): used by docker/offline/compose.offline.yml only. It honours what
# docker-compose.yml gives the official image: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, data
# in /var/lib/postgresql/data, `pg_isready` as the health check (postgres-entrypoint.sh).
ARG BASE_IMAGE=callcenterai-python:3.11-bookworm
FROM ${BASE_IMAGE}
# No cluster at install time: the entry point makes one in the volume on the first start.
# Debian 12's current package (its security updates replace the version, so none is pinned).
# hadolint ignore=DL3008
RUN mkdir -p /etc/postgresql-common \
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
    && apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
    && mkdir -p /var/lib/postgresql/data /run/postgresql \
    && chown postgres:postgres /var/lib/postgresql/data /run/postgresql \
    && chmod 700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY docker/offline/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
# The package's system user (its id is chosen at install time).
# hadolint ignore=DL3066
USER postgres
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
