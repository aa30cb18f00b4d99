#!/bin/sh
# Creates the Temporal server's two databases and brings their schemas up to
# date, with the temporal-sql-tool of the admin-tools image at the server's
# version. Safe to run on every start: an existing database is kept and an
# existing schema is only updated. docker-compose.yml runs it before the server;
# `npm run cluster` does the same from scripts/lib/temporal-server.ts.
set -eu
: "${SQL_PLUGIN:=postgres12}"
schemas=/etc/temporal/schema/postgresql/v12
export SQL_PLUGIN

setup() {
  database=$1
  schema=$2
  temporal-sql-tool --db "$database" create-database 2>/dev/null || echo "database $database exists"
  # setup-schema only creates the version table; it refuses when one exists, which is fine.
  temporal-sql-tool --db "$database" setup-schema -v 0.0 2>/dev/null || echo "database $database has a schema"
  temporal-sql-tool --db "$database" update-schema -d "$schemas/$schema/versioned"
  echo "database $database: schema $schema up to date"
}

setup "${TEMPORAL_DB:-temporal}" temporal
setup "${TEMPORAL_VISIBILITY_DB:-temporal_visibility}" visibility
