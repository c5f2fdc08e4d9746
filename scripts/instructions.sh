#!/usr/bin/env bash
# Counts the instructions of the fixed workloads in bench/instructions.txt with
# callgrind and fails when one is more than TOLERANCE percent (default 25) above or
# below its baseline, or when what the workload delivered (frames and bytes, printed
# by the workload) differs from what the baseline recorded: a workload that silently
# does less cannot pass. Instruction counts, unlike wall time, are stable on a busy
# machine.
#   scripts/instructions.sh [--update]
set -euo pipefail
cd "$(dirname "$0")/.."
TOLERANCE=${TOLERANCE:-25}
update=${1:-}
command -v valgrind >/dev/null || {
    echo "installing valgrind"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind >/dev/null
}
cargo build --release -q -p liu-server --example fanout_workload
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
tmp=$(mktemp)
while read -r name baseline delivered cmd args; do
    case "$name" in ''|'#'*) echo "$name $baseline $delivered $cmd $args" | sed 's/ *$//' >> "$tmp"; continue ;; esac
    valgrind --tool=callgrind --callgrind-out-file="$out/$name.cg" \
        "target/release/examples/$cmd" $args > "$out/$name.log" 2>&1 \
        || { cat "$out/$name.log"; echo "$name: workload failed"; exit 1; }
    ir=$(grep -oP 'Collected : \K[0-9]+' "$out/$name.log")
    # What it delivered: its report line without the arguments, as one word.
    got=$(grep -m1 '^viewers=' "$out/$name.log" | tr ' ' '\n' | grep -v '^viewers=\|^seconds=' | paste -sd, -)
    ratio=$(awk -v a="$ir" -v b="$baseline" 'BEGIN { printf "%.3f", a / b }')
    verdict=ok
    if awk -v a="$ir" -v b="$baseline" -v t="$TOLERANCE" 'BEGIN { exit !(a > b * (1 + t / 100)) }'; then
        verdict="REGRESSION (more than +${TOLERANCE}%)"
        status=1
    elif awk -v a="$ir" -v b="$baseline" -v t="$TOLERANCE" 'BEGIN { exit !(a < b * (1 - t / 100)) }'; then
        verdict="DROP (more than -${TOLERANCE}%: does the workload still do its work? --update if it is a real gain)"
        status=1
    fi
    if [ "$got" != "$delivered" ]; then
        verdict="$verdict; DELIVERED $got, baseline $delivered"
        status=1
    fi
    printf '%-26s %12s instructions, baseline %12s, ratio %s  %s\n' "$name" "$ir" "$baseline" "$ratio" "$verdict"
    printf '%-27s %-13s %s %s %s\n' "$name" "$ir" "$got" "$cmd" "$args" >> "$tmp"
done < bench/instructions.txt
if [ "$update" = "--update" ]; then
    cp "$tmp" bench/instructions.txt
    echo "baselines updated in bench/instructions.txt"
    status=0
fi
rm -f "$tmp"
exit $status
