#!/bin/sh
# soak-h2.sh - a long, checked gRPC session over HTTP/2 against
# grpcstream --listen, with the server's heap calls and memory watched.
#
#   sh bench/soak-h2.sh                          (what `make soak-h2` runs)
#   SOAK_MESSAGES=200000 sh bench/soak-h2.sh     (a few seconds)
#
# 1. Builds into bench/build/: the server with -DGS_MAX_CONNS=$SOAK_CONNS
#    -DGS_MAX_STREAMS=$SOAK_SLOTS (the default build takes 16 connections
#    and 100 calls; a soak of 64 connections needs more; nothing else
#    changes), the LD_PRELOAD heap-call counter tests/malloc_count.c, and
#    the client bench/h2soak.c (which includes grpcstream.c for its HPACK
#    and protobuf code).
# 2. Starts the server under the counter with MALLOC_COUNT_AFTER=accept
#    (counts start at its first accept()) and --log FILE, FILE holding the
#    eight sample entries; starts h2soak: SOAK_CONNS connections, calls
#    opening and closing all the time (BiDiChat, Append, plain and follow
#    WatchLogs, cancels, deadlines), SOAK_MESSAGES gRPC messages in all
#    (requests + responses), every reply checked (see bench/h2soak.c).
# 3. Samples the server's VmRSS and VmHWM from /proc/PID/status every
#    0.1 s beside the client's message count. Warm-up is the first tenth
#    of the messages, which begins with the client's warm-up calls: every
#    lane holds a BiDiChat at once whose two 64 KiB messages and echoes
#    write through every buffer the server has for a call in the slots the
#    session uses (see bench/h2soak.c). The first sample past both is
#    "after warm-up"; the last one is taken when the client has finished
#    (its connections still open, idle), just before SIGTERM.
# 4. Sends SIGTERM: the client must see GOAWAY NO_ERROR and the close on
#    every connection, the server must exit 0.
#
# PASS criteria (PASS:/FAIL: lines, exit 1 on any FAIL):
#   - every reply right (the client's checks), GOAWAY NO_ERROR on SIGTERM;
#   - the server exits 0 after SIGTERM, with nothing on stderr;
#   - 0 heap calls (malloc, calloc, realloc, free, aligned) after start-up;
#   - VmRSS flat: the last sample minus the one after warm-up <= 64 KiB.
# The summary line gives messages, seconds, messages/s, VmRSS after
# warm-up and at the end, VmHWM and the heap calls.
#
# Environment: CC (cc), SOAK_MESSAGES (10000000), SOAK_CONNS (64),
# SOAK_SLOTS (320: the build's GS_MAX_STREAMS; the client keeps its calls
# in flight within it), SOAK_SEED (1), SOAK_SECONDS (3600: the client's
# limit), SOAK_GS (a server binary to test instead of the soak build, e.g.
# ./grpcstream with SOAK_CONNS=16 SOAK_SLOTS=100), SOAK_WARMUP (1; 0 leaves
# the warm-up calls out, and VmRSS then grows for millions of messages as
# the static buffers are touched deeper), SOAK_KEEP (a directory to copy
# the run's files to: samples, client output, counts, the log).
set -u
cd "$(dirname "$0")/.." || exit 2
CC=${CC:-cc}
MESSAGES=${SOAK_MESSAGES:-10000000}
CONNS=${SOAK_CONNS:-64}
SLOTS=${SOAK_SLOTS:-320}
SEED=${SOAK_SEED:-1}
SECONDS_MAX=${SOAK_SECONDS:-3600}
WARMUP=${SOAK_WARMUP:-1}
WARN="-std=c99 -Wall -Wextra -Wpedantic -Werror"
B=bench/build
mkdir -p "$B" || exit 2
fails=0
pass() { echo "PASS: h2 soak: $1"; }
fail() { echo "FAIL: h2 soak: $1"; fails=$((fails + 1)); }

# ---- build (in parallel; a binary newer than its sources is kept)
stale() {   # stale TARGET SOURCE...: TARGET is missing or older than a source
    t=$1; shift
    [ -x "$t" ] || return 0
    for s; do [ "$s" -nt "$t" ] && return 0; done
    return 1
}
GS=${SOAK_GS:-$B/grpcstream-h2soak-$CONNS-$SLOTS}
pids=""
if [ -z "${SOAK_GS:-}" ] && stale "$GS" grpcstream.c grpcstream.h json.c; then
    $CC $WARN -O2 -DGS_MAX_CONNS="$CONNS" -DGS_MAX_STREAMS="$SLOTS" -o "$GS" grpcstream.c json.c 2> "$B/build-server.log" &
    pids="$pids $!"
