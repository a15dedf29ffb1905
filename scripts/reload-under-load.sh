#!/usr/bin/env bash
# Measures reloads under load: ferry serves a redis pool of 3 or 4 local
# redis-servers; ferry-bench drives 50 connections pipelining 16 requests
# for DURATION seconds, once in steady state and once while the pool's
# servers change (a 4th server added, then removed) by SIGHUP every
# INTERVAL seconds. Prints both runs' results: errors (must be 0) and
# latency percentiles. Needs redis-server; builds bin/ferry and
# bin/ferry-bench. Everything it starts is stopped on exit.
#   scripts/reload-under-load.sh [DURATION=10] [INTERVAL=0.2]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
interval=${2:-0.2}
make -s build >/dev/null
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rports=()
for i in 1 2 3 4; do
  p=$(port); rports+=("$p")
  redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >/dev/null 2>&1 &
  pids+=($!)
done
listen=$(port)
conf() { # conf N: the pool with the first N servers
  printf 'alpha:\n  listen: 127.0.0.1:%s\n  redis: true\n  timeout: 1000\n  servers:\n' "$listen"
  for i in $(seq 0 $(($1 - 1))); do printf '    - 127.0.0.1:%s:1 r%s\n' "${rports[$i]}" "$i"; done
}
conf 3 > "$dir/ferry.yml"
bin/ferry -c "$dir/ferry.yml" --admin off -s 0 --threads 1 -o "$dir/ferry.log" &
fpid=$!; pids+=("$fpid")
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$listen") 2>/dev/null && break; sleep 0.05; done
bench() { bin/ferry-bench -p "$listen" -t 2 -c 25 --pipeline 16 --ratio 1:4 --test-time "$duration" --hide-histogram --progress=false --label "$1"; }
echo "== steady state: 50 connections, pipeline 16, ${duration}s"
bench steady
echo "== reloading every ${interval}s (a 4th server added, then removed) during the same load"
(
  n=0
  while kill -0 "$fpid" 2>/dev/null; do
    conf $((3 + n % 2)) > "$dir/next.yml" && mv "$dir/next.yml" "$dir/ferry.yml"
    kill -HUP "$fpid"; n=$((n + 1)); sleep "$interval"
  done
) &
pids+=($!)
bench reloading
echo "== reloads applied: $(grep -c 'msg="configuration reloaded"' "$dir/ferry.log"), failed: $(grep -c 'configuration reload failed' "$dir/ferry.log" || true)"
