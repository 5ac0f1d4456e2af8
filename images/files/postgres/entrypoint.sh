#!/bin/bash
# PostgreSQL 15 of the data-plane set, as the image's own user (never root). First start on
# an empty data volume: initdb (superuser `postgres`, peer/local only) and the tenant's role
# and database from the db_password secret file. Writes only to the volume and /tmp.
set -euo pipefail
PGBIN=/usr/lib/postgresql/15/bin
PGDATA=${PGDATA:-/var/lib/postgresql/data}
SECRET=${FROSTBYTE_DB_PASSWORD_FILE:-/run/secrets/db_password}
DB_USER=${FROSTBYTE_DB_USER:-frostbyte}
DB_NAME=${FROSTBYTE_DB_NAME:-frostbyte}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ ! -r "$SECRET" ]; then
    echo "postgres: no database password: mount the db_password secret at $SECRET" >&2
    exit 1
  fi
  echo "postgres: initialising $PGDATA"
  "$PGBIN/initdb" -D "$PGDATA" --username=postgres --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  "$PGBIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses='' -k /tmp" -w start >/dev/null
  password=$(tr -d '\n' < "$SECRET")
  "$PGBIN/psql" -v ON_ERROR_STOP=1 -h /tmp -U postgres -d postgres \
    -v user="$DB_USER" -v pw="$password" -v db="$DB_NAME" >/dev/null <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"user";
SQL
  "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec "$PGBIN/postgres" -D "$PGDATA" -k /tmp -c listen_addresses='*' "$@"
