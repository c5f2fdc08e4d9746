#!/usr/bin/env bash
# bench/compare.sh: Liu against nginx-rtmp, node-media-server and xiu, in one run.
#
# Installs what is missing (Debian nginx + libnginx-mod-rtmp with apt; node-media-server from npm
# into .deps/nms; xiu from crates.io into .deps/xiu; the 720p clip into .deps/compare), builds Liu
# in release, then for every server x protocol x N starts a fresh server on loopback ports with a
# generated configuration, pinned to core 0, publishes the clip with `liu bench publish --loop`
# and plays it with `liu bench play -n N` (both on core 1), sampling the server's process tree
# CPU and RSS from /proc (bench/compare.py). Writes the table into docs/performance.md between
# <!-- compare:begin --> and <!-- compare:end --> and keeps the raw files under target/compare/.
#
# Usage: bench/compare.sh [-n "100 1000"] [--servers "..."] [--protos "..."] [--duration S]
#                         [--rounds R] [--rate R] [--streams K] [--clip video|audio]
#                         [--section NAME --title TEXT] [--doc FILE|none] [--no-build]
# or the same through the environment: N="1000" SERVERS="liu-mw0 nginx-rtmp" bench/compare.sh
#   servers: liu-mw0 liu-mw40 liu-mw350 nginx-rtmp nms xiu   (all by default; liu-mwN for any
#            merge window of N ms)
#   protos:  rtmp http-flv ws-flv hls ll-hls rtmps rtmpe https-flv  (rtmp and http-flv by default; nginx-rtmp:
#            RTMP only; hls = STREAM.m3u8 with MPEG-TS segments, ll-hls = STREAM/index.m3u8 with
#            LL-HLS parts and blocking reloads; rtmps, rtmpe, https-flv with a self-signed
#            certificate: Liu only)
#   --rounds R: run every row R times (default 2), the servers in the listed order in odd
#            rounds and reversed in even ones; the table gives each round's ratio and the spread;
#   --streams K: publish K streams at once and spread the N viewers over them (default 1);
#   --clip audio: an audio-only clip (AAC 128 kbit/s) instead of the 720p one;
#   --section NAME: write between <!-- NAME:begin --> and <!-- NAME:end --> (default compare),
#            under the heading TEXT (for the scale scenarios: see docs/performance.md);
#   DOC=none (or --doc none) leaves docs/performance.md alone (a quick run);
#   --no-build uses target/release/liu as it is (while debugging this script);
#   LIU_BIN=PATH uses that liu binary, not rebuilt (e.g. one built with --features jemalloc).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START_EPOCH=$(date +%s)

# ------------------------------------------------------------------ settings
NMS_VERSION=4.4.3        # node-media-server (npm), as measured in ../shared/notes/peers.md
XIU_VERSION=0.13.0       # xiu (crates.io), the 0.13 line of peers.md
IMAGEIO_VERSION=0.8.1    # FFmpeg 9 for the clip, as scripts/test.sh
CLIP_SECONDS=60

CMD_ENV=""
for v in N SERVERS PROTOS DURATION ROUNDS RATE STREAMS CLIP_KIND SECTION TITLE DOC QUIET_WAIT LIU_BIN; do
    [ -n "${!v+x}" ] && CMD_ENV+="$v=\"${!v}\" "
done
CMD_LINE="${CMD_ENV}bench/compare.sh${*:+ $*}"

N_LIST=${N:-"100 1000"}
SERVERS=${SERVERS:-"liu-mw0 liu-mw40 liu-mw350 nginx-rtmp nms xiu"}
PROTOS=${PROTOS:-"rtmp http-flv"}
DURATION=${DURATION:-30}
ROUNDS=${ROUNDS:-2}
RATE=${RATE:-200}
STREAMS=${STREAMS:-1}
CLIP_KIND=${CLIP_KIND:-video}
SECTION=${SECTION:-compare}
TITLE=${TITLE:-}
QUIET_WAIT=${QUIET_WAIT:-120}   # seconds a row waits for other processes' load to end
DOC=${DOC:-docs/performance.md}
BUILD=1

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
        -n|--viewers) N_LIST=$2; shift 2 ;;
        --servers) SERVERS=$2; shift 2 ;;
        --protos) PROTOS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --streams) STREAMS=$2; shift 2 ;;
        --clip) CLIP_KIND=$2; shift 2 ;;
        --section) SECTION=$2; shift 2 ;;
        --title) TITLE=$2; shift 2 ;;
        --doc) DOC=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench/compare.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
