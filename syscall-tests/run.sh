#!/usr/bin/env bash
# Builds the conformance test binaries static, builds the runner, and runs the suite:
# natively always, and inside rvisor when RVISOR names the rvisor binary.
#
#   bash syscall-tests/run.sh                                  # native only
#   RVISOR=target/release/rvisor bash syscall-tests/run.sh     # native + sandbox (ptrace)
#   RVISOR=... PLATFORM=kvm bash syscall-tests/run.sh
#
# The test binaries are static-pie glibc executables (no musl target is installed here), so
# they run in a bare rootfs; they live in their own target dir so the RUSTFLAGS change does
# not invalidate the workspace's normal build cache. `--target` is explicit so that RUSTFLAGS
# apply to the target only: a crt-static host cannot build proc-macros (clap_derive).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

platform="${PLATFORM:-ptrace}"

target="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release -p syscall-tests --bins --target-dir target/static --target "$target"
cargo build --release -p syscall-tests --bin runner

bins="target/static/$target/release"
if [[ -n "${RVISOR:-}" ]]; then
    # Staged outside /tmp, away from the checkout: the binaries are read through the root
    # overlay like any host file (writes to /tmp by the tests stay in the sandbox).
    stage="$(mktemp -d /var/tmp/rvisor-syscall-tests.XXXXXX)"
    trap 'rm -rf "$stage"' EXIT
    find "$bins" -maxdepth 1 -type f -executable ! -name runner -exec cp {} "$stage/" \;
    bins="$stage"
fi
args=(--bins "$bins" --expected syscall-tests/expected-failures --platform "$platform")
if [[ -n "${RVISOR:-}" ]]; then
    args+=(--rvisor "$RVISOR")
fi
target/release/runner "${args[@]}"
