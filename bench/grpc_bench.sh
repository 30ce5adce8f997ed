#!/bin/sh
# grpc_bench.sh - grpcstream against two peer servers of proto/grpcstream.proto
# over gRPC/h2c, measured with h2load (issue 10 part A).
#
#   sh bench/grpc_bench.sh       (bench/bench.sh runs it last; `make bench`)
#
# The peers, built here only (into bench/build/grpc/), as a user would
# write them with default options:
#   gRPC-C++  bench/peers/cpp/peer.cc, the synchronous API, Debian's
#             libgrpc++-dev and protobuf-compiler-grpc;
#   grpc-go   bench/peers/go/main.go, Debian's golang-go and Go packages,
#             built in GOPATH mode (GO111MODULE=off GOPATH=DIR:/usr/share/gocode).
# Each serves WatchLogs over the same --log FILE (read per call, as grpcstream
# does; "LEVEL message words..." lines, filter, limit), Append, and the
# BiDiChat echo; not follow watches (UNIMPLEMENTED) nor the log's JSON-object
# lines, which the bench does not use.  A peer whose toolchain is missing is a SKIP
# line; without h2load or python3's grpcio the whole bench is a SKIP.
#
# Workloads (h2load: POSTs with content-type: application/grpc, te: trailers,
# and a body of framed messages built once by grpc_bench.py prep):
#   watch x1   WatchLogs {} over a GRPC_LOG_N-entry log (100,000), 1 client
#   watch x8   the same, 8 concurrent clients (one connection each)
#   chat x8    BiDiChat, 8 clients, each call sending CHAT_N (1,000) messages
# A server must first pass a real grpcio call per workload (every message
# byte-equal to the expected encoding, grpc-status OK: grpc_bench.py check).
# A timed run counts only if every call succeeded and h2load's DATA bytes
# equal the calls times the framed response one call must return (computed
# from the log file and the proto, not from a server); h2load's 2xx alone
# does not see grpc-status.  The number of calls per run is calibrated once
# per server and workload so that a run lasts about GRPC_RUN_S seconds (at
# least one call per client).
#
# Each run starts the server afresh, warms it with one BiDiChat call, then
# reads its CPU (utime + stime of every thread, /proc/PID/stat) around the
# timed h2load and its peak RSS (VmHWM) after it.  Servers alternate run by
# run, REPS runs each; the table shows medians: msgs/s (messages the server
# sent / h2load's elapsed time), server CPU seconds per 1M messages, peak RSS
# KiB, and the server's and h2load's CPU as a share of one core (h2load near
# 1.00: the client, not the server, sets the pace).  Then grpcstream's ratios to each peer and
# the issue's targets: msgs/s >= 2x gRPC-C++'s and >= grpc-go's, CPU per
# message <= 1/3 of gRPC-C++'s, peak RSS <= 1/10 of the smallest peer's.
#
# Environment: GS (./grpcstream), REPS (5), GRPC_LOG_N (100000), CHAT_N
# (1000), GRPC_RUN_S (1.5), RUN_TIMEOUT (120 s per h2load), PYTHON
# (/usr/bin/python3, else python3), CXX (c++).  Output: the table, also in
# bench/build/grpc/results.txt; raw per-run lines in bench/build/grpc/raw.txt.
# Exit status 0 when every run worked or the bench was skipped, 1 otherwise.
set -u

