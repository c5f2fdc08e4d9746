#!/usr/bin/env bash
# Installs the media clients the interop tests drive (when missing: scripts/clients.sh for
# FFmpeg 9, FFmpeg 5.1 and rtmpdump, scripts/browser-deps.sh for Chromium and the npm packages),
# then runs every test, the 2-minute soak (crates/liu/tests/soak.rs) among them.
# Extra arguments are passed to `cargo test`. Never skips: a missing client is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

die() { echo "scripts/test.sh: error: $*" >&2; exit 1; }

# --- FFmpeg 9, FFmpeg 5.1, rtmpdump ---
# shellcheck source=scripts/clients.sh
source scripts/clients.sh

# --- the browser test's own dependencies (Chromium, npm packages) ---
bash scripts/browser-deps.sh || die "scripts/browser-deps.sh failed"

export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
# --no-fail-fast: one failing test binary must not hide the results of the others.
tests=0
cargo test --workspace --release --no-fail-fast "$@" || tests=$?

# --- instruction-count regression guard (callgrind), see bench/instructions.txt ---
guard=0
bash scripts/instructions.sh || guard=$?

[ "$tests" -eq 0 ] || die "cargo test failed"
[ "$guard" -eq 0 ] || die "instruction-count regression (scripts/instructions.sh)"
echo "scripts/test.sh: all tests passed"
