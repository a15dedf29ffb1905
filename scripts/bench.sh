#!/usr/bin/env bash
# make bench: builds ferry, ferry-bench and the suite, installs the comparison
# servers when missing (apt-get, as root), then runs bench/suite, which
# compares ferry with nutcracker (twemproxy) and with direct backend access
# and writes its markdown table to bench/results/latest.md (and the terminal).
# System calls per request come from perf stat where perf is installed and
# can count syscall tracepoints (Debian: linux-perf, which this script does
# not install); elsewhere those columns say n/a.
#
#   scripts/bench.sh                 # full run, about 14 minutes
#   scripts/bench.sh --quick         # smoke test, about 3.5 minutes
#   scripts/bench.sh --only 'GET'    # some loads; see bin/ferry-suite --help
#   scripts/bench.sh --no-handoff    # without the --threads 2 hand-off row
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || need+=(redis-tools)
command -v memcached >/dev/null 2>&1 || need+=(memcached)
[ -x /usr/sbin/nutcracker ] || command -v nutcracker >/dev/null 2>&1 || need+=(nutcracker)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "bench.sh: installing ${need[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
		# The Debian packages start system services; the suite runs its own.
		for svc in redis-server memcached nutcracker; do
			command -v systemctl >/dev/null 2>&1 && systemctl stop "$svc" >/dev/null 2>&1 || true
		done
	else
		echo "bench.sh: missing ${need[*]}; install them (Debian: apt-get install ${need[*]}) or run as root" >&2
		exit 1
	fi
fi

nc=/usr/sbin/nutcracker
[ -x "$nc" ] || nc=$(command -v nutcracker)

make build GO="$GO"
[ -x bin/ferry-bench ] || "$GO" build -trimpath -o bin/ferry-bench ./bench/cmd/ferry-bench
"$GO" build -trimpath -o bin/ferry-suite ./bench/suite

export FERRY_SUITE_INVOCATION="scripts/bench.sh${*:+ $*}"
exec bin/ferry-suite --ferry bin/ferry --bench bin/ferry-bench --nutcracker "$nc" "$@"
