#!/usr/bin/env bash
# Docker smoke test for pqvec (not part of `npm test`): builds the image, starts
# it with compose, waits for the health check, runs the README walkthrough
# against the container, restarts it and checks the data survived, checks the
# process is not root, takes a snapshot and restores it with the commands of
# the README, checks API keys and the health check together, stops it with
# SIGTERM and checks the stop was clean, then removes what it created.
#
# Usage (from anywhere in the repository):
#   bash test/docker/smoke.sh [--host-network | --bridge] [--no-build] [--keep]
#     --host-network  use docker/compose.host-network.yaml (the default when the
#                     engine has no "bridge" network)
#     --bridge        use docker/compose.yaml (the default otherwise)
#     --no-build      reuse the pqvec:latest image
#     --keep          leave the container and volume in place at the end
# Environment: SMOKE_PORT (host port, default 18080).
# It works on its own compose project (pqvec-smoke) and volume (pqvec-smoke-data),
# never on a deployment's pqvec-data volume; it tags the image pqvec:latest.
# Needs docker, `docker compose` or `docker-compose`, curl and node on the host.
# Traffic goes to 127.0.0.1 only.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

MODE=auto BUILD=1 KEEP=0
for arg in "$@"; do
  case "$arg" in
    --host-network) MODE=host ;;
    --bridge) MODE=bridge ;;
    --no-build) BUILD=0 ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

export COMPOSE_PROJECT_NAME=pqvec-smoke
export PQVEC_VOLUME=pqvec-smoke-data
export PQVEC_PORT=${SMOKE_PORT:-18080}
export PQVEC_API_KEYS='' PQVEC_READ_ONLY_API_KEYS=''
URL="http://127.0.0.1:$PQVEC_PORT"
SERVICE=pqvec

passed=0 failed=0 warned=0
results=()
t_start=$(date +%s)
log() { printf '[smoke %4ss] %s\n' "$(($(date +%s) - t_start))" "$*"; }
pass() { passed=$((passed + 1)); results+=("PASS  $1"); log "PASS  $1"; }
fail() { failed=$((failed + 1)); results+=("FAIL  $1"); log "FAIL  $1"; }
warn() { warned=$((warned + 1)); results+=("WARN  $1"); log "WARN  $1"; }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }

for tool in docker curl node; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool is not installed" >&2; exit 2; }
done
docker info >/dev/null 2>&1 || { echo "smoke: the Docker engine does not answer (docker info failed)" >&2; exit 2; }
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose)
else
  echo "smoke: neither 'docker compose' nor 'docker-compose' is available" >&2
  exit 2
fi
if [ "$MODE" = auto ]; then
  if docker network inspect bridge >/dev/null 2>&1; then MODE=bridge; else MODE=host; fi
fi
if [ "$MODE" = host ]; then FILE=docker/compose.host-network.yaml; else FILE=docker/compose.yaml; fi
# Networking for the one-off containers of the restore step: none needed.
compose() { "${COMPOSE[@]}" -f "$FILE" "$@"; }
cid() { compose ps -q "$SERVICE" 2>/dev/null | head -n1; }
count() { curl -s "$URL/collections/demo" | node -e 'try { process.stdout.write(String(JSON.parse(require("fs").readFileSync(0, "utf8")).count)) } catch { process.stdout.write("?") }'; }

log "compose: ${COMPOSE[*]} -f $FILE (project $COMPOSE_PROJECT_NAME, volume $PQVEC_VOLUME, $URL)"
log "engine: docker $(docker version --format '{{.Server.Version}}' 2>/dev/null), network mode: $MODE"

if curl -s -o /dev/null --max-time 2 "$URL/health"; then
  echo "smoke: something already answers on $URL; set SMOKE_PORT to a free port" >&2
  exit 2
fi

plain=
teardown() {
  [ -n "$plain" ] && docker rm -f "$plain" >/dev/null 2>&1
  if [ "$KEEP" = 1 ]; then log "kept: ${COMPOSE[*]} -f $FILE -p $COMPOSE_PROJECT_NAME down -v  removes it"; return; fi
  compose down -v --remove-orphans >/dev/null 2>&1
  log "torn down (compose down -v)"
}
trap teardown EXIT

