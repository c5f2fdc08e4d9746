#!/usr/bin/env bash
# Sourced by scripts/test.sh and scripts/soak.sh: installs the media clients the interop tests
# drive (when missing) and exports their paths. Never skips: a missing client is an error.
#   FFmpeg 9 (static, PyPI imageio-ffmpeg) -> LIU_FFMPEG
#   FFmpeg 5.1 (Debian ffmpeg)             -> LIU_FFMPEG5
#   rtmpdump 2.4 (Debian, librtmp)          -> LIU_RTMPDUMP
# Expects ROOT (the repository) and die() from the sourcing script.

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