fi
if stale "$B/h2soak" bench/h2soak.c grpcstream.c grpcstream.h json.c; then
    $CC $WARN -O2 -o "$B/h2soak" bench/h2soak.c json.c 2> "$B/build-h2soak.log" &
    pids="$pids $!"
fi
if stale "$B/malloc_count.so" tests/malloc_count.c; then
    $CC -shared -fPIC -O2 -o "$B/malloc_count.so" tests/malloc_count.c -ldl 2> "$B/build-shim.log" &
    pids="$pids $!"
fi
built=0
for p in $pids; do wait "$p" || built=1; done
if [ $built -ne 0 ]; then
    cat "$B"/build-*.log 2> /dev/null | head -30
    fail "build (-DGS_MAX_CONNS=$CONNS -DGS_MAX_STREAMS=$SLOTS server, bench/h2soak.c, tests/malloc_count.c)"
    rm -f "$GS" "$B/h2soak" "$B/malloc_count.so"
    exit 1
fi
[ -x "$GS" ] || { fail "no server binary $GS"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/soak-h2.XXXXXX") || exit 2
spid="" cpid=""
cleanup() {
    [ -n "$cpid" ] && kill "$cpid" 2> /dev/null
    [ -n "$spid" ] && kill -9 "$spid" 2> /dev/null
    [ -n "${SOAK_KEEP:-}" ] && { rm -rf "$SOAK_KEEP"; cp -r "$T" "$SOAK_KEEP"; }
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

now() { date +%s.%N; }
mem() {     # VmRSS VmHWM of pid $1 in kB, or nothing
    awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {if (r != "") print r, h}' "/proc/$1/status" 2> /dev/null
}
listening() {   # is something listening on 127.0.0.1:$1?
    awk -v want="$(printf '0100007F:%04X' "$1")" '$2 == want && $4 == "0A" {found=1} END {exit !found}' /proc/net/tcp
}

# ---- the log: the eight sample entries
cat > "$T/first.log" << 'EOF'
INFO server started
ERROR disk full
WARN high memory usage
ERROR connection reset
INFO request served
ERROR timeout
DEBUG cache miss
INFO user login
EOF

# ---- the server, on a free port, under the heap-call counter
port=""
for try in 1 2 3 4 5; do
    p=$(( ($$ * 7919 + try * 104729 + $(date +%N | sed 's/^0*//;s/^$/0/') % 1000) % 30000 + 20000 ))
    listening "$p" && continue
    cp "$T/first.log" "$T/soak.log"
    rm -f "$T/counts.txt"
    MALLOC_COUNT_OUT="$T/counts.txt" MALLOC_COUNT_AFTER=accept LD_PRELOAD="$PWD/$B/malloc_count.so" \
        "$GS" --listen "127.0.0.1:$p" --log "$T/soak.log" < /dev/null > /dev/null 2> "$T/server.err" &
    spid=$!
    i=0
    while [ $i -lt 50 ] && kill -0 "$spid" 2> /dev/null && ! listening "$p"; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$spid" 2> /dev/null && listening "$p"; then port=$p; break; fi
    kill -9 "$spid" 2> /dev/null
    wait "$spid" 2> /dev/null
    spid=""
done
[ -n "$port" ] || { fail "the server did not start: $(head -c 300 "$T/server.err")"; exit 1; }

# ---- the client, and the sampler
echo "h2 soak: $MESSAGES messages, $CONNS connections, server $GS (pid $spid) on 127.0.0.1:$port"
"$B/h2soak" --port "$port" --log "$T/first.log" --conns "$CONNS" --slots "$SLOTS" --messages "$MESSAGES" \
    --seed "$SEED" --seconds "$SECONDS_MAX" --progress "$T/progress" --warmup "$WARMUP" > "$T/client.out" 2>&1 &
cpid=$!
t0=$(now)
: > "$T/mem"
ticks=0
state=run
while :; do
    set -- $(cat "$T/progress" 2> /dev/null) x x x
    msgs=$(printf '%s' "$1" | sed 's/^0*//; s/^$/0/') state=$3
    m=$(mem "$spid")
    case $msgs in *[!0-9]*) msgs=0 ;; esac
    [ -n "$m" ] && echo "$msgs $m $state" >> "$T/mem"
    case $state in done|fail) break ;; esac
    kill -0 "$cpid" 2> /dev/null || break
    ticks=$((ticks + 1))
    [ $((ticks % 300)) -eq 0 ] && echo "   ... $(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.0f", b - a}') s," \
        "$((msgs + 0)) messages, VmRSS/VmHWM ${m:-?} kB"
    sleep 0.1