# Leftovers of an interrupted run.
compose down -v --remove-orphans >/dev/null 2>&1

# Waits until the container's health check reports healthy; fails on exit, unhealthy or timeout.
# wait_healthy SECONDS [CONTAINER]  (default: the compose service's container)
wait_healthy() {
  local id status deadline=$(($(date +%s) + ${1:-120}))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    id=${2:-$(cid)}
    status=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null)
    case "$status" in
      running/healthy) return 0 ;;
      */unhealthy | exited/* | dead/*) log "container state: $status"; return 1 ;;
    esac
    sleep 1
  done
  log "container state after the wait: $status"
  return 1
}

# --- build ------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  log "building the image (compose build)"
  t0=$(date +%s)
  if compose build "$SERVICE"; then
    pass "image builds ($(($(date +%s) - t0)) s)"
  else
    fail "image builds"
    printf '%s\n' "${results[@]}"
    echo "docker smoke: $passed passed, $failed failed"
    exit 1
  fi
fi
size=$(docker image ls pqvec:latest --format '{{.Size}}')
log "image pqvec:latest: $size"
docker image inspect pqvec:latest --format 'image user: {{.Config.User}}; cmd: {{json .Config.Cmd}}; volumes: {{json .Config.Volumes}}' | sed 's/^/    /'
check "image has no compiler (toolchain only in the build stage)" \
  docker run --rm --network none --entrypoint sh pqvec:latest -c '! command -v g++ && ! command -v make && ! command -v python3'
check "image carries only better_sqlite3.node of better-sqlite3's build, no dist/bench" \
  docker run --rm --network none --entrypoint sh pqvec:latest -c \
  'cd /app && [ "$(find node_modules/better-sqlite3/build -type f)" = node_modules/better-sqlite3/build/Release/better_sqlite3.node ] && [ ! -e node_modules/better-sqlite3/deps ] && [ ! -e dist/bench ] && [ -z "$(find node_modules -type d -empty)" ]'

# The image on its own, without compose: its HEALTHCHECK, an anonymous volume at /data.
if [ "$MODE" = host ]; then net=(--network host -e HOST=127.0.0.1 -e PORT="$PQVEC_PORT"); else net=(-p "127.0.0.1:$PQVEC_PORT:8080"); fi
plain=$(docker run -d --rm "${net[@]}" pqvec:latest)
t0=$(date +%s)
if [ -n "$plain" ] && wait_healthy 120 "$plain"; then
  pass "plain docker run: the image's own HEALTHCHECK reports healthy ($(($(date +%s) - t0)) s)"
else
  fail "plain docker run: the image's own HEALTHCHECK reports healthy"
  [ -n "$plain" ] && docker logs "$plain" 2>&1 | tail -n 20
fi
[ -n "$plain" ] && docker stop "$plain" >/dev/null

# --- start --------------------------------------------------------------------
log "starting (compose up -d)"
compose up -d || { fail "compose up"; exit 1; }
t0=$(date +%s)
if wait_healthy 120; then
  pass "container healthy ($(($(date +%s) - t0)) s after up; health check: GET /health with node)"
else
  fail "container healthy"
  docker logs "$(cid)" 2>&1 | tail -n 30
  exit 1
fi
CID=$(cid)
log "container $CID"

uid=$(docker exec "$CID" id -u 2>/dev/null)
check "exec user is not root (id -u = $uid)" test -n "$uid" -a "$uid" != 0
# The uid of every process in the container, read from /proc inside it (PID 1 is the init, then node).
procs=$(docker exec "$CID" node -e '
  const fs = require("fs");
  for (const p of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d) && d !== String(process.pid))) {
    try {
      const uid = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${p}/status`, "utf8"))[1];
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ").trim();
      console.log(`${p} uid=${uid} ${cmd}`);
    } catch {}
  }' 2>/dev/null)
printf '%s\n' "$procs" | sed 's/^/    /'
check "the server process runs as a non-root user" \
  bash -c '[ -n "$1" ] && printf "%s\n" "$1" | grep -q "dist/src/server.js" && ! printf "%s\n" "$1" | grep -q " uid=0 "' _ "$procs"
check "PID 1 is an init, node is its child (compose init: true)" \
  bash -c 'printf "%s\n" "$1" | grep -q "^1 uid=[0-9]* /sbin/docker-init\|^1 uid=[0-9]* .*tini"' _ "$procs"
check "application files are read-only to the service" \
  bash -c '! docker exec "$1" sh -c "touch /app/dist/x" 2>/dev/null' _ "$CID"

# --- the README walkthrough ---------------------------------------------------
walk=$(mktemp)
awk '/<!-- walkthrough:start -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on && !/^```/' README.md \
  | sed "s#^PQVEC=.*#PQVEC=$URL#" >"$walk"
log "running the README walkthrough ($(wc -l <"$walk") lines) against $URL"
out=$(timeout 300 bash "$walk" 2>&1)
status=$?
printf '%s\n' "$out" | sed 's/^/    | /'
rm -f "$walk"
check "walkthrough runs (exit $status)" test "$status" = 0
check "walkthrough: the training job succeeded" bash -c 'grep -q "\"state\":\"succeeded\"" <<<"$1"' _ "$out"
check "walkthrough: no error answered" bash -c '! grep -q "\"error\":{" <<<"$1"' _ "$out"
check "walkthrough: the delete answered 204" bash -c '[ "$(tail -n1 <<<"$1")" = 204 ]' _ "$out"
before=$(count)
log "demo has $before vectors"

# --- restart: data survives -----------------------------------------------------
log "restarting (compose restart)"
compose restart "$SERVICE" >/dev/null 2>&1
if wait_healthy 120; then pass "healthy again after restart"; else fail "healthy again after restart"; fi
after=$(count)
check "data survived the restart (demo: $before vectors before, $after after)" test "$before" = "$after" -a "$before" = 999
check "a stored vector survived the restart" \
  bash -c 'curl -s "$1/collections/demo/vectors/doc-8" | grep -q "\"id\":\"doc-8\""' _ "$URL"

# --- snapshot and restore, with the README's commands ---------------------------
snap=$(curl -s -w '\n%{http_code}' -X POST "$URL/snapshots")
snap_code=$(tail -n1 <<<"$snap")
if [ "$snap_code" = 201 ]; then
  name=$(head -n -1 <<<"$snap" | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).name')
  log "snapshot $name written; adding a vector after it"
  curl -s -o /dev/null -X POST "$URL/collections/demo/vectors" -H 'content-type: application/json' \
    -d '{"vectors": [{"id": "after-snapshot", "vector": [1, 2, 3, 4, 5, 6, 7, 8]}]}'
  with_new=$(count)
  compose stop "$SERVICE" >/dev/null 2>&1
  docker run --rm --network none -v "$PQVEC_VOLUME:/data" pqvec:latest \
    sh -c "set -e; cd /data; mkdir -p pre-restore; mv pqvec.sqlite* pre-restore/; cp snapshots/$name pqvec.sqlite"
  restored=$?
  compose start "$SERVICE" >/dev/null 2>&1
  wait_healthy 120 || true
  restored_count=$(count)
  gone=$(curl -s -o /dev/null -w '%{http_code}' "$URL/collections/demo/vectors/after-snapshot")
  check "restore from a snapshot in the volume (copy exit $restored; demo: $with_new vectors before, $restored_count after, the later vector answers $gone)" \
    test "$restored" = 0 -a "$restored_count" = "$before" -a "$gone" = 404
  # The same from a copy kept off the volume: GET /snapshots/{name} to a host folder, then back.
  backup=$(mktemp -d)
  chmod 755 "$backup"   # the image's user (node) reads it through a bind mount
  dl=$(curl -s -o "$backup/backup.sqlite" -w '%{http_code}' "$URL/snapshots/$name")
  chmod 644 "$backup/backup.sqlite" 2>/dev/null
  curl -s -o /dev/null -X POST "$URL/collections/demo/vectors" -H 'content-type: application/json' \
    -d '{"vectors": [{"id": "after-restore", "vector": [8, 7, 6, 5, 4, 3, 2, 1]}]}'
  with_new=$(count)
  compose stop "$SERVICE" >/dev/null 2>&1
  docker run --rm --network none -v "$PQVEC_VOLUME:/data" -v "$backup:/backup:ro" pqvec:latest \
    sh -c 'set -e; cd /data; mkdir -p pre-restore; mv pqvec.sqlite* pre-restore/; cp /backup/backup.sqlite pqvec.sqlite'
  restored=$?
  compose start "$SERVICE" >/dev/null 2>&1
  wait_healthy 120 || true
  restored_count=$(count)
  gone=$(curl -s -o /dev/null -w '%{http_code}' "$URL/collections/demo/vectors/after-restore")
  rm -rf "$backup"
  check "restore from a downloaded snapshot (GET answered $dl; copy exit $restored; demo: $with_new vectors before, $restored_count after, the later vector answers $gone)" \
    test "$dl" = 200 -a "$restored" = 0 -a "$restored_count" = "$before" -a "$gone" = 404
else
  warn "POST /snapshots answered $snap_code: snapshot and restore not checked"
fi

# --- API keys and the health check together -------------------------------------
key="smoke-$(node -e 'console.log(require("crypto").randomBytes(16).toString("hex"))')"
log "recreating with PQVEC_API_KEYS set (compose up -d)"
PQVEC_API_KEYS=$key compose up -d >/dev/null 2>&1
if wait_healthy 120; then pass "healthy with API keys set (/health needs no key)"; else fail "healthy with API keys set"; fi
no_key=$(curl -s -o /dev/null -w '%{http_code}' "$URL/collections")
with_key=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $key" "$URL/collections")
check "API keys: GET /collections answers $no_key without a key, $with_key with it" test "$no_key" = 401 -a "$with_key" = 200
check "the data is still there after recreating the container" \
  test "$(curl -s -H "x-api-key: $key" "$URL/collections/demo" | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).count' 2>/dev/null)" = "$before"
if docker logs "$(cid)" 2>&1 | grep -qF "$key"; then fail "the API key never appears in the logs"; else pass "the API key never appears in the logs"; fi
CID=$(cid)

# --- SIGTERM: a clean stop ----------------------------------------------------------
log "stopping with SIGTERM (docker stop, grace period 90 s)"
t0=$(date +%s%N)
docker stop -t 90 "$CID" >/dev/null
stop_ms=$((($(date +%s%N) - t0) / 1000000))
code=$(docker inspect -f '{{.State.ExitCode}} oom={{.State.OOMKilled}}' "$CID")
logs=$(docker logs "$CID" 2>&1)
log "last log lines:"
tail -n 4 <<<"$logs" | sed 's/^/    /'
check "SIGTERM stop exits 0 in $stop_ms ms (exit code $code)" test "$code" = "0 oom=false"
check "shutdown logged the signal" bash -c 'grep -q "\"signal\":\"SIGTERM\"" <<<"$1"' _ "$logs"
if grep -qiE '"msg":"[^"]*stopped' <<<"$(tail -n 3 <<<"$logs")"; then
  pass "a final \"stopped\" log line"
else
  warn "no final \"stopped\" log line (the service may not print one yet)"
fi
health_lines=$(grep -c '"url":"/health"' <<<"$logs")
check "health checks do not fill the log ($health_lines lines mention /health)" test "$health_lines" = 0

# --- summary ------------------------------------------------------------------------
echo
echo "== docker smoke summary ($MODE network, ${COMPOSE[*]}, image $size, $(($(date +%s) - t_start)) s) =="
printf '%s\n' "${results[@]}"
if [ "$failed" = 0 ]; then echo "RESULT: PASS"; else echo "RESULT: FAIL"; fi
echo "docker smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
