#!/usr/bin/env bash
# The main job on a fresh machine: install, build, and list the host's root from busybox
# running inside the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p runsc-cli
exec target/release/rvisor do /bin/busybox ls -l /
