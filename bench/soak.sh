#!/bin/sh
# soak.sh - a long mixed session through the grpcstream node.
#
#   sh bench/soak.sh                 (what `make soak` runs, after `make all`)
#   SOAK_N=1000000 sh bench/soak.sh  (a quick run)
#
# bench/soakgen.c (built into bench/build/) streams SOAK_N lines (default
# 50,000,000) of a mixed session -- clients c1..c8, bidi streams opened,
# fed and closed, WatchLogs with filters and limits, follow watches,
# Appends, cancels, deadlines (timeout_ms 1..800 ms), a few bad lines --
# through a pipe into the node; nothing is stored on disk. Replies are
# counted (wc -l) and dropped. Reports input messages per second, the
# node's VmRSS/VmHWM sampled every 0.5 s: after warm-up (a fifth of the way in) and late (the last
# sample before it exits), and checks:
# - the node exits 0, writes nothing on stderr (every bad line has a src);
# - memory stays fixed: late VmHWM <= warmed-up VmHWM + 64 KiB (the 1 MiB log
#   ring fills as Appends come, then nothing grows);
# - the first SOAK_CHECK lines (default 200,000; no timeout_ms among them,
#   so no clock is involved) give byte-identical output from the node and
#   from tests/model.py (run separately, after the soak).
# Prints PASS:/FAIL:/SKIP: lines and a summary; exit 1 on any FAIL.
#
# Environment: GS (node, default ./grpcstream), CC (cc), SOAK_N, SOAK_SEED
# (1), SOAK_CHECK (200000; 0 skips the model check), PYTHON (python3).
set -u
cd "$(dirname "$0")/.." || exit 2
GS=${GS:-./grpcstream}
CC=${CC:-cc}
PYTHON=${PYTHON:-python3}
N=${SOAK_N:-50000000}
SEED=${SOAK_SEED:-1}
CHECK=${SOAK_CHECK:-200000}
[ "$CHECK" -gt "$N" ] && CHECK=$N
B=bench/build
GEN=$B/soakgen
mkdir -p "$B"
T=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
fails=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; fails=$((fails + 1)); }

[ -x "$GS" ] || { echo "FAIL: soak: no node binary $GS (run make)"; exit 1; }
if ! $CC -std=c99 -Wall -Wextra -Wpedantic -Werror -O2 -o "$GEN" bench/soakgen.c; then
    echo "FAIL: soak: build bench/soakgen.c"; exit 1
fi

now() { date +%s.%N; }
mem() {     # VmRSS VmHWM of pid $1 in kB, or nothing
    awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {if (r != "") print r, h}' "/proc/$1/status" 2>/dev/null
}

mkfifo "$T/in" "$T/out" || exit 2
"$GEN" "$N" "$SEED" "$CHECK" > "$T/in" &
gpid=$!
wc -l < "$T/out" > "$T/count" &
wpid=$!
t0=$(now)
"$GS" < "$T/in" > "$T/out" 2> "$T/err" &
npid=$!

early="" late="" ticks=0
: > "$T/mem"
while kill -0 $npid 2> /dev/null; do
    m=$(mem $npid)
    [ -n "$m" ] && { late=$m; echo "$m" >> "$T/mem"; }
    ticks=$((ticks + 1))
    # print progress every 30 s so a long run shows it is alive
    [ $((ticks % 60)) -eq 0 ] && echo "   ... $(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.0f", b - a}') s, VmRSS/VmHWM ${late:-?} kB"
    sleep 0.5
done
# "Start" is the sample a fifth of the way in: by then every fixed buffer
# (the 1 MiB log ring, the output buffer, the stream slots in use) has been
# written through once. Memory is fixed if the end equals it within 64 KiB.
early=$(awk '{ s[NR] = $0 } END { if (NR) print s[int(NR / 5) + 1] }' "$T/mem")
wait $npid
rc=$?
t1=$(now)
wait $gpid
wait $wpid
replies=$(cat "$T/count")
[ -n "$early" ] || early=$late
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
rate=$(awk -v n="$N" -v s="$secs" 'BEGIN {printf "%.0f", (s > 0) ? n / s : 0}')
set -- ${early:-0 0}; e_rss=$1 e_hwm=$2
set -- ${late:-0 0}; l_rss=$1 l_hwm=$2

[ "$rc" -eq 0 ] && pass "soak: node exits 0 after $N messages" || fail "soak: node exit status $rc"
if [ -s "$T/err" ]; then
    fail "soak: stderr not empty: $(head -c 300 "$T/err")"
else
    pass "soak: nothing on stderr"
fi
[ "$replies" -ge "$N" ] 2> /dev/null && pass "soak: $replies replies for $N messages" \
    || fail "soak: only $replies replies for $N messages"
if [ -n "$early" ] && [ "$l_hwm" -le $((e_hwm + 64)) ]; then
    pass "soak: memory fixed (VmHWM after warm-up $e_hwm kB, at the end $l_hwm kB)"
else
    fail "soak: memory grew (VmRSS/VmHWM early ${early:-none} kB, late ${late:-none} kB)"
fi

# ---- the first CHECK lines: node vs model, byte for byte
if [ "$CHECK" -gt 0 ]; then
    "$GEN" "$CHECK" "$SEED" "$CHECK" > "$T/prefix.in"
    "$GS" < "$T/prefix.in" > "$T/prefix.node" 2> /dev/null
    tm0=$(now)
    if "$PYTHON" tests/model.py < "$T/prefix.in" > "$T/prefix.model" 2> /dev/null; then
        if cmp -s "$T/prefix.node" "$T/prefix.model"; then
            pass "soak: first $CHECK lines: node output equals tests/model.py ($(wc -l < "$T/prefix.node") replies, model $(awk -v a="$tm0" -v b="$(now)" 'BEGIN {printf "%.0f", b - a}') s)"
        else
            fail "soak: first $CHECK lines: node and model differ: $(cmp "$T/prefix.node" "$T/prefix.model" 2>&1 | head -1)"
            cp "$T/prefix.in" "$T/prefix.node" "$T/prefix.model" "$B/" 2> /dev/null &&
                echo "    saved $B/prefix.in, prefix.node, prefix.model"
        fi
    else
        fail "soak: tests/model.py failed on the first $CHECK lines"
    fi
else
    echo "SKIP: soak: model check (SOAK_CHECK=0)"
fi

echo "soak summary: $N messages in $secs s = $rate msg/s; $replies replies;" \
     "VmRSS/VmHWM early $e_rss/$e_hwm kB, late $l_rss/$l_hwm kB; $fails failed"
[ "$fails" -eq 0 ]
