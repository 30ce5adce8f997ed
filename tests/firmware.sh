#!/bin/sh
# tests/firmware.sh [size] - grpcstream on a Cortex-M, under QEMU.
#
#   sh tests/firmware.sh          the checks (what ./test.sh runs)
#   sh tests/firmware.sh size     only the size report (make size)
#
# With arm-none-eabi-gcc (+ newlib) and qemu-system-arm (else SKIP):
#  1. the core compiles for Cortex-M0+ and Cortex-M4, -Os -Werror, in the
#     embedded configuration below, JSON lines only and with HTTP/2 too;
#  2. its objects need nothing from libc beyond memcmp, memcpy, memmove,
#     memset, memchr, strcmp, strlen (compiler helpers such as
#     __aeabi_uldivmod aside);
#  3. examples/firmware (startup code, linker script, the public API only)
#     runs on QEMU's mps2-an386 board (Cortex-M4), reading the session from
#     its semihosting console in 61-byte pieces: examples/session.jsonl and
#     a generated 2,000-line mixed session, and (built with HTTP/2, -DFW_H2) on
#     examples/firmware/grpcio.h2, the bytes a grpcio client sent on one
#     connection (examples/firmware/record.py: WatchLogs, Append,
#     BiDiChat), and its output equals, byte for byte, the same main.c
#     built for this machine (examples/firmware/host.c);
#  4. the size report: text, data, bss of grpcstream.o and json.o,
#     sizeof(gs_node), the deepest stack use (painted stack), instructions
#     per input line (QEMU -icount: a 25 MHz timer tick is 40 of them).
#     Both builds must fit the budget: text <= 48 KiB, node + stack
#     <= 64 KiB (the HTTP/2 one with 2 connections and 8 stream slots).
# One PASS:/FAIL:/SKIP: line per check; exit status 1 on any FAIL.
set -u
cd "$(dirname "$0")/.." || exit 2
MODE=${1:-check}
CC=arm-none-eabi-gcc
PY=${PYTHON:-python3}
EMB="-DGS_JSON_SHAPES=0 -DGS_MAX_STREAMS=8 -DGS_MAX_VALUE=256 -DGS_LOG_RING=8192 -DGS_OUT_BATCH=4096 -DGS_NO_FILE_LOG -DGS_NO_FLOAT -DGS_NO_MAIN"
# No learned line shapes in either build (GS_JSON_SHAPES=0): 7 KB of RAM
# that two HTTP/2 connections leave no room for, and on a Cortex-M4 the
# mixed session took more instructions a line with them, not fewer.
JSON_ONLY="$EMB -DGS_MAX_CONNS=0"
# With HTTP/2: 2 connections, 8 slots, sized to fit 64 KiB with the stack
# (a 1 KiB HPACK table, 4 KiB output per connection, a message at a time
# per slot, ids up to 64 bytes, a 2 KiB log ring, 1 KiB output batches; a
# 32 KiB header list limit, which costs nothing, lets a 16 KiB header
# block through).
WITH_H2="-DGS_JSON_SHAPES=0 -DGS_MAX_STREAMS=8 -DGS_MAX_VALUE=256 -DGS_LOG_RING=2048 -DGS_OUT_BATCH=1024 -DGS_MAX_ID=64
 -DGS_MAX_CONNS=2 -DGS_H2_OUT=4096 -DGS_H2_BUF=1024 -DGS_H2_TX=1024 -DGS_METADATA=256 -DGS_METADATA_OUT=128
 -DGS_HPACK_TABLE=1024 -DGS_MAX_HEADER=1024 -DGS_H2_HEADER_LIST=32768 -DGS_NO_FILE_LOG -DGS_NO_FLOAT -DGS_NO_MAIN"
WARN="-std=c99 -Wall -Wextra -Wpedantic -Werror"
ALLOWED="memcmp memcpy memmove memset memchr strcmp strlen"
TEXT_BUDGET=49152
RAM_BUDGET=65536

for t in $CC arm-none-eabi-nm arm-none-eabi-size qemu-system-arm; do
    if ! command -v $t > /dev/null 2>&1; then
        echo "SKIP: Cortex-M build and QEMU run ($t not installed: gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm)"
        exit 0
    fi
done
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
status=0
pass() { [ "$MODE" = size ] || echo "PASS: $*"; }
fail() { echo "FAIL: $*"; status=1; }

# objects CPU CONFIG-NAME FLAGS: grpcstream.o and json.o into $tmp/CPU-NAME/
objects() {
    d=$tmp/$1-$2
    mkdir -p "$d"
    $CC $WARN -mcpu="$1" -mthumb -Os $3 -I. -c -o "$d/grpcstream.o" grpcstream.c > "$d/cc.log" 2>&1 &&
        $CC $WARN -mcpu="$1" -mthumb -Os $3 -I. -c -o "$d/json.o" json.c >> "$d/cc.log" 2>&1
}

