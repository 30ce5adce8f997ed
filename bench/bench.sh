#!/bin/sh
# bench.sh - throughput, memory and latency of the grpcstream node.
#
#   sh bench/bench.sh            (what `make bench` runs, after `make all`)
#
# Builds the bench tools into bench/build/, generates the input sessions
# into a temporary directory, and for each workload runs the node and the
# baseline copier (bench/copier.c: reads lines, writes lines of the same
# size) on the same input, alternating, REPS times each; it reports the
# medians, the node's messages (input lines) per second and the ratio
# node_time / copier_time.  Both write into a pipe that runbench drains.
# The "watch --log" row streams a whole LOG_N-entry log file with one
# WatchLogs {} (node run as `grpcstream --log FILE`); its lines_in and
# node_msg/s count log entries (messages streamed), not input lines, and
# its copier copies an "output-sized input": the node's own output for that
# session, saved once (same lines and bytes as the node writes).
# Then the node's peak RSS on a 1,000- and a 1,000,000-message bidi session
# (target: equal within 64 KiB; PASS/FAIL is reported, never enforced here),
# the round-trip latency of one bidi stream (pingpong), and the latency of a
# follow watch (pingpong --follow): from an Append to the push of its entry,
# and from a line written to the log file by another process to its push.
#
# Last, bench/grpc_bench.sh: the node as a gRPC server (--listen) against
# gRPC C++ and grpc-go peers, driven by h2load (see that file).
#
# The table is printed and written to bench/build/results.txt; every raw
# runbench line goes to bench/build/raw.txt.
#
# Environment: GS (node binary, default ./grpcstream), CC (default cc),
# REPS (default 5), MEM_REPS (3), BIDI_N (1000000), WATCH_N (200000),
# MIXED_N (500000), PING_N (10000), LOG_N (1000000), FOLLOW_N (10000),
# FOLLOW_EXT_N (200), PYTHON (python3), GS_GRPC (the gRPC part's server,
# default ./grpcstream-static), GRPC_PYTHON (grpc_bench.sh's
# PYTHON: one with grpcio), RUN_TIMEOUT (60:
# seconds before a run is killed and counted as failed).  Exit status: 0 when
# every run worked (whatever the figures), 1 when the node could not be
# built, found or run, or failed a run.
set -u

cd "$(dirname "$0")/.." || exit 1
GS=${GS:-./grpcstream}
CC=${CC:-cc}
REPS=${REPS:-5}
MEM_REPS=${MEM_REPS:-3}
BIDI_N=${BIDI_N:-1000000}
WATCH_N=${WATCH_N:-200000}
MIXED_N=${MIXED_N:-500000}
PING_N=${PING_N:-10000}
LOG_N=${LOG_N:-1000000}
FOLLOW_N=${FOLLOW_N:-10000}
FOLLOW_EXT_N=${FOLLOW_EXT_N:-200}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
PYTHON=${PYTHON:-python3}
B=bench/build
RES=$B/results.txt
RAW=$B/raw.txt
CFLAGS="-O2 -std=c99 -Wall -Wextra -Wpedantic -Werror"
MEM_TARGET_KB=64

mkdir -p "$B" || exit 1
for t in copier runbench pingpong; do
    $CC $CFLAGS -o "$B/$t" "bench/$t.c" || { echo "bench: cannot build $t" >&2; exit 1; }
