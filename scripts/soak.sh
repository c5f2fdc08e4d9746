#!/usr/bin/env bash
# The soak for MINUTES (default 30): crates/liu/tests/soak.rs with LIU_SOAK_MINUTES, which
# scripts/test.sh runs for 2 minutes. One FFmpeg 9 publisher looping a clip, 200 viewers that
# stay (RTMP, HTTP-FLV, HLS, and an FFmpeg decoder), 200 that churn every few seconds, and a
# trickle of hostile clients; one line per minute (VmRSS, open fds, threads, viewers playing,
# stalls, timestamps that went back, hostile clients closed), then the test's verdict.
#   scripts/soak.sh [MINUTES]
# The whole output goes to target/soak/soak-DATE.log; the minute lines to the terminal too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
die() { echo "scripts/soak.sh: error: $*" >&2; exit 1; }
minutes=${1:-30}
[[ "$minutes" =~ ^[1-9][0-9]*$ ]] || die "MINUTES must be a whole number >= 1: $minutes"

# shellcheck source=scripts/clients.sh
source scripts/clients.sh
cargo build --release -p liu --tests || die "cargo build failed"
mkdir -p target/soak
log=target/soak/soak-$(date -u +%Y%m%dT%H%M%SZ).log
echo "soak for $minutes min; output in $log"
status=0
LIU_SOAK_MINUTES=$minutes cargo test --release -p liu --test soak -- --nocapture >"$log" 2>&1 || status=$?
grep -E '^(soak|minute|soak over)|panicked|test result' "$log" || true
[ "$status" -eq 0 ] || die "the soak failed (see $log)"