# node_size CPU FLAGS: sizeof(gs_node) on the target
node_size() {
    printf '#include "grpcstream.h"\ngs_node probe_node;\n' > "$tmp/probe.c"
    $CC $WARN -mcpu="$1" -mthumb -Os $2 -I. -c -o "$tmp/probe.o" "$tmp/probe.c" || return
    hex=$(arm-none-eabi-nm -S "$tmp/probe.o" | awk '$4 == "probe_node" { print $2 }')
    [ -n "$hex" ] && printf '%d\n' "0x$hex"
}

# 1 and 2: builds and the libc they need
for cpu in cortex-m0plus cortex-m4; do
    for cfg in json h2; do
        if [ $cfg = json ]; then flags=$JSON_ONLY; what="JSON lines only"; else flags=$WITH_H2; what="JSON lines and HTTP/2"; fi
        if ! objects $cpu $cfg "$flags"; then
            fail "$CC -mcpu=$cpu -Os -Werror, $what"
            grep -E 'error|warning' "$tmp/$cpu-$cfg/cc.log" | head -8 | sed 's/^/    /'
            continue
        fi
        pass "$CC -mcpu=$cpu -Os -Werror, $what"
        extra=$(arm-none-eabi-nm -u "$tmp/$cpu-$cfg/grpcstream.o" "$tmp/$cpu-$cfg/json.o" |
                awk '{print $2}' | sort -u | grep -v -E '^(__aeabi_|__gnu_thumb1_|__ctzdi2$|__clzdi2$|gs_)' |
                grep -v -x -F "$(echo $ALLOWED | tr ' ' '\n')")
        if [ -z "$extra" ]; then
            pass "libc needed ($cpu, $what): only $ALLOWED (and compiler helpers)"
        else
            fail "libc needed ($cpu, $what): also $(echo $extra)"
        fi
    done
done

# 3: the firmware under QEMU, against the host build of the same main.c
FW="-Iexamples/firmware -nostartfiles -T examples/firmware/mps2.ld -ffunction-sections -fdata-sections -Wl,--gc-sections"
SRCS="examples/firmware/main.c grpcstream.c json.c"
if ! gcc $WARN -O2 $JSON_ONLY -I. -Iexamples/firmware -o "$tmp/host" examples/firmware/host.c $SRCS > "$tmp/host.log" 2>&1; then
    fail "firmware: host build of examples/firmware/main.c"; sed 's/^/    /' "$tmp/host.log" | head -8
    exit 1
fi
$PY bench/gen.py mixed 2000 > "$tmp/mixed.jsonl" || { fail "firmware: bench/gen.py"; exit 1; }
if ! gcc $WARN -O2 $WITH_H2 -DFW_H2 -I. -Iexamples/firmware -o "$tmp/host-h2" examples/firmware/host.c $SRCS \
        > "$tmp/host.log" 2>&1; then
    fail "firmware: host build of examples/firmware/main.c (HTTP/2)"; sed 's/^/    /' "$tmp/host.log" | head -8
    exit 1
fi
# h2_calls_ok FILE: the server's bytes answer every stream grpc-status 0
# and end no connection with an error (python3-hpack reads the headers).
h2_calls_ok() {
    /usr/bin/python3 - "$1" << 'PYEOF'
import sys
import hpack
data = open(sys.argv[1], "rb").read().rstrip(b"\n")
dec, i, status, bad = hpack.Decoder(), 0, {}, []
while i + 9 <= len(data):
    n = int.from_bytes(data[i:i + 3], "big")
    ftype, sid, body = data[i + 3], int.from_bytes(data[i + 5:i + 9], "big") & 0x7FFFFFFF, data[i + 9:i + 9 + n]
    if ftype == 1:
        for k, v in dec.decode(body):
            if k in ("grpc-status", ":status"):
                status.setdefault(sid, []).append((k, v))
    if ftype == 7 and int.from_bytes(body[4:8], "big") != 0:
        bad.append("GOAWAY %d" % int.from_bytes(body[4:8], "big"))
    i += 9 + n
for sid, fields in sorted(status.items()):
    if ("grpc-status", "0") not in fields:
        bad.append("stream %d: %r" % (sid, fields))
if bad or not status or i != len(data):
    sys.exit("calls: %r; problems: %r; %d of %d bytes parsed" % (status, bad, i, len(data)))
PYEOF
}