done
case $GS in
    */*) ;;
    *) GS=./$GS ;;
esac
if [ ! -x "$GS" ]; then
    echo "bench: node $GS not found or not executable (run make, or set GS=path)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gsbench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
: > "$RES"
: > "$RAW"
failed=0

say() {
    printf '%s\n' "$*"
    printf '%s\n' "$*" >> "$RES"
}

# field NAME LINE: the value of NAME=... in a runbench line
field() {
    printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# median FILE: the median of the numbers in FILE, one a line
median() {
    sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# run TAG PROG INPUT [ARGS...]: one runbench run (PROG ARGS...); appends
# its time to $tmp/TAG.time and keeps its output line count in $tmp/TAG.lines
run() {
    tag=$1 prog=$2 input=$3
    shift 3
    line=$("$B/runbench" --timeout "$RUN_TIMEOUT" "$prog" "$input" "$@")
    rc=$?
    printf '%s %s\n' "$tag" "$line" >> "$RAW"
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
        echo "bench: $prog failed on $input (runbench exit $rc)" >&2
        failed=1
        return 1
    fi
    field time_s "$line" >> "$tmp/$tag.time"
    field out_lines "$line" > "$tmp/$tag.lines"
}

echo "bench: generating inputs..." >&2
$PYTHON bench/gen.py bidi "$BIDI_N" 16 > "$tmp/bidi.jsonl" &&
$PYTHON bench/gen.py bidi 1000 16 > "$tmp/bidi1k.jsonl" &&
$PYTHON bench/gen.py watch "$WATCH_N" > "$tmp/watch.jsonl" &&
$PYTHON bench/gen.py mixed "$MIXED_N" > "$tmp/mixed.jsonl" &&
$PYTHON bench/gen.py watchlog > "$tmp/watchlog.jsonl" &&
$PYTHON bench/gen.py logfile "$LOG_N" > "$tmp/log.txt" ||
    { echo "bench: gen.py failed" >&2; exit 1; }

say "grpcstream bench: node $GS vs bench/copier.c, $REPS runs each, alternating; median seconds"
say "(ratio = node_s / copier_s; node_msg/s = lines_in / node_s; node_out = node's output lines)"
say "$(printf '%-14s %9s %9s %9s %9s %7s %11s' workload lines_in node_out node_s copier_s ratio node_msg/s)"

# workload NAME FILE [MSGS COPYFILE ARGS...]: alternate the node (on FILE,
# with ARGS) and the copier (on COPYFILE, default FILE) REPS times, print a
# row; MSGS (default: FILE's line count) is the lines_in column
workload() {
    name=$1 file=$2 msgs=${3:-} cfile=${4:-$2}
    shift 2
    [ $# -gt 0 ] && shift
    [ $# -gt 0 ] && shift
    rm -f "$tmp/node.time" "$tmp/copy.time" "$tmp/node.lines"
    i=0
    while [ $i -lt "$REPS" ]; do
        run node "$GS" "$file" "$@" || { say "$(printf '%-14s node FAILED' "$name")"; return; }
        run copy "$B/copier" "$cfile" || return
        i=$((i + 1))
    done
    lines=${msgs:-$(wc -l < "$file" | tr -d ' ')}
    nt=$(median "$tmp/node.time")
    ct=$(median "$tmp/copy.time")
    say "$(awk -v w="$name" -v l="$lines" -v o="$(cat "$tmp/node.lines")" -v n="$nt" -v c="$ct" 'BEGIN {
        printf "%-14s %9d %9d %9.4f %9.4f %7.1f %11.0f", w, l, o, n, c, (c > 0 ? n / c : 0), (n > 0 ? l / n : 0) }')"
}

workload "bidi echo" "$tmp/bidi.jsonl"
workload "server stream" "$tmp/watch.jsonl"
workload "mixed" "$tmp/mixed.jsonl"

# Streaming a --log file: the copier's input is the node's output, saved
# from one untimed run, so both move the same lines and bytes.
case $LOG_N in
    1000000) loglabel=1M ;;
    *) loglabel=$LOG_N ;;
esac
if "$GS" --log "$tmp/log.txt" < "$tmp/watchlog.jsonl" > "$tmp/watchlog.out"; then
    workload "watch --log $loglabel" "$tmp/watchlog.jsonl" "$LOG_N" "$tmp/watchlog.out" --log "$tmp/log.txt"
    say "(watch --log: lines_in = log entries sent by one WatchLogs {}; the copier copies the node's saved output)"
else
    say "$(printf '%-14s node FAILED' "watch --log $loglabel")"
    failed=1
fi

# Memory: the node's peak RSS on 1,000 and on $BIDI_N bidi messages, taken
# exactly at exit with ASLR off (runbench --mem; see runbench.c for why
# ru_maxrss is too noisy for a 64 KiB target).  The largest of MEM_REPS
# runs each; ru_maxrss falls back in if ptrace is not permitted.
# mem_runs TAG FILE: MEM_REPS runs with --mem, keeping hwm, anon and maxrss
mem_runs() {
    rm -f "$tmp/$1.hwm" "$tmp/$1.anon" "$tmp/$1.rss"
    i=0
    while [ $i -lt "$MEM_REPS" ]; do
        line=$("$B/runbench" --mem --timeout "$RUN_TIMEOUT" "$GS" "$2")
        rc=$?
        printf '%s %s\n' "mem-$1" "$line" >> "$RAW"
        if [ $rc -ne 0 ] || [ -z "$line" ]; then
            echo "bench: $GS failed on $2 (runbench exit $rc)" >&2
            failed=1
            return 1
        fi
        field hwm_kb "$line" >> "$tmp/$1.hwm"
        field anon_kb "$line" >> "$tmp/$1.anon"
        field maxrss_kb "$line" >> "$tmp/$1.rss"
        i=$((i + 1))
    done
}
maxof() { sort -n "$1" | tail -n 1; }
if mem_runs small "$tmp/bidi1k.jsonl" && mem_runs big "$tmp/bidi.jsonl"; then
    small=$(maxof "$tmp/small.hwm")
    big=$(maxof "$tmp/big.hwm")
    how="VmHWM at exit, ASLR off; anon $(maxof "$tmp/small.anon") -> $(maxof "$tmp/big.anon") KiB"
    if [ "$small" -lt 0 ] || [ "$big" -lt 0 ]; then
        small=$(maxof "$tmp/small.rss")
        big=$(maxof "$tmp/big.rss")
        how="ru_maxrss: ptrace unavailable, noisy by ~200 KiB"
    fi
    diff=$((big - small))
    if [ $diff -le $MEM_TARGET_KB ] && [ $diff -ge -$MEM_TARGET_KB ]; then
        verdict=PASS
    else
        verdict=FAIL
    fi
    say "memory: peak RSS 1000 msgs ${small} KiB, $BIDI_N msgs ${big} KiB, difference ${diff} KiB (target within ${MEM_TARGET_KB}): $verdict ($how)"
else
    say "memory: not measured (node runs failed)"
fi

# Latency: one bidi stream, one message in flight.
pp=$("$B/pingpong" "$GS" "$PING_N")
rc=$?
printf 'pingpong %s\n' "$pp" >> "$RAW"
if [ $rc -eq 0 ] && [ -n "$pp" ]; then
    say "latency: $pp"
else
    say "latency: pingpong FAILED (exit $rc) $pp"
    failed=1
fi

# Follow latency (pingpong.c, follow_mode): write to push of the entry on
# one follow watch, the log a --log file emptied first.  An Append by the
# node itself wakes its followers at once; a line appended by another
# writer is picked up by the node's 50 ms poll of the file (PROTOCOL.md 1.6
# requires within 100 ms), so follow-ext is spread over 0..50 ms by design.
# follow MODE N LABEL: one pingpong --MODE run, one line of the table
follow() {
    fl=$("$B/pingpong" "--$1" "$GS" "$2" "$tmp/follow.log")
    rc=$?
    printf '%s %s\n' "$1" "$fl" >> "$RAW"
    if [ $rc -eq 0 ] && [ -n "$fl" ]; then
        say "$3: $fl"
    else
        say "$3: pingpong --$1 FAILED (exit $rc) $fl"
        failed=1
    fi
}
follow follow "$FOLLOW_N" "follow latency (Append -> push)"
follow follow-ext "$FOLLOW_EXT_N" "follow latency (external writer -> push, 50 ms poll)"

# gRPC over h2c against gRPC C++ and grpc-go peers (bench/grpc_bench.sh:
# h2load; SKIP lines when h2load or a peer's toolchain is missing); its
# table is added to this one. It measures GS_GRPC (default: the static
# build, make grpcstream-static), since a dynamic glibc and its loader are
# about 1.4 MB of the peak RSS it compares.
say ""
GS=${GS_GRPC:-./grpcstream-static} REPS=$REPS PYTHON=${GRPC_PYTHON:-} sh bench/grpc_bench.sh > "$tmp/grpc.out"
rc=$?
cat "$tmp/grpc.out"
cat "$tmp/grpc.out" >> "$RES"
[ $rc -eq 0 ] || failed=1
exit $failed
