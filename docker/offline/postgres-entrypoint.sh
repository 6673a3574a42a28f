#!/bin/sh
# The first start makes the cluster in $PGDATA (the volume): superuser $POSTGRES_USER with
# $POSTGRES_PASSWORD (scram-sha-256 over the network), database $POSTGRES_DB; every start then
# runs the server in the foreground, listening on all interfaces of the container.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
    initdb --username="$user" --pwfile="$password_file" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$password_file"
    echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$database" != "postgres" ]; then
        echo "CREATE DATABASE \"$database\" OWNER \"$user\";" |
            postgres --single -D "$PGDATA" postgres >/dev/null
    fi
    echo "postgres-entrypoint: cluster created in $PGDATA (database $database, user $user)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
