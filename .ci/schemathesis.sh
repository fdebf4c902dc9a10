#!/usr/bin/env bash
# schemathesis (every check) against a fresh demo server, once without a token and once with
# the token of each role the demo prints: the server must answer as its OpenAPI document says.
# Usage: .ci/schemathesis.sh SCHEMATHESIS ACCREDO_BINARY   (from the repository root)
# The reviewed exclusions are in .ci/schemathesis.toml, each with its reason.
set -uo pipefail
ST="$1"; BIN="$2"
PORT="${ACCREDO_CI_ST_PORT:-18181}"
BASE="http://127.0.0.1:$PORT"
OUT="${ACCREDO_CI_ST_OUT:-/tmp/accredo-ci-schemathesis}"
rm -rf "$OUT"; mkdir -p "$OUT"
fail=0
for role in anon specialist reviewer secretary support admin; do
  work="$OUT/$role"; mkdir -p "$work"
  if curl -s -o /dev/null "$BASE/healthz"; then echo "port $PORT is already in use"; exit 2; fi
  # Many requests come without a token on purpose: the failed-auth limit must not turn them
  # into 429 (that path is tested in the suite).
  env ACCREDO_AUTH_FAILURES_PER_MINUTE=1000000 DATABASE_URL="sqlite://$work/demo.db" \
    ACCREDO_SESSION_KEY_FILE="$work/session.key" ACCREDO_DOCUMENTS_DIR="$work/documents" \
    ACCREDO_MAIL_DIR="$work/mail" ACCREDO_LOG=warn \
    "$BIN" demo --bind "127.0.0.1:$PORT" >"$work/demo.out" 2>"$work/demo.err" &
  pid=$!
  for _ in $(seq 150); do
    grep -q 'demo session \[admin\]' "$work/demo.out" 2>/dev/null \
      && curl -sf "$BASE/readyz" >/dev/null && break
    sleep 0.2
  done
  if ! kill -0 "$pid" 2>/dev/null || ! grep -q 'demo session \[admin\]' "$work/demo.out"; then
    echo "the demo server did not start:"; cat "$work/demo.err"; exit 2
  fi
  args=()
  if [ "$role" != anon ]; then
    token=$(grep -m1 "demo session \[$role\]" "$work/demo.out" | awk '{print $NF}')
    [ -n "$token" ] || { echo "the demo printed no $role session"; exit 2; }
    # A fuzzer holding a session must not end it or withdraw its consent mid-run (both are
    # covered by the run without a token and by the suite).
    args=(-H "Authorization: Bearer $token" --exclude-path '/api/v1/me/sessions/{id}'
          --exclude-path /api/v1/me/consent)
  fi
  start=$(date +%s)
  "$ST" --config-file .ci/schemathesis.toml run "$BASE/api-docs/openapi.json" \
    --max-examples 30 --seed 1 --generation-database none --no-color \
    --report junit --report-junit-path "$work/junit.xml" "${args[@]}" >"$work/run.log" 2>&1
  rc=$?
  echo "schemathesis as $role: exit $rc in $(( $(date +%s) - start )) s"
  if [ $rc -ne 0 ]; then
    fail=1
    tail -n 60 "$work/run.log"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null
done
exit $fail
