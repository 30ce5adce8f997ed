#!/bin/sh
# Runs every test of grpcstream. Each check prints one line; the closing
# line is "N passed, N failed, N skipped" and the exit status is non-zero
# on any failure. Tests that need a tool this machine lacks are skipped
# (a SKIP line), never counted as passed; a test file that is missing is a
# failure, never a silent absence.
set -u
cd "$(dirname "$0")" || exit 2
B=build/test
rm -rf "$B"
mkdir -p "$B"
WARN="-std=c99 -Wall -Wextra -Wpedantic -Werror"
SAN="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1

pass=0 fail=0 skip=0
ok()   { pass=$((pass + 1)); [ -n "${VERBOSE:-}" ] && echo "PASS: $1"; return 0; }
bad()  { fail=$((fail + 1)); echo "FAIL: $1"; }
skip() { skip=$((skip + 1)); echo "SKIP: $1"; }
check() { name=$1; shift; if "$@" > "$B/check.log" 2>&1; then ok "$name"; else bad "$name"; sed 's/^/    /' "$B/check.log" | head -20; fi; }

# Runs a test program that prints PASS:/FAIL:/SKIP: lines; counts them.
collect() {
    label=$1; shift
    "$@" > "$B/collect.log" 2>&1
    rc=$?
    p=$(grep -c '^PASS' "$B/collect.log"); f=$(grep -c '^FAIL' "$B/collect.log"); s=$(grep -c '^SKIP' "$B/collect.log")
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    grep -E '^(FAIL|SKIP)' "$B/collect.log" | sed "s/^/$label /"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        bad "$label exited $rc without a FAIL line"; tail -20 "$B/collect.log" | sed 's/^/    /'
    fi
    if [ "$p$f$s" = "000" ] && [ "$rc" -eq 0 ]; then bad "$label ran no check"; fi
}

have() { command -v "$1" > /dev/null 2>&1; }

# need FILE...: true if every test file is there; else one FAIL per missing
# file (a deleted test must not vanish from the count).
need() {
    need_ok=0
    for need_f; do
        [ -e "$need_f" ] || { bad "missing test file $need_f"; need_ok=1; }
    done
    return $need_ok
}

# ---------------------------------------------------------------- build
for cc in gcc clang; do
    if have $cc; then
        check "build with $cc -Werror" $cc $WARN -O2 -o "$B/grpcstream-$cc" grpcstream.c json.c
        check "build library with $cc (GS_NO_MAIN)" $cc $WARN -O2 -DGS_NO_MAIN -c -o "$B/lib-$cc.o" grpcstream.c
    else
        skip "build with $cc ($cc not installed)"
    fi
done
check "make builds ./grpcstream" make -s grpcstream
check "make honours PREFIX (install)" sh -c "make -s install PREFIX=$PWD/$B/prefix && test -x $B/prefix/bin/grpcstream"
# Both checks below must see what they judge: a missing binary, a readelf
# or nm that fails, or an empty listing is a failure, not a pass.
libc_only() {
    [ -x grpcstream ] || { echo "./grpcstream is missing"; return 1; }
    dyn=$(readelf -d grpcstream) || { echo "readelf -d grpcstream failed"; return 1; }
    needed=$(printf '%s\n' "$dyn" | grep NEEDED)
    printf '%s\n' "$needed"
    printf '%s\n' "$needed" | grep -q 'libc\.so' || { echo "no NEEDED libc.so entry: cannot tell what is linked"; return 1; }
    others=$(printf '%s\n' "$needed" | grep -v 'libc\.so')
    [ -z "$others" ] || { echo "linked beyond libc: $others"; return 1; }
}
if have readelf; then check "only libc is linked" libc_only; else skip "only libc is linked (readelf not installed)"; fi
exported_ok() {
    gcc $WARN -O2 -DGS_NO_MAIN -c -o "$B/g.o" grpcstream.c && gcc $WARN -O2 -c -o "$B/j.o" json.c || return 1
    syms=$(nm -g --defined-only "$B/g.o" "$B/j.o") || { echo "nm failed"; return 1; }
    names=$(printf '%s\n' "$syms" | awk 'NF==3 {print $3}')
    for want in gs_feed gs_init gs_json_next; do   # nm must list what it judges
        printf '%s\n' "$names" | grep -qx "$want" || { echo "nm does not list $want: cannot judge"; return 1; }
    done
    bad_syms=$(printf '%s\n' "$names" | grep -v '^gs_')
    [ -z "$bad_syms" ] || { echo "exported without gs_ prefix: $bad_syms"; return 1; }
}
if ! have nm; then skip "every exported symbol has the gs_ prefix (nm not installed)"
elif ! have gcc; then skip "every exported symbol has the gs_ prefix (gcc not installed)"
else check "every exported symbol has the gs_ prefix" exported_ok; fi

