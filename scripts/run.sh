#!/usr/bin/env bash
# Start DocAnalyst with embedded defaults: migrate, create the first admin, start Redis and a
# Chroma server on loopback when none is reachable, a Celery worker on every queue (with the
# scheduler that requeues stalled documents) and the web server on 127.0.0.1:$PORT.
# Ctrl-C stops all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
export VAR_DIR=${VAR_DIR:-$PWD/var}
export PORT=${PORT:-8000}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export CHROMA_HOST=${CHROMA_HOST:-127.0.0.1}
export CHROMA_PORT=${CHROMA_PORT:-8001}
export CHROMA_PATH=${CHROMA_PATH:-$VAR_DIR/chroma}
mkdir -p "$VAR_DIR/logs" "$VAR_DIR/redis" "$CHROMA_PATH"
py=.venv/bin/python

if [ -z "${SECRET_KEY:-}${SECRET_KEY_FILE:-}" ]; then
  if [ ! -s "$VAR_DIR/secret_key" ]; then
    (umask 077; $py -c 'import secrets; print(secrets.token_urlsafe(50))' > "$VAR_DIR/secret_key")
  fi
  export SECRET_KEY_FILE="$VAR_DIR/secret_key"
fi

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo "Stopping DocAnalyst…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM

wait_for() {  # wait_for <what> <seconds> <command…>
  local what=$1 seconds=$2; shift 2
  for _ in $(seq 1 $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "error: $what did not start; see $VAR_DIR/logs/" >&2
  return 1
}

$py manage.py migrate --noinput -v0
$py manage.py collectstatic --noinput -v0
$py manage.py ensure_admin

if ! $py scripts/ping.py redis "$REDIS_URL"; then
  read -r redis_host redis_port < <($py scripts/ping.py redis-address "$REDIS_URL")
  case "$redis_host" in 127.*|localhost|::1) ;; *) echo "error: Redis at $REDIS_URL is not reachable" >&2; exit 1;; esac
  echo "Starting Redis on $redis_host:$redis_port (data in $VAR_DIR/redis)"
  redis-server --port "$redis_port" --bind "$redis_host" --dir "$VAR_DIR/redis" --appendonly yes --save "" \
    --daemonize no --logfile "$VAR_DIR/logs/redis.log" &
  pids+=($!)
  wait_for Redis 20 $py scripts/ping.py redis "$REDIS_URL"
fi

if ! $py scripts/ping.py chroma "$CHROMA_HOST" "$CHROMA_PORT"; then
  case "$CHROMA_HOST" in 127.*|localhost|::1) ;; *) echo "error: Chroma at $CHROMA_HOST:$CHROMA_PORT is not reachable" >&2; exit 1;; esac
  echo "Starting Chroma on $CHROMA_HOST:$CHROMA_PORT (data in $CHROMA_PATH)"
  ANONYMIZED_TELEMETRY=False .venv/bin/chroma run --path "$CHROMA_PATH" --host "$CHROMA_HOST" --port "$CHROMA_PORT" \
    > "$VAR_DIR/logs/chroma.log" 2>&1 &
  pids+=($!)
  wait_for Chroma 60 $py scripts/ping.py chroma "$CHROMA_HOST" "$CHROMA_PORT"
fi

.venv/bin/celery -A docanalyst worker --beat --schedule "$VAR_DIR/celerybeat-schedule" \
  --queues parse,embed,compliance,default --concurrency "${WORKER_CONCURRENCY:-2}" --without-gossip --without-mingle \
  --loglevel INFO &
pids+=($!)

.venv/bin/gunicorn docanalyst.wsgi:application --bind "127.0.0.1:$PORT" --workers "${WEB_WORKERS:-2}" \
  --threads 4 --timeout 300 --access-logfile - &
pids+=($!)
wait_for "the web server" 30 $py scripts/ping.py http "http://127.0.0.1:$PORT/healthz"
echo
echo "DocAnalyst is running at http://127.0.0.1:$PORT/  (Ctrl-C stops everything)"
echo

wait -n "${pids[@]}"
echo "A DocAnalyst process exited; stopping the others." >&2
exit 1