stack=0
stack_h2=0
ips=""
ips_h2=""
for session in examples/session.jsonl "$tmp/mixed.jsonl" examples/firmware/grpcio.h2 \
        examples/firmware/bigframes.h2; do
    name=$(basename "$session")
    flags=$JSON_ONLY
    host=$tmp/host
    case $name in *.h2) flags="$WITH_H2 -DFW_H2"; host=$tmp/host-h2 ;; esac
    if ! $CC $WARN -mcpu=cortex-m4 -mthumb -Os $flags -I. $FW -o "$tmp/fw.elf" \
            examples/firmware/startup.c $SRCS > "$tmp/fw.log" 2>&1; then
        fail "firmware: build for $name"; sed 's/^/    /' "$tmp/fw.log" | head -8
        continue
    fi
    timeout 120 qemu-system-arm -M mps2-an386 -cpu cortex-m4 -nographic -monitor none \
        -semihosting-config enable=on,target=native -icount shift=0 -kernel "$tmp/fw.elf" \
        < "$session" > "$tmp/qemu.out" 2> "$tmp/qemu.err"
    rc=$?
    "$host" < "$session" > "$tmp/host.out"
    report=$(tail -n 1 "$tmp/qemu.out")
    head -n -1 "$tmp/qemu.out" > "$tmp/qemu.body"
    head -n -1 "$tmp/host.out" > "$tmp/host.body"
    lines=$(wc -l < "$session")
    case $name in
    grpcio.h2) what="$name (a grpcio client's $(wc -c < "$session") bytes of HTTP/2, the server's $(($(wc -c < "$tmp/host.body") - 1)) back)" ;;
    *.h2) what="$name (16 KiB frames: an extension frame, a header block; the server's $(($(wc -c < "$tmp/host.body") - 1)) bytes back)" ;;
    *) what="$name ($lines lines, $(grep -c '^{' "$tmp/host.body") replies)" ;;
    esac
    if [ $rc -eq 0 ] && [ -s "$tmp/host.body" ] && cmp -s "$tmp/qemu.body" "$tmp/host.body"; then
        pass "firmware on QEMU mps2-an386 (Cortex-M4): $what byte-identical to the host's"
    else
        fail "firmware on QEMU mps2-an386: $name (exit $rc)"
        cmp "$tmp/qemu.body" "$tmp/host.body" 2>&1 | sed 's/^/    /'
        head -c 400 "$tmp/qemu.err" | sed 's/^/    /'
    fi
    s=$(echo "$report" | sed -n 's/^# stack \([0-9]*\) bytes.*/\1/p')
    t=$(echo "$report" | sed -n 's/.* ticks \([0-9]*\)$/\1/p')
    case $name in
    *.h2) [ -n "$s" ] && [ "$s" -gt "$stack_h2" ] && stack_h2=$s
          [ -n "$t" ] && [ $name = grpcio.h2 ] && ips_h2=" $((t * 40)) instructions for the 5-call grpcio transcript"
          if [ "$MODE" = size ]; then
              :
          elif h2_calls_ok "$tmp/host.body" > "$tmp/calls.log" 2>&1; then
              pass "firmware: $name: every call answered grpc-status 0, no GOAWAY error"
          else
              fail "firmware: $name: every call answered grpc-status 0, no GOAWAY error"
              sed 's/^/    /' "$tmp/calls.log" | head -8
          fi ;;
    *)  [ -n "$s" ] && [ "$s" -gt "$stack" ] && stack=$s
        [ -n "$t" ] && ips="$ips $name: $((t * 40 / lines)) instructions a line;" ;;
    esac
done

# 4: sizes and the budget
size_of() {     # total text / data / bss of the two objects of CPU-CFG
    arm-none-eabi-size "$tmp/$1/grpcstream.o" "$tmp/$1/json.o" | awk -v f="$2" 'NR > 1 { s += $f } END { print s }'
}
for cfg in json h2; do
    [ -f "$tmp/cortex-m4-$cfg/json.o" ] || continue
    if [ $cfg = json ]; then flags=$JSON_ONLY; what="JSON lines only"; else flags=$WITH_H2; what="JSON lines and HTTP/2 (2 connections)"; fi
    text=$(size_of cortex-m4-$cfg 1); data=$(size_of cortex-m4-$cfg 2); bss=$(size_of cortex-m4-$cfg 3)
    node=$(node_size cortex-m4 "$flags")
    if [ -z "$node" ]; then
        fail "size, $what: sizeof(gs_node) not found"
        continue
    fi
    line="size, Cortex-M4 -Os, $what: text $text B, data $data B, bss $bss B, sizeof(gs_node) $node B"
    if [ $cfg = json ]; then
        deepest=$stack
        line="$line, deepest stack $stack B;${ips%;}"
    else
        deepest=$stack_h2
        line="$line, deepest stack $stack_h2 B;$ips_h2"
    fi
    if [ "$MODE" = size ]; then
        echo "$line"
    elif [ "$deepest" -gt 0 ] && [ "$text" -le $TEXT_BUDGET ] && [ $((node + deepest)) -le $RAM_BUDGET ]; then
        pass "$line; within the budget (text <= $TEXT_BUDGET, node + stack <= $RAM_BUDGET)"
    else
        fail "$line; over the budget (text <= $TEXT_BUDGET, node + stack <= $RAM_BUDGET), or no stack figure"
    fi
done
exit $status