# ------------------------------------------------- command line (usage)
help_ok() {     # FLAG: usage on stdout, nothing on stderr, exit 0
    timeout 10 ./grpcstream "$1" < /dev/null > "$B/usage.out" 2> "$B/usage.err"
    rc=$?
    [ "$rc" -eq 0 ] || { echo "exit status $rc (want 0)"; cat "$B/usage.err"; return 1; }
    grep -q '^usage: grpcstream' "$B/usage.out" || { echo "no usage on stdout:"; cat "$B/usage.out"; return 1; }
    [ ! -s "$B/usage.err" ] || { echo "stderr not empty:"; cat "$B/usage.err"; return 1; }
}
usage_error() { # ARGS...: usage on stderr, nothing on stdout, exit 2
    timeout 10 ./grpcstream "$@" < /dev/null > "$B/usage.out" 2> "$B/usage.err"
    rc=$?
    [ "$rc" -eq 2 ] || { echo "exit status $rc (want 2)"; return 1; }
    grep -q '^usage: grpcstream' "$B/usage.err" || { echo "no usage on stderr:"; cat "$B/usage.err"; return 1; }
    [ ! -s "$B/usage.out" ] || { echo "stdout not empty:"; cat "$B/usage.out"; return 1; }
}
check "--help: usage on stdout, exit 0" help_ok --help
check "-h: usage on stdout, exit 0" help_ok -h
check "a bad flag (--bogus): usage on stderr, exit 2" usage_error --bogus
check "a bad flag (-x): usage on stderr, exit 2" usage_error -x
check "--log without FILE: usage on stderr, exit 2" usage_error --log

# ------------------------------- build macros out of range do not compile
# Each must stop the build at an #error that names the macro (issue 7).
LCC=gcc; have gcc || LCC=clang
rejects() {     # NAME=VALUE
    if $LCC $WARN -DGS_NO_MAIN -D"$1" -fsyntax-only grpcstream.c > "$B/reject.log" 2>&1; then
        echo "-D$1 compiled"; return 1
    fi
    grep '#error' "$B/reject.log" | grep -q "${1%%=*}" && return 0
    echo "-D$1 failed, but with no #error naming ${1%%=*}:"; head -10 "$B/reject.log"; return 1
}
if have $LCC; then
    check "limits: the defaults compile ($LCC -fsyntax-only)" $LCC $WARN -DGS_NO_MAIN -fsyntax-only grpcstream.c
    for v in GS_MAX_DEPTH=4 GS_MAX_DEPTH=64 GS_MAX_STREAMS=1 GS_MAX_METHODS=3 GS_LOG_RING=1000 GS_SLICE=1 \
             GS_JSON_SHAPES=0 GS_JSON_SHAPE_PARTS=64; do
        check "limits: accepts -D$v (an edge of its range)" $LCC $WARN -DGS_NO_MAIN -D$v -fsyntax-only grpcstream.c
    done
    for v in GS_MAX_DEPTH=100 GS_MAX_DEPTH=3 GS_MAX_STREAMS=40000 GS_MAX_STREAMS=0 GS_MAX_METHODS=300 \
             GS_MAX_METHODS=2 GS_LOG_RING=1001 GS_SLICE=0 GS_MAX_CAPTURES=300 GS_MAX_CONNS=300 \
             GS_JSON_SHAPES=256 GS_JSON_SHAPES=-1 GS_JSON_SHAPE_PARTS=0 GS_JSON_SHAPE_PARTS=65 \
             GS_JSON_SHAPE_BYTES=70000; do
        check "limits: rejects -D$v (#error naming it)" rejects "$v"
    done
else
    skip "limits: out-of-range build macros (no C compiler)"
fi
SANBIN=$B/grpcstream-asan
if ! clang $WARN $SAN -o "$SANBIN" grpcstream.c json.c 2> "$B/asan.log" &&
   ! gcc $WARN $SAN -o "$SANBIN" grpcstream.c json.c 2>> "$B/asan.log"; then
    bad "ASan+UBSan build"; cat "$B/asan.log"; SANBIN=
