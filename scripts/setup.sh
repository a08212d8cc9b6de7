#!/usr/bin/env bash
# Installs what rvisor's build, demo and tests need on a fresh Debian bookworm machine.
set -euo pipefail
need=()
command -v busybox >/dev/null 2>&1 && [ -x /bin/busybox ] || need+=(busybox-static)
command -v strace >/dev/null 2>&1 || need+=(strace)
# sentry/build.rs compiles the vDSO with gcc; the end-to-end checks compile test programs.
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
# The end-to-end checks run Debian's python3 (threads, subprocess, multiprocessing).
[ -x /usr/bin/python3 ] || need+=(python3)
# The benchmark (bench/run.sh, smoke-run by test.sh) builds its workloads with a static libc
# and draws its chart with Debian's matplotlib.
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1 || need+=(python3-matplotlib)
# scripts/debian-root.sh builds the Debian root of the userland tests with debootstrap.
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
# scripts/docker-tests.sh runs its own dockerd and containerd with rvisor as a runtime.
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v ctr >/dev/null 2>&1 || need+=(containerd)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
