#!/usr/bin/env bash
# make run: start local backends for the example config (when nothing listens
# on their ports yet) and serve the config with ferry in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
conf="${1:-conf/ferry.yml}"
state=.run
mkdir -p "$state"

if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "run: installing redis-server"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null
  else
    echo "run: redis-server is missing: sudo apt-get install redis-server" >&2; exit 1
  fi
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

# Every "127.0.0.1:PORT:W" server line of a redis pool in the config.
for port in $(grep -Eo '^\s*-\s*127\.0\.0\.1:[0-9]+' "$conf" | grep -Eo '[0-9]+$'); do
  if port_open "$port"; then
    echo "run: something already listens on 127.0.0.1:$port, using it"
    continue
  fi
  echo "run: starting redis-server on 127.0.0.1:$port"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$state" --logfile "$PWD/$state/redis-$port.log" --daemonize no &
  pids+=($!)
  for _ in $(seq 100); do port_open "$port" && break; sleep 0.05; done
done

echo "run: ferry serving $conf (try: redis-cli -p 22121 set a 1)"
./bin/ferry -c "$conf" &
pids+=($!)
wait "${pids[-1]}"