done
set -- $(cat "$T/progress" 2> /dev/null) x x x
state=$3

# ---- SIGTERM: the server must shut down and exit 0
kill -TERM "$spid" 2> /dev/null
i=0
while kill -0 "$spid" 2> /dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$spid" 2> /dev/null; then
    kill -9 "$spid" 2> /dev/null
    wait "$spid" 2> /dev/null
    src="killed (no exit 15 s after SIGTERM)"
else
    wait "$spid"
    src=$?
fi
spid=""
i=0
while kill -0 "$cpid" 2> /dev/null && [ $i -lt 400 ]; do sleep 0.1; i=$((i + 1)); done
kill "$cpid" 2> /dev/null
wait "$cpid"
crc=$?
cpid=""

# ---- what the client said
grep -v -E '^(RESULT |PASS:|FAIL:)' "$T/client.out" | head -60
grep -E '^(PASS|FAIL):' "$T/client.out"
fails=$((fails + $(grep -c '^FAIL:' "$T/client.out")))
if [ "$crc" -ne 0 ] && ! grep -q '^FAIL:' "$T/client.out"; then
    fail "the client exited $crc without a FAIL line: $(tail -c 300 "$T/client.out")"
fi
set -- $(sed -n 's/^RESULT messages=\([0-9]*\) seconds=\([0-9.]*\) rate=\([0-9]*\)$/\1 \2 \3/p' "$T/client.out") 0 0 0
total=$1 secs=$2 rate=$3

# ---- the server's exit
if [ "$src" = 0 ]; then pass "the server exits 0 after SIGTERM"; else fail "the server's exit status after SIGTERM: $src"; fi
if [ -s "$T/server.err" ]; then
    fail "the server wrote on stderr: $(head -c 300 "$T/server.err")"
else
    pass "nothing on the server's stderr"
fi

# ---- heap calls after start-up
counts=$(cat "$T/counts.txt" 2> /dev/null)
heap=$(echo "$counts" | sed -n 's/^malloc_count: malloc=\([0-9]*\) calloc=\([0-9]*\) realloc=\([0-9]*\) free=\([0-9]*\) other=\([0-9]*\) after=accept fired=1 .*/\1 \2 \3 \4 \5/p')
if [ -z "$heap" ]; then
    fail "no usable count line from the heap-call counter (it writes one when the server exits normally): ${counts:-none}"
    heap_calls="?"
else
    heap_calls=$(echo "$heap" | awk '{print $1 + $2 + $3 + $4 + $5}')
    if [ "$heap_calls" -eq 0 ]; then
        pass "0 heap calls after start-up (${counts#malloc_count: })"
    else
        fail "$heap_calls heap calls after start-up: $counts"
    fi
fi

# ---- memory: flat after warm-up
warm=$(awk -v w="$((MESSAGES / 10))" '$1 >= w && NF >= 4 && $4 != "warm" {print $2, $3, $1; exit}' "$T/mem")
last=$(awk 'NF >= 3 {l = $2 " " $3 " " $1} END {print l}' "$T/mem")
nsamples=$(wc -l < "$T/mem")
set -- ${warm:-0 0 0}; w_rss=$1 w_hwm=$2 w_msgs=$3
set -- ${last:-0 0 0}; l_rss=$1 l_hwm=$2 l_msgs=$3
if [ "$state" = fail ]; then
    echo "SKIP: h2 soak: VmRSS flat: the session failed, so its memory shows nothing"
elif [ -z "$warm" ] || [ -z "$last" ] || [ "$state" != done ]; then
    fail "memory: no sample after warm-up and at the end ($nsamples samples; the session ended '$state')"
elif [ $((l_rss - w_rss)) -le 64 ]; then
    pass "VmRSS flat: $w_rss kB after warm-up ($w_msgs messages), $l_rss kB at the end ($l_msgs messages; +$((l_rss - w_rss)) kB <= 64); VmHWM $l_hwm kB"
else
    fail "VmRSS grew $((l_rss - w_rss)) kB after warm-up: $w_rss kB at $w_msgs messages, $l_rss kB at $l_msgs ($nsamples samples; VmHWM $w_hwm -> $l_hwm kB)"
    awk 'NR % 25 == 1' "$T/mem" | head -40 | sed 's/^/    messages, VmRSS, VmHWM: /'
fi

echo "h2 soak summary: $total messages in $secs s = $rate msg/s; VmRSS after warm-up $w_rss kB," \
     "at the end $l_rss kB; VmHWM $l_hwm kB; heap calls after start-up $heap_calls; server exit $src; $fails failed"
[ "$fails" -eq 0 ]
