#!/usr/bin/env bash
# Runs every fuzz target (libFuzzer via cargo-fuzz) for SECONDS each (default 60).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# cargo-fuzz needs nightly-only compiler flags; on the stable toolchain this
# script sets RUSTC_BOOTSTRAP=1 for the fuzz build only.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(amf0 flv chunk handshake server_session rtmpt hls_segmenters codecs ws_frames http_requests)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for t in "${targets[@]}"; do
    echo "== fuzz target $t for ${secs}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" -- -max_total_time="$secs" -rss_limit_mb=2048
done
