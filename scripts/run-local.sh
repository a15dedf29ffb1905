#!/usr/bin/env bash
# make run: start local backends for the example config (when nothing listens
# on their ports yet) and serve the config with ferry in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
conf="${1:-conf/ferry.yml}"
state=.run
mkdir -p "$state"

need=()
command -v redis-server >/dev/null || need+=(redis-server redis-tools)
command -v memcached >/dev/null || need+=(memcached)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "run: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "run: missing ${need[*]}: sudo apt-get install ${need[*]}" >&2; exit 1
  fi
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

# "redis PORT" or "memcache PORT" for every 127.0.0.1 server of every pool
# (a pool is redis when it says `redis: true` or `protocol: redis`).
servers=$(awk '
  /^[^ #][^:]*:/ { flush(); pool=1; redis=0; n=0; next }
  /^[ ]+redis:[ ]*true/ { redis=1 }
  /^[ ]+protocol:[ ]*redis/ { redis=1 }
  /^[ ]+-[ ]*127\.0\.0\.1:[0-9]+/ { match($0, /127\.0\.0\.1:[0-9]+/); ports[n++]=substr($0, RSTART+10, RLENGTH-10) }
  function flush() { for (i = 0; i < n; i++) print (redis ? "redis " : "memcache ") ports[i]; n=0 }
  END { flush() }' "$conf")

while read -r kind port; do
  [ -n "$port" ] || continue
  if port_open "$port"; then
    echo "run: something already listens on 127.0.0.1:$port, using it"
    continue
  fi
  echo "run: starting $kind on 127.0.0.1:$port"
  if [ "$kind" = redis ]; then
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$state" --logfile "$PWD/$state/redis-$port.log" --daemonize no &
  else
    memcached -l 127.0.0.1 -p "$port" -U 0 $([ "$(id -u)" = 0 ] && echo -u root) >"$state/memcached-$port.log" 2>&1 &
  fi
  pids+=($!)
  for _ in $(seq 100); do port_open "$port" && break; sleep 0.05; done
done <<< "$servers"

echo "run: ferry serving $conf (try: redis-cli -p 22121 set a 1; printf 'set k 0 0 1\\r\\nv\\r\\nget k\\r\\n' | nc -q1 127.0.0.1 22122)"
./bin/ferry -c "$conf" &
pids+=($!)
wait "${pids[-1]}"