for s in $SERVERS; do
    case "$s" in liu-mw|liu-mw*[!0-9]*) echo "bench/compare.sh: bad server: $s" >&2; exit 2 ;;
        liu-mw*|nginx-rtmp|nms|xiu) ;;
        *) echo "bench/compare.sh: unknown server: $s" >&2; exit 2 ;; esac
done
for p in $PROTOS; do
    case "$p" in rtmp|http-flv|ws-flv|hls|ll-hls|rtmps|rtmpe|https-flv) ;; *) echo "bench/compare.sh: unknown protocol: $p" >&2; exit 2 ;; esac
done
for n in $N_LIST; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench/compare.sh: bad N: $n" >&2; exit 2; }
done
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || { echo "bench/compare.sh: bad duration: $DURATION" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "bench/compare.sh: bad round count: $ROUNDS" >&2; exit 2; }
[[ "$RATE" =~ ^[1-9][0-9]*$ ]] || { echo "bench/compare.sh: bad rate: $RATE" >&2; exit 2; }
[[ "$STREAMS" =~ ^[1-9][0-9]*$ ]] || { echo "bench/compare.sh: bad stream count: $STREAMS" >&2; exit 2; }
[[ "$SECTION" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "bench/compare.sh: bad section: $SECTION" >&2; exit 2; }
case "$CLIP_KIND" in video|audio) ;; *) echo "bench/compare.sh: --clip video or audio" >&2; exit 2 ;; esac
# per-row options of liu bench publish / play
PUB_OPTS=(); PLAY_OPTS=()
[ "$STREAMS" = 1 ] || { PUB_OPTS+=(--streams "$STREAMS"); PLAY_OPTS+=(--streams "$STREAMS"); }
[ "$CLIP_KIND" = video ] || PLAY_OPTS+=(--audio-only)

log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }
die() { echo "bench/compare.sh: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
PY="python3 $ROOT/bench/compare.py"

[ "$(nproc --all)" -ge 2 ] || die "needs 2 cores (server on core 0, load tool on core 1); nproc = $(nproc --all)"
command -v taskset >/dev/null || die "taskset (util-linux) is missing"
command -v timeout >/dev/null || die "timeout (coreutils) is missing"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 4096 ] || log "warning: open-file limit $(ulimit -n); large N will fail"

DEPS=$ROOT/.deps
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$ROOT/target/compare/$STAMP
mkdir -p "$RAW/rows" "$DEPS/compare"
ln -sfn "$STAMP" "$ROOT/target/compare/latest"
WORK=$(mktemp -d /tmp/liu-compare.XXXXXX)