cd "$(dirname "$0")/.." || exit 1
GS=${GS:-./grpcstream}
REPS=${REPS:-5}
GRPC_LOG_N=${GRPC_LOG_N:-100000}
CHAT_N=${CHAT_N:-1000}
GRPC_RUN_S=${GRPC_RUN_S:-1.5}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
# Debian's python3 has python3-grpcio; another python3 first on PATH may not
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
fi
CXX=${CXX:-c++}
B=bench/build/grpc
H=bench/grpc_bench.py
RES=$B/results.txt
RAW=$B/raw.txt
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
case $GS in
    */*) ;;
    *) GS=./$GS ;;
esac

mkdir -p "$B" || exit 1
ABS=$(cd "$B" && pwd)
: > "$RES"
: > "$RAW"

say() {
    printf '%s\n' "$*"
    printf '%s\n' "$*" >> "$RES"
}
note() { echo "grpc_bench: $*" >&2; }

if ! command -v h2load > /dev/null 2>&1; then
    say "SKIP: grpc bench: h2load not found (Debian: nghttp2-client)"
    exit 0
fi
if ! "$PYTHON" -c 'import grpc' > /dev/null 2>&1; then
    say "SKIP: grpc bench: $PYTHON cannot import grpc (Debian: python3-grpcio)"
    exit 0
fi
if [ ! -x "$GS" ]; then
    echo "grpc_bench: node $GS not found or not executable (run make, or set GS=path)" >&2
    exit 1
fi

# --- the peers -------------------------------------------------------------
# newer TARGET SRC...: TARGET exists and is newer than every SRC
newer() {
    t=$1
    shift
    [ -x "$t" ] || return 1
    for s in "$@"; do [ "$t" -nt "$s" ] || return 1; done
}

build_cpp() {
    d=$B/cpp
    newer "$d/peer-cpp" bench/peers/cpp/peer.cc proto/grpcstream.proto && return 0
    note "building the gRPC C++ peer..."
    mkdir -p "$d" &&
    protoc -Iproto --cpp_out="$d" --grpc_out="$d" \
        --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" proto/grpcstream.proto &&
    $CXX -O2 -std=c++17 -I"$d" -o "$d/peer-cpp" bench/peers/cpp/peer.cc \
        "$d/grpcstream.pb.cc" "$d/grpcstream.grpc.pb.cc" $(pkg-config --cflags --libs grpc++ protobuf)
}

build_go() {
    d=$B/go
    newer "$d/peer-go" bench/peers/go/main.go proto/grpcstream.proto && return 0
    note "building the grpc-go peer (GOPATH mode; the first build compiles grpc-go)..."
    src=$d/gopath/src/grpcstream
    rm -rf "$src"
    mkdir -p "$src/pb" "$src/peer" &&
    protoc -Iproto --go_out="$src/pb" --go_opt=paths=source_relative \
        --go_opt=Mgrpcstream.proto=grpcstream/pb \
        --go-grpc_out="$src/pb" --go-grpc_opt=paths=source_relative \
        --go-grpc_opt=Mgrpcstream.proto=grpcstream/pb proto/grpcstream.proto &&
    cp bench/peers/go/main.go "$src/peer/" &&
    (cd "$src/peer" && GO111MODULE=off GOFLAGS= GOPATH="$ABS/go/gopath:/usr/share/gocode" \
        GOCACHE="$ABS/go/cache" go build -o "$ABS/go/peer-go" .)
}

SERVERS=grpcstream
have() { command -v "$1" > /dev/null 2>&1; }
if have protoc && have grpc_cpp_plugin && have "$CXX" && have pkg-config &&
   pkg-config --exists grpc++ protobuf; then
    if build_cpp; then SERVERS="$SERVERS gRPC-C++"; else say "SKIP: gRPC-C++ peer: build failed"; fi
else
    say "SKIP: gRPC-C++ peer: toolchain missing (Debian: libgrpc++-dev protobuf-compiler-grpc pkg-config g++)"
fi
if have go && have protoc && have protoc-gen-go && have protoc-gen-go-grpc &&
   [ -d /usr/share/gocode/src/google.golang.org/grpc ] &&
   [ -d /usr/share/gocode/src/google.golang.org/protobuf ]; then
    if build_go; then SERVERS="$SERVERS grpc-go"; else say "SKIP: grpc-go peer: build failed"; fi
else
    say "SKIP: grpc-go peer: toolchain missing (Debian: golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev protoc-gen-go protoc-gen-go-grpc)"
fi
if [ "$SERVERS" = grpcstream ]; then
    say "SKIP: grpc bench: no peer server to compare with"
    exit 0
fi

server_bin() {
    case $1 in
        grpcstream) echo "$GS" ;;
        gRPC-C++) echo "$B/cpp/peer-cpp" ;;
        grpc-go) echo "$B/go/peer-go" ;;
    esac
}

# --- inputs ----------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gsgrpc.XXXXXX") || exit 1
spid=
cleanup() {
    [ -n "$spid" ] && kill -KILL "$spid" 2> /dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
LOG=$tmp/log.txt
note "generating a $GRPC_LOG_N-entry log and the request bodies..."
"$PYTHON" bench/gen.py logfile "$GRPC_LOG_N" > "$LOG" || { note "gen.py failed"; exit 1; }
sizes=$("$PYTHON" "$H" prep "$tmp" "$LOG" "$CHAT_N") || { note "grpc_bench.py prep failed"; exit 1; }
set -- $sizes
WATCH_MSGS=$1 WATCH_BYTES=$2 CHAT_MSGS=$3 CHAT_BYTES=$4
failed=0

# wl NAME: sets the workload's body, path, clients, msgs and bytes per call
wl() {
    case $1 in
        watch1 | watch8)
            body=$tmp/watch.req path=/LogWatcher/WatchLogs kind=watch
            per_msgs=$WATCH_MSGS per_bytes=$WATCH_BYTES ;;
        chat8)
            body=$tmp/chat.req path=/Chat/BiDiChat kind=chat
            per_msgs=$CHAT_MSGS per_bytes=$CHAT_BYTES ;;
    esac
    case $1 in
        watch1) clients=1 label="watch x1" ;;
        watch8) clients=8 label="watch x8" ;;
        chat8) clients=8 label="chat x8" ;;
    esac
}

# --- one server ------------------------------------------------------------
start_server() {
    port=$("$PYTHON" "$H" port) || return 1
    "$(server_bin "$1")" --listen "127.0.0.1:$port" --log "$LOG" > "$tmp/server.err" 2>&1 &
    spid=$!
    if ! "$PYTHON" "$H" wait "$port" 10 > "$tmp/why" 2>&1; then
        note "$1 did not start: $(cat "$tmp/why") $(head -c 300 "$tmp/server.err")"
        stop_server
        return 1
    fi
}

stop_server() {
    [ -n "$spid" ] || return 0
    kill -TERM "$spid" 2> /dev/null
    i=0
    while kill -0 "$spid" 2> /dev/null && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$spid" 2> /dev/null
    wait "$spid" 2> /dev/null
    spid=
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$spid/stat"; }
peak_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$spid/status"; }

# h2 CALLS CLIENTS BODY PATH OUT: one h2load run, report in OUT; prints
# h2load's CPU ticks (children's times of the shell that waited for it)
h2() {
    sh -c 'timeout "$1" h2load -n "$2" -c "$3" -m 1 -H "content-type: application/grpc" \
               -H "te: trailers" -d "$4" "$5" > "$6" 2>&1
           rc=$?
           awk "{ print \$16 + \$17 }" /proc/$$/stat
           exit $rc' sh "$RUN_TIMEOUT" "$1" "$2" "$3" "http://127.0.0.1:$port$4" "$5"
}

# warm: one BiDiChat call on one connection, checked like any run
warm() {
    h2 1 1 "$tmp/chat.req" /Chat/BiDiChat "$tmp/warm.out" > /dev/null &&
        "$PYTHON" "$H" h2load "$tmp/warm.out" 1 "$CHAT_BYTES" > "$tmp/why"
}

# calibrate SERVER WL: the grpcio check, then the calls per run; sets calls
calibrate() {
    wl "$2"
    start_server "$1" || return 1
    if ! "$PYTHON" "$H" check "$port" "$LOG" "$CHAT_N" "$kind" > "$tmp/why" 2>&1; then
        note "$1 $label: grpcio check failed: $(cat "$tmp/why")"
        stop_server
        return 1
    fi
    n=$clients
    while :; do
        h2 "$n" "$clients" "$body" "$path" "$tmp/cal.out" > /dev/null
        if ! secs=$("$PYTHON" "$H" h2load "$tmp/cal.out" "$n" "$per_bytes"); then
            note "$1 $label: calibration run failed: $secs"
            stop_server
            return 1
        fi
        # long enough to scale from (0.25 s), or already over the target
        if awk -v s="$secs" -v t="$GRPC_RUN_S" 'BEGIN { exit !(s >= 0.25 || s >= t) }'; then
            break
        fi
        n=$((n * 4))
    done
    stop_server
    calls=$(awk -v n="$n" -v s="$secs" -v t="$GRPC_RUN_S" -v c="$clients" 'BEGIN {
        k = int(n / s * t / c + 0.5); if (k < 1) k = 1; print k * c }')
}

# run SERVER WL CALLS: one timed run; appends to $tmp/SERVER.WL.{mps,cpu,rss,cli}
run() {
    wl "$2"
    start_server "$1" || return 1
    if ! warm; then
        note "$1: warm-up call failed: $(cat "$tmp/why")"
        stop_server
        return 1
    fi
    c0=$(cpu_ticks)
    cli=$(h2 "$3" "$clients" "$body" "$path" "$tmp/run.out")
    c1=$(cpu_ticks)
    hwm=$(peak_kb)
    stop_server
    if ! secs=$("$PYTHON" "$H" h2load "$tmp/run.out" "$3" "$per_bytes"); then
        note "$1 $label: run failed: $secs"
        printf '%s %s FAILED %s\n' "$1" "$2" "$secs" >> "$RAW"
        return 1
    fi
    f=$tmp/$1.$2
    awk -v calls="$3" -v m="$per_msgs" -v s="$secs" -v c0="$c0" -v c1="$c1" -v hz="$HZ" \
        -v cli="$cli" -v hwm="$hwm" -v f="$f" -v tag="$1 $2" 'BEGIN {
        msgs = calls * m; cpu = (c1 - c0) / hz
        printf "%.1f\n", msgs / s >> (f ".mps")
        printf "%.4f\n", cpu / msgs * 1e6 >> (f ".cpu")
        printf "%d\n", hwm >> (f ".rss")
        printf "%.3f\n", cli / hz / s >> (f ".cli")
        printf "%s calls=%d msgs=%d secs=%.4f server_cpu_s=%.2f peak_kb=%d h2load_cpu_s=%.2f\n",
            tag, calls, msgs, s, cpu, hwm, cli / hz }' >> "$RAW"
}

median() {
    sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# --- the bench -------------------------------------------------------------
WLS="watch1 watch8 chat8"
for w in $WLS; do
    for s in $SERVERS; do
        note "checking and calibrating $s on $w..."
        if calibrate "$s" "$w"; then
            echo "$calls" > "$tmp/calls.$s.$w"
        else
            failed=1
        fi
    done
done
r=1
while [ $r -le "$REPS" ]; do
    note "round $r of $REPS..."
    for w in $WLS; do
        for s in $SERVERS; do
            [ -f "$tmp/calls.$s.$w" ] || continue
            run "$s" "$w" "$(cat "$tmp/calls.$s.$w")" || failed=1
        done
    done
    r=$((r + 1))
done

say "grpc bench: h2load over h2c on 127.0.0.1, $REPS runs per server and workload, servers alternating; medians"
say "(log: $WATCH_MSGS entries, $WATCH_BYTES framed response bytes per WatchLogs {}; chat: $CHAT_N messages per call;"
say " CPU_s/1M = server utime+stime per 1M messages sent; server, h2load = CPU / elapsed, 1.00 = a core)"
say "$(printf '%-9s %-10s %6s %12s %10s %9s %7s %7s' workload server calls msgs/s CPU_s/1M peak_KiB server h2load)"
for w in $WLS; do
    wl "$w"
    for s in $SERVERS; do
        f=$tmp/$s.$w
        if [ ! -s "$f.mps" ] || [ "$(wc -l < "$f.mps")" -lt "$REPS" ]; then
            say "$(printf '%-9s %-10s FAILED' "$label" "$s")"
            continue
        fi
        echo "$(median "$f.mps") $(median "$f.cpu") $(median "$f.rss") $(median "$f.cli")" > "$f.med"
        read mps cpu rss cli < "$f.med"
        say "$(awk -v w="$label" -v s="$s" -v n="$(cat "$tmp/calls.$s.$w")" -v a="$mps" -v b="$cpu" -v c="$rss" -v d="$cli" \
            'BEGIN { printf "%-9s %-10s %6d %12.0f %10.3f %9d %7.2f %7.2f", w, s, n, a, b, c, a * b / 1e6, d }')"
    done
done

# targets: grpcstream's msgs/s >= 2x gRPC-C++'s and >= grpc-go's; CPU per
# message <= 1/3 of gRPC-C++'s; peak RSS <= 1/10 of the smallest peer's
say ""
say "grpcstream against the peers (same runs; MET/MISSED against issue 10's targets; where h2load"
say "used >= 0.9 of a core on grpcstream's runs a missed throughput target says h2load-bound: CPU decides)"
say "$(printf '%-9s %-20s %-20s %-20s %s' workload 'msgs/s / gRPC-C++' 'msgs/s / grpc-go' 'CPU / gRPC-C++' 'RSS / smallest peer')"
for w in $WLS; do
    wl "$w"
    [ -f "$tmp/grpcstream.$w.med" ] || continue
    read gm gc gr gcl < "$tmp/grpcstream.$w.med"
    cm=0 cc=0 cr=0 om=0 orss=0
    [ -f "$tmp/gRPC-C++.$w.med" ] && read cm cc cr ccl < "$tmp/gRPC-C++.$w.med"
    [ -f "$tmp/grpc-go.$w.med" ] && read om oc orss ocl < "$tmp/grpc-go.$w.med"
    say "$(awk -v w="$label" -v gm="$gm" -v gc="$gc" -v gr="$gr" -v cm="$cm" -v cc="$cc" -v cr="$cr" \
        -v om="$om" -v orss="$orss" -v gcl="$gcl" 'function v(x, ok, t) {
            return sprintf("%.3g%s %s", x, t, ok ? "MET" : "MISSED") }
        function r(x, ok, t) {      # a throughput ratio: say when h2load set the pace
            return v(x, ok, t) (!ok && gcl >= 0.9 ? " (h2load-bound)" : "") }
        BEGIN {
        a = cm > 0 ? r(gm / cm, gm >= 2 * cm, "x>=2") : "n/a"
        b = om > 0 ? r(gm / om, gm >= om, "x>=1") : "n/a"
        c = cc > 0 ? v(gc / cc, gc * 3 <= cc, "<=.33") : "n/a"
        p = cr > 0 && (orss == 0 || cr < orss) ? cr : orss
        d = p > 0 ? v(gr / p, gr * 10 <= p, "<=.1") : "n/a"
        printf "%-9s %-20s %-20s %-20s %s", w, a, b, c, d }')"
done
exit $failed
