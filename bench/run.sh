#!/usr/bin/env bash
# bench/run.sh — the one command of the benchmark scoreboard: installs what it needs, builds
# rvisor and the workloads, prepares the data set (once, under /var/tmp/rvisor-bench), runs
# every workload under native, runc, runsc and rvisor-ptrace, interleaved (bench/driver.py), and
# prints the table and draws the chart (bench/report.py).
#
#   bash bench/run.sh                       # 5 rounds, all workloads, all runtimes
#   bash bench/run.sh --rounds 3 --only getpid,fork_exec --runtimes native,rvisor-ptrace
#   bash bench/run.sh --quick --out /tmp/b  # 1 round, tiny iteration counts (smoke test)
#   bash bench/run.sh --only net            # only the network workloads (bench/net.py)
#   --require LIST                          # exit 1 if one of these runtimes had to be skipped
#
# Output (default bench/out/): results.csv (raw per-run figures), meta.json, run.log, table.txt,
# ratios.png. `python3 bench/report.py --out DIR` redraws the table and chart from the CSV.
# Exits non-zero only when a workload crashed or printed no number under a runtime (unless
# bench/expected-errors.txt lists that pair), a --require'd runtime was skipped, or a tool or
# build is missing: the figures themselves are never judged.
set -euo pipefail
begin=$(date +%s)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="$here/out"
rounds=5
quick=0
only=""
runtimes=""
require=""

usage() {
    # The comment block at the top of this file, without the '#'s.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit "${1:-2}"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
        --quick) quick=1; shift ;;
        --only) only="${2:?--only needs a list}"; shift 2 ;;
        --runtimes) runtimes="${2:?--runtimes needs a list}"; shift 2 ;;
        --require) require="${2:?--require needs a list}"; shift 2 ;;
        --out) out="${2:?--out needs a directory}"; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; usage ;;
    esac
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# Debian's python3, never a pyenv shim on PATH: matplotlib comes from python3-matplotlib.
py=/usr/bin/python3
work=/var/tmp/rvisor-bench

# --- tools ---------------------------------------------------------------------------------------
# Installed when missing: gcc with the static libc, busybox, matplotlib for the chart, the
# runc/runsc packages when those runtimes are selected, and wrk, nginx-light, redis-server and
# docker.io when network workloads are. A runtime or a workload that still cannot run is
# skipped (with the reason), not fatal; so is the chart.
wants() { [ -z "$runtimes" ] || [[ ",$runtimes," == *",$1,"* ]]; }
need=()
[ -x /bin/busybox ] || need+=(busybox-static)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
[ -x "$py" ] || need+=(python3)
"$py" -c 'import matplotlib' >/dev/null 2>&1 || need+=(python3-matplotlib)
wants runc && ! command -v runc >/dev/null 2>&1 && need+=(runc)
wants runsc && ! command -v runsc >/dev/null 2>&1 && need+=(runsc)
# The network workloads' servers and clients (bench/net.py), and Docker for their containers.
wants_net() {
    [ -z "$only" ] && return 0
    local w
    for w in net tcp_bridge nginx_wrk redis redis_set redis_get; do
        [[ ",$only," == *",$w,"* ]] && return 0
    done
    return 1
}
if wants_net; then
    command -v wrk >/dev/null 2>&1 || need+=(wrk)
    [ -x /usr/sbin/nginx ] || need+=(nginx-light)
    command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
    command -v redis-benchmark >/dev/null 2>&1 || need+=(redis-tools)
    { command -v dockerd && command -v docker; } >/dev/null 2>&1 || need+=(docker.io)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "== apt-get install ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }; then
        echo "run.sh: apt-get install ${need[*]} failed; going on with what is there" >&2
    fi
fi
for tool in gcc "$py" /bin/busybox; do
    command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: $tool is missing" >&2; exit 1; }
done

# --- builds --------------------------------------------------------------------------------------
echo "== cargo build --release -p runsc-cli" >&2
(cd "$root" && cargo build --release -q -p runsc-cli)
rvisor="$root/target/release/rvisor"

# The workloads binary lives outside /tmp (rvisor's /tmp is its own tmpfs) at one path that the
# runc bundle bind-mounts too.
mkdir -p "$work/bin"
echo "== gcc -O2 -static bench/workloads.c" >&2
gcc -O2 -static -pthread -Wall -Wextra -o "$work/bin/workloads.new" "$here/workloads.c"
mv "$work/bin/workloads.new" "$work/bin/workloads"

# --- measure and report --------------------------------------------------------------------------
args=(--out "$out" --work "$work" --bin "$work/bin/workloads" --rvisor "$rvisor" --rounds "$rounds")
[ "$quick" = 1 ] && args+=(--quick)
[ -n "$only" ] && args+=(--only "$only")
[ -n "$runtimes" ] && args+=(--runtimes "$runtimes")
[ -n "$require" ] && args+=(--require "$require")
"$py" "$here/driver.py" "${args[@]}"
echo "== whole run so far: $(( $(date +%s) - begin )) s; output in $out" >&2
# The report's last line is `bench: N passed, N failed, N skipped`; its status is the run's.
exec "$py" "$here/report.py" --out "$out"