fi

# ------------------------------------------------- end-to-end, byte-exact
run_case() {    # binary, input, expected
    timeout 60 "$1" < "$2" > "$B/case.out" 2> "$B/case.err" || { echo "exit status $?"; cat "$B/case.err"; return 1; }
    cmp "$B/case.out" "$3" || { diff "$B/case.out" "$3" | head -10; return 1; }
}
python3 tests/cases/gen_big.py "$B/big" > /dev/null
for bin in ./grpcstream $SANBIN; do
    for f in tests/cases/*.in "$B"/big/*.in; do
        check "case $(basename "${f%.in}") ($bin)" run_case "$bin" "$f" "${f%.in}.out"
    done
done
for f in tests/cases/*.in; do
    check "model agrees: $(basename "${f%.in}")" run_case "tests/model.py" "$f" "${f%.in}.out"
done

# Lines with no usable src (PROTOCOL.md 1.5): one "grpcstream: ..." line on
# stderr per bad line, the good lines answered, exit 0.
run_diag() {    # binary, input, expected stdout, expected stderr
    timeout 60 "$1" < "$2" > "$B/diag.out" 2> "$B/diag.err"
    rc=$?
    [ "$rc" -eq 0 ] || { echo "exit status $rc"; cat "$B/diag.err"; return 1; }
    cmp "$B/diag.out" "$3" || { diff "$B/diag.out" "$3" | head -10; return 1; }
    cmp "$B/diag.err" "$4" || { echo "stderr (< got, > want):"; diff "$B/diag.err" "$4" | head -20; return 1; }
}
if need tests/diag/unusable_src.in tests/diag/unusable_src.out tests/diag/unusable_src.err; then
    for bin in ./grpcstream $SANBIN; do
        check "no usable src: one stderr diagnostic per bad line, the rest answered ($bin)" \
            run_diag "$bin" tests/diag/unusable_src.in tests/diag/unusable_src.out tests/diag/unusable_src.err
    done
    check "model agrees: no usable src" run_case tests/model.py tests/diag/unusable_src.in tests/diag/unusable_src.out
fi
collect "model selftest:" sh tests/model_selftest.sh

# --------------------------------------------- C unit tests (sanitized)
build_test() {  # name: builds tests/NAME.c with the library under ASan+UBSan
    cc=clang; have clang || cc=gcc
    $cc $WARN $SAN -DGS_NO_MAIN -I. -o "$B/$1" "tests/$1.c" grpcstream.c json.c
}
if need tests/unit_json.c tests/writer_check.py; then
    if build_test unit_json; then collect "unit_json:" "$B/unit_json" tests/writer_check.py; else bad "build tests/unit_json.c"; fi
fi
if need tests/split.c; then
    if build_test split; then collect "split:" "$B/split" tests/cases/*.in; else bad "build tests/split.c"; fi
fi
if need tests/unit_api.c; then
    if build_test unit_api; then collect "unit_api:" "$B/unit_api"; else bad "build tests/unit_api.c"; fi
fi
# the call core with no wire format, the review's regressions, stack use
if need tests/unit_core.c; then
    cc=clang; have clang || cc=gcc
    # unit_core.c includes grpcstream.c itself (its test front end)
    if $cc $WARN $SAN -DGS_MAX_STREAMS=4 -I. -o "$B/unit_core" tests/unit_core.c json.c; then
        collect "unit_core:" "$B/unit_core"
    else
        bad "build tests/unit_core.c"
    fi
fi
if need tests/unit_regress.c tests/regress/bidi_start_fails.in tests/regress/bidi_start_fails.out \
        tests/regress/capture_slots.in tests/regress/capture_slots.out \
        tests/regress/half_closed.in tests/regress/half_closed.out; then
    if build_test unit_regress; then collect "unit_regress:" "$B/unit_regress" tests/regress; else bad "build tests/unit_regress.c"; fi
    cc=clang; have clang || cc=gcc
    WIDE="-DWIDE_REPLIES -DGS_MAX_VALUE=256 -DGS_REPLY_MAX=32768 -DGS_H2_BUF=4096 -DGS_OUT_BATCH=1024"
    if $cc $WARN $SAN -DGS_NO_MAIN $WIDE -I. -o "$B/unit_regress_wide" tests/unit_regress.c grpcstream.c json.c; then
        collect "unit_regress (wide replies):" "$B/unit_regress_wide" tests/regress
    else
        bad "build tests/unit_regress.c ($WIDE)"
    fi
fi
if need tests/stack_frames.sh; then collect "stack frames:" sh tests/stack_frames.sh; fi
if need tests/cross_arm.sh; then collect "cross arm:" sh tests/cross_arm.sh; fi
if need tests/firmware.sh examples/firmware/main.c examples/firmware/startup.c examples/firmware/host.c \
        examples/firmware/firmware.h examples/firmware/mps2.ld examples/firmware/grpcio.h2 examples/session.jsonl bench/gen.py; then
    collect "firmware:" sh tests/firmware.sh
    sed -n 's/^PASS: size, /firmware: size, /p' "$B/collect.log"     # the size report
fi

# HPACK, protobuf and the HTTP/2 layer, byte by byte (they include grpcstream.c)
for t in unit_hpack unit_proto unit_h2; do
    if need tests/$t.c; then
        cc=clang; have clang || cc=gcc
        if $cc $WARN $SAN -I. -o "$B/$t" tests/$t.c json.c; then collect "$t:" "$B/$t"; else bad "build tests/$t.c"; fi
    fi
done
# every proto3 type: codec and JSON mapping, with 512 KiB messages (and
# at the default limits, where the 512 KiB checks are skipped)
if need tests/unit_types.c; then
    cc=clang; have clang || cc=gcc
    if $cc $WARN $SAN -DGS_MAX_FIELDS=16 -DGS_MAX_MESSAGE=600000 -I. -o "$B/unit_types" tests/unit_types.c json.c &&
       $cc $WARN $SAN -I. -o "$B/unit_types_default" tests/unit_types.c json.c; then
        collect "unit_types:" "$B/unit_types"
        collect "unit_types (default limits):" "$B/unit_types_default"
    else
        bad "build tests/unit_types.c"
    fi
fi
PY3=/usr/bin/python3; [ -x "$PY3" ] || PY3=python3
if need tests/hpack_diff.py tests/hpack_cli.c; then collect "hpack vs python3-hpack:" "$PY3" tests/hpack_diff.py; fi
check "JSON-lines-only build (-DGS_MAX_CONNS=0)" gcc $WARN -O2 -DGS_MAX_CONNS=0 -o "$B/grpcstream-json" grpcstream.c json.c
check "  ...serves the example session" run_case "$B/grpcstream-json" examples/session.jsonl examples/session.out

if need tests/robust.py; then
    collect "robust:" python3 tests/robust.py ./grpcstream
    [ -n "$SANBIN" ] && collect "robust (asan):" python3 tests/robust.py "$SANBIN"
fi

# ------------------------------------------- the README's example session
check "README example session" run_case ./grpcstream examples/session.jsonl examples/session.out
EMB="-DGS_MAX_STREAMS=8 -DGS_MAX_VALUE=256 -DGS_LOG_RING=8192 -DGS_OUT_BATCH=4096"
check "embedded build ($EMB)" gcc $WARN -O2 $EMB -o "$B/grpcstream-small" grpcstream.c json.c
check "embedded build serves the example session" run_case "$B/grpcstream-small" examples/session.jsonl examples/session.out
check "embedded build without the file log (-DGS_NO_FILE_LOG)" gcc $WARN -O2 $EMB -DGS_NO_FILE_LOG -o "$B/grpcstream-nofile" grpcstream.c json.c
check "  ...serves the example session" run_case "$B/grpcstream-nofile" examples/session.jsonl examples/session.out

# ------------------------------------------ the log ring, a small build
check "ring build (-DGS_LOG_RING=4096)" gcc $WARN -O2 -DGS_LOG_RING=4096 -o "$B/grpcstream-ring" grpcstream.c json.c
check "ring eviction: oldest entries go, seq stays absolute" run_case "$B/grpcstream-ring" tests/ring/eviction.in tests/ring/eviction.out

check "tiny build (-DGS_LOG_RING=256 -DGS_MAX_VALUE=64)" gcc $WARN -O2 -DGS_LOG_RING=256 -DGS_MAX_VALUE=64 -o "$B/grpcstream-tiny" grpcstream.c json.c
check "tiny ring: an entry that needs the whole ring" run_case "$B/grpcstream-tiny" tests/tiny/ring_wrap.in tests/tiny/ring_wrap.out
sleeps_until_far_deadline() {   # a deadline 35 days away: sleep, don't spin
    t=$( { /usr/bin/time -f '%U %S' timeout 1 ./grpcstream < tests/far_deadline.in > /dev/null; } 2>&1 | tail -1)
    echo "cpu seconds (user sys) in 1 s: $t"
    awk -v u="${t%% *}" -v s="${t##* }" 'BEGIN { exit !(u + s < 0.3) }'
}
if [ -x /usr/bin/time ]; then check "a far deadline is slept on, not spun on" sleeps_until_far_deadline; else skip "far deadline CPU check (/usr/bin/time missing)"; fi

# ------------------------------- error texts state the build's own limits
LIM="-DGS_MAX_DEPTH=8 -DGS_MAX_ID=16 -DGS_MAX_VALUE=100"
check "limits build ($LIM)" gcc $WARN -O2 $LIM -o "$B/grpcstream-limits" grpcstream.c json.c
check "limits: a 17-byte node_id is \"node_id longer than 16 bytes\"" run_case "$B/grpcstream-limits" tests/limits/node_id.in tests/limits/node_id.out
check "limits: 9 deep is \"nesting deeper than 8\"" run_case "$B/grpcstream-limits" tests/limits/depth.in tests/limits/depth.out
check "limits: a 101-byte text is \"text larger than 100 bytes\"" run_case "$B/grpcstream-limits" tests/limits/value.in tests/limits/value.out

# ------------------------------- --log FILE, fair streams, backpressure
collect "logfile:" python3 tests/logfile.py ./grpcstream

# ------------------------------- differential sessions, I/O faults
collect "difffuzz:" python3 tests/difffuzz.py --sessions 2000 --seed 1 ./grpcstream
[ -n "$SANBIN" ] && collect "difffuzz (asan):" python3 tests/difffuzz.py --sessions 300 --seed 2 "$SANBIN"
collect "iofault:" python3 tests/iofault.py ./grpcstream

# ----------------------------------------------------------- vendoring
if need examples/counter.c examples/counter.in examples/counter.out; then
    check "example: build examples/counter.c" gcc $WARN -O2 -DGS_NO_MAIN -I. -o "$B/counter" examples/counter.c grpcstream.c json.c
    check "example: output" run_case "$B/counter" examples/counter.in examples/counter.out
    check "example: Counter's services built into grpcstream's own shell (GS_MAIN_SERVICES)" \
        gcc $WARN -O2 -DCOUNTER_NO_MAIN -DGS_MAIN_SERVICES=counter_services -DGS_METADATA=1024 -I. -o "$B/counter-node" \
        examples/counter.c grpcstream.c json.c
    check "example: that shell answers counter.in as counter.c's loop does" \
        run_case "$B/counter-node" examples/counter.in examples/counter.out
fi

# ------------------------------------------ gRPC over HTTP/2 (--listen)
if need tests/h2/interop_py.py tests/h2/interop_js.js tests/h2/common.js tests/h2/nghttp_check.py tests/h2/h2spec.sh \
        tests/h2/common.py tests/h2/fixed_memory.py proto/grpcstream.proto \
        tests/h2/abuse.py tests/h2/faults.py tests/h2/rawh2.py tests/h2/sockfault.c; then
    collect "h2 grpcio:" "$PY3" tests/h2/interop_py.py --server ./grpcstream --build-dir "$B/h2"
    [ -n "$SANBIN" ] && collect "h2 grpcio (asan):" "$PY3" tests/h2/interop_py.py --server "$SANBIN" --build-dir "$B/h2-asan"
    if have node; then
        collect "h2 grpc-js:" node tests/h2/interop_js.js --server ./grpcstream --build-dir "$B/h2"
    else
        skip "h2 grpc-js interop (node not installed)"
    fi
    if need tests/h2/client_stream.py tests/h2/client_stream.js; then
        collect "h2 client streaming (grpcio):" "$PY3" tests/h2/client_stream.py --server "$B/counter-node" --build-dir "$B/h2-cs"
        if have node; then
            collect "h2 client streaming (grpc-js):" node tests/h2/client_stream.js --server "$B/counter-node"
        else
            skip "h2 client streaming (grpc-js): node not installed"
        fi
    fi
    collect "h2 nghttp:" "$PY3" tests/h2/nghttp_check.py --server ./grpcstream --build-dir "$B/h2"
    collect "h2spec:" sh tests/h2/h2spec.sh --server ./grpcstream --build-dir "$B/h2"
    [ -n "$SANBIN" ] && collect "h2spec (asan):" sh tests/h2/h2spec.sh --server "$SANBIN" --build-dir "$B/h2-asan"
    collect "h2 fixed memory:" "$PY3" tests/h2/fixed_memory.py --server ./grpcstream --build-dir "$B/h2"
    collect "h2 abuse:" "$PY3" tests/h2/abuse.py --server ./grpcstream --build-dir "$B/h2-abuse"
    [ -n "$SANBIN" ] && collect "h2 abuse (asan):" "$PY3" tests/h2/abuse.py --server "$SANBIN" --rss-limit-kib 0 --build-dir "$B/h2-abuse-asan"
    if need tests/h2/nginx_proxy.py tests/h2/nginx.conf.in; then
        collect "h2 nginx proxy:" "$PY3" tests/h2/nginx_proxy.py --server ./grpcstream --build-dir "$B/h2"
    fi
    if need bench/soak-h2.sh bench/h2soak.c tests/malloc_count.c; then
        collect "h2 soak (short; make soak-h2 for 10M):" env SOAK_MESSAGES=200000 sh bench/soak-h2.sh
    fi
    collect "h2 faults:" "$PY3" tests/h2/faults.py --server ./grpcstream --build-dir "$B/h2-faults"
    [ -n "$SANBIN" ] && collect "h2 faults (asan):" "$PY3" tests/h2/faults.py --server "$SANBIN" --build-dir "$B/h2-faults-asan"
fi

# ------------------------- gRPC's interop TestService (examples/interop_server.c)
if need examples/interop_server.c examples/interop.jsonl examples/interop.out \
        examples/grpc/testing/test.proto examples/grpc/testing/messages.proto \
        examples/grpc/testing/empty.proto tests/h2/interop_cases.py tests/h2/interop_cases.js \
        tests/h2/common.py tests/malloc_count.c; then
    INTEROP_FLAGS="-DGS_MAIN_SERVICES=interop_services -DGS_MAX_MESSAGE=524288 -DGS_MAX_FIELDS=16 -DGS_MAX_STREAMS=32"
    IOP=$B/interop_server
    check "interop: build examples/interop_server.c (512 KiB messages)" \
        gcc $WARN -O2 $INTEROP_FLAGS -I. -o "$IOP" examples/interop_server.c grpcstream.c json.c
    IOP_ASAN=$B/interop_server-asan
    clang $WARN $SAN $INTEROP_FLAGS -I. -o "$IOP_ASAN" examples/interop_server.c grpcstream.c json.c 2> "$B/iop-asan.log" ||
        { bad "interop: ASan+UBSan build"; cat "$B/iop-asan.log"; IOP_ASAN=; }
    # every case, with the heap-call counter preloaded: from the first
    # accepted connection on, the server must make none (README "Memory")
    gcc -shared -fPIC -O2 -o "$B/malloc_count.so" tests/malloc_count.c -ldl
    rm -f "$B/iop-heap.txt"
    COUNTED="env MALLOC_COUNT_OUT=$PWD/$B/iop-heap.txt MALLOC_COUNT_AFTER=accept LD_PRELOAD=$PWD/$B/malloc_count.so $IOP"
    collect "interop (grpcio):" "$PY3" tests/h2/interop_cases.py --server "$COUNTED" --build-dir "$B/h2-iop"
    [ -n "$IOP_ASAN" ] && collect "interop (grpcio, asan):" "$PY3" tests/h2/interop_cases.py --server "$IOP_ASAN" --build-dir "$B/h2-iop-asan"
    if have node; then
        collect "interop (grpc-js):" node tests/h2/interop_cases.js --server "$COUNTED"
    else
        skip "interop (grpc-js): node not installed"
    fi
    # the cases themselves, against a grpcio TestService (they must pass there too)
    if need tests/h2/interop_ref_server.py; then
        REF="$PY3 tests/h2/interop_ref_server.py"
        collect "interop cases vs grpcio reference (grpcio):" "$PY3" tests/h2/interop_cases.py --server "$REF" --build-dir "$B/h2-iop-ref"
        if have node; then
            collect "interop cases vs grpcio reference (grpc-js):" node tests/h2/interop_cases.js --server "$REF"
        else
            skip "interop cases vs grpcio reference (grpc-js): node not installed"
        fi
    fi
    interop_heap() {
        cat "$B/iop-heap.txt" || return 1
        [ "$(grep -c 'malloc=0 calloc=0 realloc=0 free=0 other=0 after=accept fired=1' "$B/iop-heap.txt")" -eq \
          "$(wc -l < "$B/iop-heap.txt")" ] && [ "$(wc -l < "$B/iop-heap.txt")" -ge 1 ]
    }
    check "interop: no heap call after the first connection, over every case (20 concurrent 314 KB calls included)" interop_heap
    # the same services over JSON lines: nested messages and lists read
    # and written as proto3's JSON mapping says
    check "interop: examples/interop.jsonl over JSON lines" run_case "$IOP" examples/interop.jsonl examples/interop.out
    [ -n "$IOP_ASAN" ] && check "interop: examples/interop.jsonl (asan)" run_case "$IOP_ASAN" examples/interop.jsonl examples/interop.out
    interop_jsonl_heap() {    # 20,000 nested requests: no heap call from start to end
        { sed -n 1p examples/interop.jsonl
          i=1; while [ $i -le 2000 ]; do
              sed -n '3,4p;6p' examples/interop.jsonl
              sed -n '7,9p' examples/interop.jsonl | sed "s/\"s1\"/\"s$i\"/"
              i=$((i + 1))
          done; } > "$B/iop-load.jsonl"
        rm -f "$B/iop-jl-heap.txt"
        MALLOC_COUNT_OUT="$B/iop-jl-heap.txt" LD_PRELOAD="$PWD/$B/malloc_count.so" "$IOP" \
            < "$B/iop-load.jsonl" > "$B/iop-load.out" 2> /dev/null || return 1
        cat "$B/iop-jl-heap.txt"
        [ "$(grep -c '"status": "OK", "response"' "$B/iop-load.out")" -eq 2000 ] || return 1
        [ "$(grep -c '"aggregated_payload_size": 4' "$B/iop-load.out")" -eq 2000 ] || return 1
        grep -q 'malloc=0 calloc=0 realloc=0 free=0 other=0' "$B/iop-jl-heap.txt"
    }
    check "interop: no heap call over 12,000 JSON lines of nested requests and replies" interop_jsonl_heap
fi

# --------------------------------------------------- fixed memory
if need tests/malloc_count.c bench/gen.py; then
    zero_allocs() {
        gcc -shared -fPIC -O2 -o "$B/malloc_count.so" tests/malloc_count.c -ldl || return 1
        python3 bench/gen.py mixed 100000 > "$B/mixed.in" || return 1
        MALLOC_COUNT_OUT="$B/malloc.txt" LD_PRELOAD="$PWD/$B/malloc_count.so" ./grpcstream < "$B/mixed.in" > "$B/mixed.out" 2> /dev/null || return 1
        cat "$B/malloc.txt"
        lines=$(wc -l < "$B/mixed.out")
        [ "$lines" -ge 100000 ] || { echo "only $lines replies"; return 1; }
        grep -q 'malloc=0 calloc=0 realloc=0 free=0 other=0' "$B/malloc.txt"
    }
    check "no heap allocation over a 100,000-message session" zero_allocs
    zero_allocs_log() {
        python3 bench/gen.py logfile 20000 > "$B/alloc.log" || return 1
        rm -f "$B/malloc.txt"
        MALLOC_COUNT_OUT="$B/malloc.txt" LD_PRELOAD="$PWD/$B/malloc_count.so" ./grpcstream --log "$B/alloc.log" < "$B/mixed.in" > "$B/mixed-log.out" 2> /dev/null || return 1
        cat "$B/malloc.txt"
        [ "$(wc -l < "$B/mixed-log.out")" -ge 100000 ] || return 1
        grep -q 'malloc=0 calloc=0 realloc=0 free=0 other=0' "$B/malloc.txt"
    }
    check "no heap allocation with --log FILE (100,000 messages)" zero_allocs_log
fi

# ------------------------------------------------- coverage-guided fuzzing
if have clang; then
    check "fuzz: regressions, each target ${FUZZ_SECONDS:-60} s on its corpus and ${FUZZ_EMPTY_SECONDS:-5} s from an empty one" \
        sh fuzz/run.sh run "${FUZZ_SECONDS:-60}"
else
    skip "fuzz targets (clang not installed)"
fi

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