# Every background process we start goes into ACTIVE; the EXIT trap ends those still running.
declare -A ACTIVE=()
cleanup() {
    local p
    for p in "${!ACTIVE[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    [ ${#ACTIVE[@]} -eq 0 ] || sleep 1
    for p in "${!ACTIVE[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# Ends one process we started: SIGTERM, up to $2 seconds, then SIGKILL. Returns 1 if it needed KILL.
stop_pid() {
    local pid=$1 grace=${2:-5} i
    unset "ACTIVE[$pid]"
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 1
}

# Waits for a background job we started (so a signal to this script is handled at once).
run_fg() {
    local pid=$1 rc
    ACTIVE[$pid]=1
    wait "$pid"; rc=$?
    unset "ACTIVE[$pid]"
    return $rc
}

# ------------------------------------------------------------------ 1. install and build
declare -A UNAVAILABLE=()   # server -> why

log "installing / checking dependencies"
# Debian nginx + RTMP module (system packages: apt has no per-directory install)
NGINX=/usr/sbin/nginx
RTMP_SO=/usr/lib/nginx/modules/ngx_rtmp_module.so
if [[ " $SERVERS " == *" nginx-rtmp "* ]]; then
    if ! [ -x "$NGINX" ] || ! [ -f "$RTMP_SO" ]; then
        log "apt-get install nginx libnginx-mod-rtmp"
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
        if ! { DEBIAN_FRONTEND=noninteractive timeout 600 $SUDO apt-get update -qq >/dev/null &&
               DEBIAN_FRONTEND=noninteractive timeout 900 $SUDO apt-get install -y -qq \
                   --no-install-recommends nginx libnginx-mod-rtmp >"$RAW/apt.log" 2>&1; }; then
            UNAVAILABLE[nginx-rtmp]="apt-get install nginx libnginx-mod-rtmp failed (see $RAW/apt.log)"
        fi
    fi
    if [ -z "${UNAVAILABLE[nginx-rtmp]:-}" ] && { ! [ -x "$NGINX" ] || ! [ -f "$RTMP_SO" ]; }; then
        UNAVAILABLE[nginx-rtmp]="nginx or $RTMP_SO missing after installation"
    fi
fi

# node-media-server, exact version, into .deps/nms
NMS_DIR=$DEPS/nms
NMS_PKG=$NMS_DIR/node_modules/node-media-server
if [[ " $SERVERS " == *" nms "* ]]; then
    command -v node >/dev/null || UNAVAILABLE[nms]="node is not on the PATH"
    have=$(node -p "require('$NMS_PKG/package.json').version" 2>/dev/null || true)
    if [ -z "${UNAVAILABLE[nms]:-}" ] && [ "$have" != "$NMS_VERSION" ]; then
        log "npm install node-media-server@$NMS_VERSION into .deps/nms"
        mkdir -p "$NMS_DIR"
        [ -f "$NMS_DIR/package.json" ] || echo '{"name":"liu-compare-nms","private":true}' >"$NMS_DIR/package.json"
        if ! (cd "$NMS_DIR" && timeout 600 npm install --no-audit --no-fund --save-exact \
                "node-media-server@$NMS_VERSION" >"$RAW/npm.log" 2>&1); then
            UNAVAILABLE[nms]="npm install node-media-server@$NMS_VERSION failed (see $RAW/npm.log)"
        fi
        have=$(node -p "require('$NMS_PKG/package.json').version" 2>/dev/null || true)
        [ -n "${UNAVAILABLE[nms]:-}" ] || [ "$have" = "$NMS_VERSION" ] ||
            UNAVAILABLE[nms]="node-media-server $NMS_VERSION not found after npm install (have: ${have:-none})"
    fi
fi

# xiu from crates.io into .deps/xiu (a long build on 2 cores: cached)
XIU=$DEPS/xiu/bin/xiu
if [[ " $SERVERS " == *" xiu "* ]]; then
    if ! [ -x "$XIU" ] || ! "$XIU" --version 2>/dev/null | grep -q "$XIU_VERSION"; then
        # xiu's WebRTC part links libopus (audiopus_sys): from pkg-config, else built with CMake
        if ! pkg-config --exists opus 2>/dev/null; then
            log "apt-get install libopus-dev pkg-config (needed to build xiu)"
            SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
            { DEBIAN_FRONTEND=noninteractive timeout 600 $SUDO apt-get update -qq >/dev/null &&
              DEBIAN_FRONTEND=noninteractive timeout 900 $SUDO apt-get install -y -qq \
                  --no-install-recommends libopus-dev pkg-config >>"$RAW/apt.log" 2>&1; } ||
                log "warning: apt-get install libopus-dev failed; the xiu build may fail"
        fi
        log "cargo install xiu $XIU_VERSION into .deps/xiu (takes a while)"
        if ! timeout 3600 cargo install xiu --locked --version "$XIU_VERSION" --root "$DEPS/xiu" \
                >"$RAW/xiu-install.log" 2>&1; then
            UNAVAILABLE[xiu]="cargo install xiu $XIU_VERSION failed (see $RAW/xiu-install.log)"
        fi
    fi
    [ -n "${UNAVAILABLE[xiu]:-}" ] || "$XIU" --version 2>/dev/null | grep -q "$XIU_VERSION" ||
        UNAVAILABLE[xiu]="$XIU is not xiu $XIU_VERSION"
fi

# Liu, release. The release binary may be rebuilt by others during the run: copy it once.
LIU_SRC=${LIU_BIN:-$ROOT/target/release/liu}
if [ -n "${LIU_BIN:-}" ]; then
    log "LIU_BIN: using $LIU_BIN as it is"
    [ -x "$LIU_BIN" ] || die "LIU_BIN=$LIU_BIN is not an executable"
    BUILD=0
elif [ "$BUILD" = 1 ]; then
    log "cargo build --release -p liu"
    timeout 1800 cargo build --release -p liu >"$RAW/liu-build.log" 2>&1 ||
        die "cargo build --release -p liu failed (see $RAW/liu-build.log)"
else
    log "--no-build: using target/release/liu as it is"
    [ -x "$ROOT/target/release/liu" ] || die "target/release/liu does not exist"
fi
cp "$LIU_SRC" "$WORK/liu" || die "cannot copy $LIU_SRC"
LIU=$WORK/liu
LIU_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
LIU_DIRTY=""
[ -z "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] || LIU_DIRTY=" + uncommitted changes"
LIU_VERSION="$("$LIU" --version | awk '{print $2}') (commit $LIU_COMMIT$LIU_DIRTY)"
[ "$BUILD" = 1 ] || LIU_VERSION="$("$LIU" --version | awk '{print $2}') (${LIU_BIN:-target/release/liu} as found, not rebuilt; HEAD $LIU_COMMIT$LIU_DIRTY)"

# The clip: FFmpeg 9 from PyPI (imageio-ffmpeg, as scripts/test.sh), else the system ffmpeg.
CLIP=$DEPS/compare/clip-720p-${CLIP_SECONDS}s.flv
CLIP_ARGS=()
[ "$CLIP_KIND" = video ] || { CLIP=$DEPS/compare/clip-audio-${CLIP_SECONDS}s.flv; CLIP_ARGS=(--audio-only); }
if ! [ -s "$CLIP" ]; then
    DEPS_PY=$DEPS/python
    ff=$(PYTHONPATH="$DEPS_PY" python3 -c "import imageio_ffmpeg;print(imageio_ffmpeg.get_ffmpeg_exe())" 2>/dev/null || true)
    if [ -z "$ff" ]; then
        log "pip install imageio-ffmpeg==$IMAGEIO_VERSION into .deps/python (FFmpeg for the clip)"
        timeout 600 python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
            --target "$DEPS_PY" "imageio-ffmpeg==$IMAGEIO_VERSION" >"$RAW/pip.log" 2>&1 || true
        ff=$(PYTHONPATH="$DEPS_PY" python3 -c "import imageio_ffmpeg;print(imageio_ffmpeg.get_ffmpeg_exe())" 2>/dev/null || true)
    fi
    [ -n "$ff" ] || ff=$(command -v ffmpeg || true)
    [ -n "$ff" ] || die "no FFmpeg to make the clip (imageio-ffmpeg install failed and no ffmpeg on the PATH)"
    log "making the clip with $ff"
    LIU_FFMPEG=$ff timeout 600 "$LIU" bench clip --out "$CLIP.tmp" --seconds "$CLIP_SECONDS" "${CLIP_ARGS[@]}" >"$RAW/clip.log" 2>&1 ||
        die "liu bench clip failed (see $RAW/clip.log)"
    mv "$CLIP.tmp" "$CLIP"
    "$ff" -hide_banner -version 2>/dev/null | head -n1 >"$CLIP.ffmpeg" || true
fi
CLIP_MBPS=$(awk -v b="$(stat -c %s "$CLIP")" -v s="$CLIP_SECONDS" 'BEGIN{printf "%.2f", b*8/s/1e6}')
CLIP_WHAT="1280x720 25 fps H.264 (GOP 2 s) + AAC clip from \`liu bench clip\`"
[ "$CLIP_KIND" = video ] || CLIP_WHAT="audio-only AAC 128 kbit/s clip from \`liu bench clip --audio-only\`"
CLIP_DESC="$CLIP_WHAT (${CLIP_SECONDS} s, ${CLIP_MBPS} Mbit/s in the file$( [ -s "$CLIP.ffmpeg" ] && echo ", $(cut -d' ' -f1-3 "$CLIP.ffmpeg")"))"

# Versions
declare -A NAME VERSION
LIU_WINDOWS=()
for s in $SERVERS; do
    case "$s" in liu-mw*) NAME[$s]="Liu, merge ${s#liu-mw} ms"; LIU_WINDOWS+=("${s#liu-mw}") ;; esac
done
VERSION[liu]="Liu $LIU_VERSION, release build, \`merge_window_ms\` $(IFS=/; echo "${LIU_WINDOWS[*]}" | sed 's|/| / |g') (the bench tool is the same binary)"
if [ -z "${UNAVAILABLE[nginx-rtmp]:-}" ] && [[ " $SERVERS " == *" nginx-rtmp "* ]]; then
    ngv=$("$NGINX" -v 2>&1 | sed 's|.*nginx/||')
    rtv=$(dpkg-query -W -f='${Version}' libnginx-mod-rtmp 2>/dev/null || echo '?')
    NAME[nginx-rtmp]="nginx-rtmp ${rtv#1:}"; NAME[nginx-rtmp]=${NAME[nginx-rtmp]%%+*}
    VERSION[nginx-rtmp]="nginx $ngv with Debian libnginx-mod-rtmp $rtv (1 worker)"
else NAME[nginx-rtmp]="nginx-rtmp"; fi
if [ -z "${UNAVAILABLE[nms]:-}" ] && [[ " $SERVERS " == *" nms "* ]]; then
    NAME[nms]="node-media-server $NMS_VERSION"
    VERSION[nms]="node-media-server $NMS_VERSION (npm) on Node $(node --version)"
else NAME[nms]="node-media-server"; fi
if [ -z "${UNAVAILABLE[xiu]:-}" ] && [[ " $SERVERS " == *" xiu "* ]]; then
    NAME[xiu]="xiu $("$XIU" --version | awk '{print $NF}')"
    VERSION[xiu]="xiu $("$XIU" --version | awk '{print $NF}') (crates.io, \`cargo install --locked\`; it listens on 0.0.0.0, not configurable)"
else NAME[xiu]="xiu"; fi

log "Liu $LIU_VERSION; clip $CLIP (${CLIP_MBPS} Mbit/s)"
for s in "${!UNAVAILABLE[@]}"; do log "unavailable: $s: ${UNAVAILABLE[$s]}"; done

# From here on this script and its helpers stay on core 1 (the load tool's): core 0 is the server's.
taskset -p -c 1 $$ >/dev/null || log "warning: cannot pin this script to core 1"

# ------------------------------------------------------------------ 2. configurations
# write_config SERVER PROTO DIR RTMP_PORT HTTP_PORT API_PORT -> prints the command to run
write_config() {
    local server=$1 proto=$2 dir=$3 rp=$4 hp=$5 ap=$6 mw
    case "$server" in
    liu-mw*)
        mw=${server#liu-mw}
        case "$proto" in
            rtmps|https-flv)  # TLS rows: RTMPS on RTMP port + 3, HTTPS on + 4
                printf '[rtmps]\nlisten = "127.0.0.1:%s"\nself_signed = true\n[https]\nlisten = "127.0.0.1:%s"\n\n' \
                    $((rp + 3)) $((rp + 4)) >"$dir/liu.toml" ;;
            *) : >"$dir/liu.toml" ;;
        esac
        cat >>"$dir/liu.toml" <<EOF
