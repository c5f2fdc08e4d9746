#!/usr/bin/env bash
# Resident memory of Liu before, during and after a load of N audio-only streams
# (docs/performance.md, "Memory after a load").
#   bench/memory.sh [N] [ROUNDS]
# Builds nothing: uses target/release/liu (cargo build --release first), or the binary in $LIU
# (e.g. one built with --features jemalloc or mimalloc: "Which allocator"). Needs FFmpeg for the
# clip (LIU_FFMPEG or ffmpeg on PATH, as `liu bench clip` does). Ports: 19350 (RTMP), 18080 (HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
LIU=${LIU:-./target/release/liu}
N=${1:-300}
ROUNDS=${2:-2}
WORK=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$LIU" bench clip --audio-only --seconds 20 --out "$WORK/audio.flv" >/dev/null 2>&1
printf '[hls]\nenabled = false\n' > "$WORK/liu.toml"
RUST_LOG=warn "$LIU" serve --rtmp 127.0.0.1:19350 --http 127.0.0.1:18080 -c "$WORK/liu.toml" \
    > "$WORK/server.log" 2>&1 &
pid=$!
sleep 1
rss() { awk '/VmRSS/{print $2}' "/proc/$pid/status"; }
publish() { "$LIU" bench publish --url "rtmp://127.0.0.1:19350/live/$1" --file "$WORK/audio.flv" \
    --streams "$2" --duration "$3" >/dev/null 2>&1; }
echo "started: $(rss) KiB"
publish warm 2 3
sleep 12
echo "idle after a warm-up: $(rss) KiB"
for round in $(seq "$ROUNDS"); do
    publish "load$round" "$N" 10 &
    load=$!
    peak=0
    while kill -0 "$load" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.5; done
    echo "round $round: peak $peak KiB with $N streams, $(rss) KiB at their end"
    sleep 12
    echo "round $round: $(rss) KiB 12 s later"
done
sleep 48
echo "a minute after the last round: $(rss) KiB"
