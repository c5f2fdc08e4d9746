#!/usr/bin/env bash
# Installs the media clients the interop tests drive (when missing), then runs every test.
#   FFmpeg 9 (static, PyPI imageio-ffmpeg) -> LIU_FFMPEG
#   FFmpeg 5.1 (Debian ffmpeg)             -> LIU_FFMPEG5
#   rtmpdump 2.4 (Debian, librtmp)          -> LIU_RTMPDUMP
# plus scripts/browser-deps.sh (Chromium, npm packages).
# Extra arguments are passed to `cargo test`. Never skips: a missing client is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

die() { echo "scripts/test.sh: error: $*" >&2; exit 1; }

# --- FFmpeg 9 from PyPI (imageio-ffmpeg ships a static ffmpeg, no ffprobe) ---
IMAGEIO_VERSION=0.8.1
DEPS_PY="$ROOT/.deps/python"
ffmpeg9_path() {
    PYTHONPATH="$DEPS_PY" python3 -c "import imageio_ffmpeg;print(imageio_ffmpeg.get_ffmpeg_exe())" 2>/dev/null
}
installed_imageio=$(PYTHONPATH="$DEPS_PY" python3 -c \
    "import importlib.metadata as m;print(m.version('imageio-ffmpeg'))" 2>/dev/null || true)
if [ "$installed_imageio" != "$IMAGEIO_VERSION" ]; then
    echo "installing imageio-ffmpeg==$IMAGEIO_VERSION into .deps/python"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --upgrade \
        --target "$DEPS_PY" "imageio-ffmpeg==$IMAGEIO_VERSION" \
        || die "pip install imageio-ffmpeg==$IMAGEIO_VERSION failed"
fi
LIU_FFMPEG=$(ffmpeg9_path || true)
[ -n "$LIU_FFMPEG" ] && [ -x "$LIU_FFMPEG" ] || die "FFmpeg 9 binary not found in imageio-ffmpeg (.deps/python)"
export LIU_FFMPEG

# --- Debian packages: rtmpdump (librtmp) and ffmpeg 5.1 ---
missing=()
command -v rtmpdump >/dev/null 2>&1 || missing+=(rtmpdump)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi
LIU_RTMPDUMP=$(command -v rtmpdump || true)
LIU_FFMPEG5=$(command -v ffmpeg || true)
[ -n "$LIU_RTMPDUMP" ] || die "rtmpdump is missing after installation"
[ -n "$LIU_FFMPEG5" ] || die "Debian ffmpeg is missing after installation"
export LIU_RTMPDUMP LIU_FFMPEG5
"$LIU_FFMPEG5" -hide_banner -version | head -n1 | grep -q 'version 5\.' \
    || die "$LIU_FFMPEG5 is not FFmpeg 5.x (Debian 12's ffmpeg package): $("$LIU_FFMPEG5" -hide_banner -version | head -n1)"

# --- versions of the clients used ---
echo "clients:"
echo "  LIU_FFMPEG   = $LIU_FFMPEG ($("$LIU_FFMPEG" -hide_banner -version | head -n1))"
echo "  LIU_FFMPEG5  = $LIU_FFMPEG5 ($("$LIU_FFMPEG5" -hide_banner -version | head -n1))"
# rtmpdump prints its banner on stderr and exits non-zero for -h
echo "  LIU_RTMPDUMP = $LIU_RTMPDUMP ($("$LIU_RTMPDUMP" -h 2>&1 | grep -m1 -i rtmpdump || echo '?'))"

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
