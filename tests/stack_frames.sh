#!/bin/sh
# tests/stack_frames.sh [SRCDIR] - every function of grpcstream.c and json.c
# has a stack frame under 1 KiB, whatever the slot count (issue 7: gs_wake
# kept woken[GS_MAX_STREAMS] on the stack, file_scan a 4 KiB buffer).
#
# Compiles both files with gcc -fstack-usage -O2 -DGS_NO_MAIN
# -DGS_MAX_STREAMS=1000 and reads the .su files (after inlining, so a
# helper's frame counts in its caller). One PASS/FAIL line per file, naming
# its largest frames; a frame of dynamic size fails too. SKIP without gcc.
# SRCDIR (default: the repository) lets it judge another checkout.
set -u
limit=1024

if ! command -v gcc > /dev/null 2>&1; then
    echo "SKIP: stack frames (gcc not installed)"
    exit 0
fi
src=${1:-$(dirname "$0")/..}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

status=0
for f in grpcstream.c json.c; do
    name="stack frames of $f under $limit bytes (gcc -fstack-usage -O2 -DGS_MAX_STREAMS=1000)"
    if ! gcc -std=c99 -O2 -fstack-usage -DGS_NO_MAIN -DGS_MAX_STREAMS=1000 -I"$src" \
            -c -o "$tmp/${f%.c}.o" "$src/$f" 2> "$tmp/cc.log"; then
        echo "FAIL: $name: does not compile"
        sed 's/^/    /' "$tmp/cc.log" | head -10
        status=1
        continue
    fi
    su=$tmp/${f%.c}.su
    # "file:line:col:function<TAB>bytes<TAB>static|dynamic[,bounded]"
    top=$(awk -F'\t' '{ n = split($1, p, ":"); printf "%s %s %s\n", $2, p[n], $3 }' "$su" |
          sort -rn | head -5 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }')
    over=$(awk -F'\t' -v lim="$limit" '$2 >= lim || ($3 ~ /dynamic/ && $3 !~ /bounded/) {
               n = split($1, p, ":"); printf "%s%s %s (%s)", (c++ ? ", " : ""), p[n], $2, $3 }' "$su")
    if [ ! -s "$su" ]; then
        echo "FAIL: $name: gcc wrote no stack usage"
        status=1
    elif [ -n "$over" ]; then
        echo "FAIL: $name: $over"
        echo "    largest: $top"
        status=1
    else
        echo "PASS: $name; largest: $top"
    fi
done
exit $status