[rtmp]
listen = "127.0.0.1:$rp"

max_connections = 20000

[http]
listen = "127.0.0.1:$hp"
max_connections = 20000

[stream]
merge_window_ms = $mw
EOF
        echo "$LIU serve --config $dir/liu.toml" ;;
    nginx-rtmp)
        mkdir -p "$dir/logs"
        cat >"$dir/nginx.conf" <<EOF
load_module $RTMP_SO;
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;

events {
    worker_connections 16384;
}

rtmp {
    server {
        listen 127.0.0.1:$rp;
        chunk_size 4096;
        application live {
            live on;
        }
    }
}
EOF
        echo "$NGINX -p $dir/ -e $dir/logs/error.log -c $dir/nginx.conf" ;;
    nms)
        mkdir -p "$dir/data" "$dir/record"
        cat >"$dir/nms.json" <<EOF
{
    "bind": "127.0.0.1",
    "notify": { "url": "" },
    "store": { "path": "$dir/data" },
    "auth": { "play": false, "publish": false, "secret": "liu-compare" },
    "rtmp": { "port": $rp },
    "http": { "port": $hp },
    "webadmin": { "enable": false },
    "record": { "auto": false, "path": "$dir/record" }
}
EOF
        cat >"$dir/nms.js" <<EOF
