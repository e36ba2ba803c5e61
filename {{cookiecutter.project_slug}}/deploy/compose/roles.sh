#!/bin/sh
# The service's database roles, made once, when the database volume is first created: the
# postgres image runs this from /docker-entrypoint-initdb.d as its superuser.
#
#   OWNER_ROLE  owns the schemas and tables; migrations run as it.
#   APP_ROLE    the running service: reads and writes rows of the owner's tables, creates
#               nothing, and is no superuser, so an injection cannot reach beyond the rows and
#               the connection budget's superuser_reserved_connections stay reserved.
#
# Passwords come from the secret files compose mounts; psql quotes every name and value.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v database="$POSTGRES_DB" -v owner="$OWNER_ROLE" -v app="$APP_ROLE" \
    -v owner_password="$(cat "${OWNER_PASSWORD_FILE:-/run/secrets/db_owner_password}")" \
    -v app_password="$(cat "${APP_PASSWORD_FILE:-/run/secrets/db_app_password}")" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN PASSWORD :'app_password';
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, CREATE ON DATABASE :"database" TO :"owner";
GRANT CONNECT ON DATABASE :"database" TO :"app";
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT USAGE ON SCHEMAS TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT USAGE, SELECT ON SEQUENCES TO :"app";
SQL
