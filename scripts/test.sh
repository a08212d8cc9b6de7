#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests, end-to-end and
# networking tests (scripts/net-tests.sh), the syscall
# conformance suite natively and under `rvisor do` on the ptrace platform, the Debian userland
# acceptance tests (scripts/debian-tests.sh, over a cached debootstrap root), the Docker and
# containerd integration (scripts/docker-tests.sh), and a smoke run of the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== lint inheritance"
for f in $(git ls-files '*Cargo.toml' | grep -v '^Cargo.toml$'); do
    grep -q '^\[lints\]' "$f" && grep -A1 '^\[lints\]' "$f" | grep -q 'workspace = true' \
        || { echo "$f does not inherit the workspace lints"; exit 1; }
done
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
# ptrace and chroot work on the project machines: a test that would skip for lack of them
# fails instead (it is not a pass).
RVISOR_REQUIRE_CAPS=1 cargo test --workspace
echo "== end-to-end"
cargo build --release -p runsc-cli
RVISOR="$PWD/target/release/rvisor" bash runsc-cli/tests/e2e.sh
echo "== networking (the sandbox's stack on loopback and on a veth it takes over)"
RVISOR="$PWD/target/release/rvisor" bash scripts/net-tests.sh
echo "== console bridge (rvisor do --console-socket: a shell on a sandbox pty)"
timeout 120 env RVISOR="$PWD/target/release/rvisor" python3 scripts/console-e2e.py
echo "== syscall conformance (native + ptrace)"
RVISOR="$PWD/target/release/rvisor" bash syscall-tests/run.sh
echo "== Debian userland (native chroot vs rvisor do --rootfs; cases needing a flag the binary lacks SKIP)"
debian_root="$(bash scripts/debian-root.sh)"
DEBIAN_ROOT="$debian_root" RVISOR="$PWD/target/release/rvisor" bash scripts/debian-tests.sh
echo "== Docker and containerd (a private dockerd and containerd with rvisor as a runtime)"
DEBIAN_ROOT="$debian_root" RVISOR="$PWD/target/release/rvisor" bash scripts/docker-tests.sh
echo "== benchmark smoke run (native + ptrace; fails only if a workload gives no number)"
# One round at tiny iteration counts: the figures are not judged, only that every workload runs.
bench_out="$(mktemp -d /var/tmp/rvisor-bench-smoke.XXXXXX)"
trap 'rm -rf "$bench_out"' EXIT
bash bench/run.sh --quick --runtimes native,rvisor-ptrace --require native,rvisor-ptrace \
    --out "$bench_out"