// node-media-server launcher: the package's own API with the configuration in nms.json.
const NodeMediaServer = require("$NMS_PKG");
const path = "$dir/nms.json";
const config = JSON.parse(require("fs").readFileSync(path, "utf8"));
new NodeMediaServer(config, path).run();
EOF
        echo "node $dir/nms.js" ;;
    xiu)
        cat >"$dir/xiu.toml" <<EOF
[rtmp]
enabled = true
port = $rp
gop_num = 1

[httpflv]
enabled = true
port = $hp

[httpapi]
port = $ap

[authsecret]
key = ""
password = ""

[log]
level = "info"
EOF
        echo "$XIU -c $dir/xiu.toml" ;;
    esac
}

# ------------------------------------------------------------------ 3. one row
ROW_INDEX=0
# run_row SERVER PROTO N ROUND
run_row() {
    local server=$1 proto=$2 n=$3 round=$4
    local label="N$(printf %05d "$n")-$server-$proto-r$round"
    local rd=$RAW/rows/$label dir=$WORK/$label
    mkdir -p "$rd" "$dir"
    # fresh loopback ports per row (RTMP, HTTP, xiu's API), skipping any that something holds
    local rp hp ap
    while :; do
        ROW_INDEX=$((ROW_INDEX + 1))
        rp=$((21000 + ROW_INDEX * 10)); hp=$((rp + 1)); ap=$((rp + 2))
        [ $rp -lt 60000 ] || die "no free ports"
        $PY ports-free $rp $hp $ap $((rp + 3)) $((rp + 4)) && break
    done
    local status=ok notes=() url t0=0 t1=0
    local ramp_s=$(( (n + RATE - 1) / RATE ))
    local row_max=$((DURATION + ramp_s + 120))
    local base="${server%%-mw*}"
    [ "$base" = liu ] || base=$server
    local row_args=(--dir "$rd" --server "$server" --label "$label" --proto "$proto" --viewers "$n"
                    --rate "$RATE" --duration "$DURATION" --round "$round")

    case "$proto" in
        rtmp) url="rtmp://127.0.0.1:$rp/live/bench" ;;
        rtmpe) url="rtmpe://127.0.0.1:$rp/live/bench" ;;
        rtmps) url="rtmps://127.0.0.1:$((rp + 3))/live/bench" ;;
        https-flv) url="https://127.0.0.1:$((rp + 4))/live/bench.flv" ;;
        ws-flv) url="ws://127.0.0.1:$hp/live/bench.flv" ;;
        hls) url="http://127.0.0.1:$hp/live/bench.m3u8" ;;
        ll-hls) url="http://127.0.0.1:$hp/live/bench/index.m3u8" ;;
        *) url="http://127.0.0.1:$hp/live/bench.flv" ;;
    esac
    log "row $label: $url"

    if [ -n "${UNAVAILABLE[$base]:-}" ]; then
        $PY row "${row_args[@]}" --status "not installed" --note "${UNAVAILABLE[$base]}"
        return
    fi

    # other engineers' builds share these 2 cores: wait for a quiet machine (bounded), note it
    local q; q=$($PY quiet --max-busy 15 --wait "$QUIET_WAIT")
    [ -z "$q" ] || { notes+=("$q"); log "  $q"; }

    local cmd; cmd=$(write_config "$server" "$proto" "$dir" "$rp" "$hp" "$ap")
    cp "$dir"/*.toml "$dir"/*.conf "$dir"/*.json "$dir"/*.js "$rd/" 2>/dev/null || true
    echo "$cmd" >"$rd/server.cmd"

    # the server, on core 0, bounded by timeout (which also ends it if this script dies)
    # shellcheck disable=SC2086
    timeout -k 5 "$row_max" taskset -c 0 $cmd </dev/null >"$rd/server.log" 2>&1 &
    local spid=$!
    ACTIVE[$spid]=1
    local ports=(--port "$rp"); [ "$server" = nginx-rtmp ] || ports+=(--port "$hp")
    if ! $PY wait-port "${ports[@]}" --timeout 20 --pid "$spid" 2>>"$rd/compare.log"; then
        status="did not start"
        notes+=("server did not listen on 127.0.0.1:$rp/$hp within 20 s: $(tail -n 3 "$rd/server.log" | tr '\n' ' ' | cut -c1-300)")
    fi

    local smp=""
    local ppid_pub="" pub_started=$SECONDS
    if [ "$status" = ok ]; then
        taskset -c 1 $PY sample --root "$spid" --out "$rd/samples" --interval 0.5 &
        smp=$!; ACTIVE[$smp]=1
        timeout -k 5 "$row_max" taskset -c 1 "$LIU" bench publish --url "rtmp://127.0.0.1:$rp/live/bench" \
            --file "$CLIP" --loop "${PUB_OPTS[@]}" </dev/null >"$rd/publish.log" 2>&1 &
        ppid_pub=$!; ACTIVE[$ppid_pub]=1
        pub_started=$SECONDS
        # wait for the stream(s): one probe viewer per stream (3 s: long enough for a keyframe without GOP cache)
        local up=0 deadline=$((SECONDS + 30)) try=0
        sleep 1
        while [ $SECONDS -lt $deadline ]; do
            try=$((try + 1))
            rm -f "$rd/probe.json"
            timeout -k 2 12 taskset -c 1 "$LIU" bench play --url "$url" -n "$STREAMS" --rate 1000 \
                --duration 3 --connect-timeout 4 --progress 0 --json "$rd/probe.json" "${PLAY_OPTS[@]}" \
                </dev/null >"$rd/probe.log" 2>&1 &
            run_fg $!
            if $PY probe-ok --want "$STREAMS" "$rd/probe.json"; then up=1; break; fi
            kill -0 "$spid" 2>/dev/null || break
            kill -0 "$ppid_pub" 2>/dev/null || break
            sleep 1
        done
        if [ $up = 0 ]; then
            status="stream not up"
            notes+=("no probe viewer got the stream within 30 s ($try tries); publisher: $(tail -n 2 "$rd/publish.log" | tr '\n' ' ' | cut -c1-200)")
            kill -0 "$spid" 2>/dev/null || notes+=("the server exited: $(tail -n 3 "$rd/server.log" | tr '\n' ' ' | cut -c1-300)")
        fi
    fi

    if [ "$status" = ok ]; then
        # the RSS baseline: the probe viewers gone, and every stream's ring full (it holds the GOP
        # cache and a 5 s queue window, filled within 5 s of the publish start)
        sleep 2
        while [ $((SECONDS - pub_started)) -lt 7 ]; do sleep 0.5; done
        t0=$(now)
        timeout -k 5 $((DURATION + ramp_s + 40)) taskset -c 1 "$LIU" bench play --url "$url" -n "$n" \
            --rate "$RATE" --duration "$DURATION" --json "$rd/play.json" --progress 5 \
            --timeline "$rd/timeline" "${PLAY_OPTS[@]}" \
            </dev/null >"$rd/play.log" 2>&1 &
        run_fg $!
        local prc=$?
        t1=$(now)
        [ $prc -eq 0 ] || notes+=("liu bench play exited with status $prc")
        kill -0 "$spid" 2>/dev/null || { status="server exited"; notes+=("the server exited during the row: $(tail -n 3 "$rd/server.log" | tr '\n' ' ' | cut -c1-300)"); }
        kill -0 "$ppid_pub" 2>/dev/null || notes+=("the publisher ended during the row: $(tail -n 2 "$rd/publish.log" | tr '\n' ' ' | cut -c1-200)")
        sleep 0.5
    fi

    # stop everything: sampler, publisher, server; then check that nothing is left
    [ -z "$smp" ] || stop_pid "$smp" 3
    [ -z "$ppid_pub" ] || stop_pid "$ppid_pub" 5 || notes+=("the publisher needed SIGKILL")
    stop_pid "$spid" 10 || notes+=("the server needed SIGKILL to stop")
    sleep 0.3
    local left
    left=$($PY alive "$rd/samples.pids" --match "$WORK/")
    if [ -n "$left" ]; then
        notes+=("left running after stop (killed): $(echo "$left" | tr '\n' ' ')")
        local p
        for p in $(echo "$left" | awk '{print $1}'); do kill -KILL "$p" 2>/dev/null || true; done
    fi

    local na=()
    local x
    for x in "${notes[@]}"; do na+=(--note "$x"); done
    $PY row "${row_args[@]}" --t0 "$t0" --t1 "$t1" --status "$status" "${na[@]}"
    $PY summary "$rd/row.json" >&2 || true
}

# ------------------------------------------------------------------ run
log "rows: N in {$N_LIST} x servers {$SERVERS} x protocols {$PROTOS} x $ROUNDS rounds, ${DURATION} s each; raw files in $RAW"
REVERSED=$(echo $SERVERS | tr ' ' '\n' | tac | tr '\n' ' ')
for n in $N_LIST; do
    for ((round = 1; round <= ROUNDS; round++)); do
        order=$SERVERS; [ $((round % 2)) = 1 ] || order=$REVERSED
        for server in $order; do
            for proto in $PROTOS; do
                [ "$server" = nginx-rtmp ] && [ "$proto" = http-flv ] && continue   # no HTTP-FLV in nginx-rtmp
                case "$proto" in ws-flv|hls|ll-hls|rtmps|rtmpe|https-flv) [[ "$server" = liu-mw* ]] || continue ;; esac   # Liu only
                run_row "$server" "$proto" "$n" "$round"
            done
        done
    done
done

# ------------------------------------------------------------------ 4. the table
ELAPSED=$(( $(date +%s) - START_EPOCH ))
export META_DATE META_CMD META_NPROC META_CPU META_KERNEL META_MEM META_CLIP META_RUNTIME META_RAW
META_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
META_CMD=$CMD_LINE
META_NPROC=$(nproc --all)   # not nproc: this script is pinned to one core
META_CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
META_KERNEL=$(uname -r)
META_MEM="$(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
META_CLIP=$CLIP_DESC
META_RUNTIME="$((ELAPSED / 60)) min $((ELAPSED % 60)) s"
META_RAW="target/compare/$STAMP"
{
    echo "${VERSION[liu]}"
    for s in nginx-rtmp nms xiu; do
        [[ " $SERVERS " == *" $s "* ]] || continue
        if [ -n "${UNAVAILABLE[$s]:-}" ]; then echo "$s: not available (${UNAVAILABLE[$s]})"
        else echo "${VERSION[$s]}"; fi
    done
} >"$WORK/versions"
{
    for s in $SERVERS nginx-rtmp nms xiu; do echo "$s=${NAME[$s]:-$s}"; done
} >"$WORK/names"
$PY meta --versions "$WORK/versions" --names "$WORK/names" --rate "$RATE" --duration "$DURATION" \
    --rounds "$ROUNDS" \
    --streams "$STREAMS" --section "$SECTION" --title "$TITLE" \
    --out "$RAW/meta.json" || die "cannot write meta.json"

if [ "$DOC" = none ]; then
    $PY table --rows "$RAW/rows" --meta "$RAW/meta.json" --doc "$RAW/performance-section.md"
    log "table written to $RAW/performance-section.md (--doc none)"
else
    $PY table --rows "$RAW/rows" --meta "$RAW/meta.json" --doc "$ROOT/$DOC"
    log "table written to $DOC"
fi
log "done in $((ELAPSED / 60)) min $((ELAPSED % 60)) s; raw files in $RAW"
