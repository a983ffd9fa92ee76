#!/usr/bin/env bash
# The service tried from outside (issue 15): Schemathesis's own command line, not the
# suite's harness, against `poolbuy serve` on a fresh database with the demo group, as
# one role, over real HTTP. What the suite's fuzzing knows (which 422s are rules beyond
# the schema, a fresh Idempotency-Key per request) this run does not: it checks only what
# holds for every request whatever its data, no server error, every response as
# documented (status, content type, headers, body schema) and negative data refused.
#
#   bash tests/security/outside_fuzz.sh [sqlite|postgresql] [role-variable] [examples]
#   e.g. bash tests/security/outside_fuzz.sh postgresql TOKEN_LOCAL_IOM 20
#
# Exits with Schemathesis's code (0: no failure); the report is in $OUT (default
# var/outside-fuzz/), the server's log beside it. Stops the server it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
db=${1:-sqlite}
role=${2:-TOKEN_COORDINATOR}
examples=${3:-10}
port=${PORT:-8765}
out=${OUT:-var/outside-fuzz}
mkdir -p "$out"
work=$(mktemp -d)
name="outside_fuzz_$$"
case "$db" in
  sqlite) export DATABASE_URL="sqlite:///$work/poolbuy.db" ;;
  postgresql)
    psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $name" postgres
    export DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/$name"
    ;;
  *) echo "outside_fuzz: sqlite or postgresql, not $db" >&2; exit 2 ;;
esac
# One token sends thousands of requests: the abuse limits would answer most with 429
# (tests/security/test_owasp_* test them); solves capped so a close answers in seconds.
export POOLBUY_TOKEN_RATE_LIMIT=0 POOLBUY_AUTH_FAILURE_LIMIT=0 \
  POOLBUY_AUTH_FAILURE_ADDRESS_LIMIT=0 POOLBUY_MAX_SOLVE_SECONDS=2 \
  POOLBUY_JOBS_MAX_WAIT_SECONDS=2
.venv/bin/poolbuy demo --tokens --base-url "http://127.0.0.1:$port" >"$work/tokens.txt"
token=$(sed -n "s/^export $role=//p" "$work/tokens.txt" | tr -d "'\"")
[ -n "$token" ] || { echo "outside_fuzz: no $role in the demo's tokens" >&2; exit 2; }

.venv/bin/poolbuy serve --port "$port" >"$out/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [ "$db" = postgresql ]; then
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" postgres
  fi
  rm -rf "$work"
}
trap cleanup EXIT

set +e
.venv/bin/schemathesis run "http://127.0.0.1:$port/openapi.json" \
  --wait-for-schema 60 \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
  --max-examples "$examples" \
  --request-timeout 30 \
  --report junit --report-dir "$out" \
  --seed 15
code=$?
set -e
if grep -q "Traceback" "$out/server.log"; then
  echo "outside_fuzz: the server logged a traceback (see $out/server.log)" >&2
  code=1
fi
exit "$code"
