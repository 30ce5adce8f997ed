#!/bin/sh
# Sanity tests of the reference model (tests/model.py) itself: each case's
# expected stdout was derived by hand from PROTOCOL.md section 1 and the
# README's decisions, not by running the model.
# Usage: sh tests/model_selftest.sh      Prints "N passed, N failed".

here=$(cd "$(dirname "$0")" && pwd)
model="$here/model.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# check NAME [MODEL ARGS...]: runs the model on $tmp/in, compares with $tmp/want.
check() {
    name=$1
    shift
    if python3 "$model" "$@" <"$tmp/in" >"$tmp/got" 2>"$tmp/err" &&
        cmp -s "$tmp/got" "$tmp/want"; then
        passed=$((passed + 1))
        echo "PASS: $name"
    else
        failed=$((failed + 1))
        echo "FAIL: $name"
        diff "$tmp/want" "$tmp/got" | head -20
        head -5 "$tmp/err"
    fi
}

INIT='{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}'
INIT_OK='{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}'

# --- task sample test 1: server streaming ---------------------------------
cat >"$tmp/in" <<EOF
$INIT
{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":2,"service":"LogWatcher","method":"WatchLogs","request":{"filter":"ERROR","limit":2}}}
EOF
cat >"$tmp/want" <<EOF
$INIT_OK
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_msg", "in_reply_to": 2, "seq": 1, "data": {"level": "ERROR", "msg": "disk full"}, "msg_id": 1}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_msg", "in_reply_to": 2, "seq": 2, "data": {"level": "ERROR", "msg": "connection reset"}, "msg_id": 2}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 2, "status": "OK", "count": 2, "msg_id": 3}}
EOF
check "sample: server streaming"

# --- task sample test 2: bidi open and send -------------------------------
cat >"$tmp/in" <<EOF
$INIT
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_open","msg_id":2,"service":"Chat","method":"BiDiChat"}}
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":3,"stream_id":"s1","data":{"text":"hello"}}}
EOF
cat >"$tmp/want" <<EOF
$INIT_OK
{"src": "n1", "dest": "c1", "body": {"type": "grpc_bidi_stream_open_ok", "in_reply_to": 2, "stream_id": "s1", "msg_id": 1}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_bidi_stream_recv", "in_reply_to": 3, "data": {"text": "echo: hello"}, "msg_id": 2}}
EOF
check "sample: bidi open and send"

# --- the task's worked example --------------------------------------------
cat >"$tmp/in" <<EOF
$INIT
{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":1,"service":"LogWatcher","method":"WatchLogs","request":{"filter":"ERROR","limit":3}}}
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_open","msg_id":2,"service":"Chat","method":"BiDiChat"}}
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":3,"stream_id":"s1","data":{"text":"hello"}}}
EOF
cat >"$tmp/want" <<EOF
$INIT_OK
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_msg", "in_reply_to": 1, "seq": 1, "data": {"level": "ERROR", "msg": "disk full"}, "msg_id": 1}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_msg", "in_reply_to": 1, "seq": 2, "data": {"level": "ERROR", "msg": "connection reset"}, "msg_id": 2}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_msg", "in_reply_to": 1, "seq": 3, "data": {"level": "ERROR", "msg": "timeout"}, "msg_id": 3}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 1, "status": "OK", "count": 3, "msg_id": 4}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_bidi_stream_open_ok", "in_reply_to": 2, "stream_id": "s1", "msg_id": 5}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_bidi_stream_recv", "in_reply_to": 3, "data": {"text": "echo: hello"}, "msg_id": 6}}
EOF
check "task worked example"

# --- protocol failures, before and after init -----------------------------
# Unaddressable lines (no JSON, no usable dest before init, blank) write
# nothing; the last line has no newline.
{
    cat <<'EOF'
{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":5,"stream_id":"s1"}}
{"src":"c1","dest":"n1","body":{"type":
not json
{"src":"c9","body":{"type":"nope","msg_id":3}}
   
{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}
{"src":"c2","body":{"type":"nope","msg_id":1.5}}
{"src":"c2","body":{"type":"nope","msg_id":7}}
{"src":"c2","body":[]}
{"src":"c2","body":{"msg_id":8}}
{"src":"c2","body":{"type":"grpc_stream_state","msg_id":9,"stream_id":"s1"}}
{"src":"c2","body":{"type":"init","msg_id":NaN}}
{"src":"c2","body":{"type":"init","msg_id":18446744073709551615,"node_id":"n7"}}
{"src":"c2","body":{"type":"init","msg_id":-9223372036854775809}}
EOF
    printf '{"src":"c3","body":"\377"}\n'
    cat <<'EOF'
{"src":"c3","body":{"type":"grpc_stream_state","msg_id":true}}
{"src":"c3","body":{"type":"grpc_bidi_stream_send","msg_id":-0,"stream_id":5}}
EOF
    printf '%s' '{"src":"c3","body":{"type":"init","msg_id":2,"node_id":"n1"},"body":{"type":"init","msg_id":3}}'
} >"$tmp/in"
cat >"$tmp/want" <<'EOF'
{"src": "n1", "dest": "c1", "body": {"type": "error", "in_reply_to": 5, "code": 11, "text": "node not initialised", "msg_id": 0}}
{"src": "n1", "dest": "c1", "body": {"type": "error", "code": 12, "text": "invalid JSON", "msg_id": 1}}
{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 2}}
{"src": "n1", "dest": "c2", "body": {"type": "error", "code": 12, "text": "msg_id must be a 64-bit integer", "msg_id": 3}}
{"src": "n1", "dest": "c2", "body": {"type": "error", "in_reply_to": 7, "code": 10, "text": "unknown message type", "msg_id": 4}}
{"src": "n1", "dest": "c2", "body": {"type": "error", "code": 12, "text": "body must be an object", "msg_id": 5}}
{"src": "n1", "dest": "c2", "body": {"type": "error", "in_reply_to": 8, "code": 12, "text": "type must be a string", "msg_id": 6}}
{"src": "n1", "dest": "c2", "body": {"type": "error", "in_reply_to": 9, "code": 20, "text": "unknown stream", "msg_id": 7}}
{"src": "n1", "dest": "c2", "body": {"type": "error", "code": 12, "text": "invalid JSON", "msg_id": 8}}
{"src": "n1", "dest": "c2", "body": {"type": "init_ok", "in_reply_to": 18446744073709551615, "msg_id": 9}}
{"src": "n1", "dest": "c2", "body": {"type": "error", "code": 12, "text": "msg_id must be a 64-bit integer", "msg_id": 10}}
{"src": "n1", "dest": "c3", "body": {"type": "error", "code": 12, "text": "invalid JSON", "msg_id": 11}}
{"src": "n1", "dest": "c3", "body": {"type": "error", "code": 12, "text": "msg_id must be a 64-bit integer", "msg_id": 12}}
{"src": "n1", "dest": "c3", "body": {"type": "error", "in_reply_to": 0, "code": 12, "text": "stream_id must be a string", "msg_id": 13}}
{"src": "n1", "dest": "c3", "body": {"type": "error", "in_reply_to": 3, "code": 12, "text": "node_id must be a string", "msg_id": 14}}
EOF
check "protocol failures"

# --- follow watches, Append, ownership, cancel ----------------------------
cat >"$tmp/in" <<EOF
$INIT
{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":2,"service":"LogWatcher","method":"WatchLogs","request":{"filter":"WARN","follow":true,"limit":2}}}
{"src":"c3","dest":"n1","body":{"type":"grpc_server_stream","service":"LogWatcher","method":"WatchLogs","request":{"follow":true,"filter":"DEBUG"}}}
{"src":"c2","dest":"n1","body":{"type":"grpc_call","msg_id":3,"service":"LogWatcher","method":"Append","request":{"level":"WARN","msg":"disk 90%"}}}
{"src":"c2","dest":"n1","body":{"type":"grpc_call","msg_id":4,"service":"LogWatcher","method":"Append","request":{"level":"DEBUG","msg":"caf\u00e9 \ud83d\ude00"}}}
{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":4,"stream_id":"s1"}}
{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":5,"stream_id":"s2"}}
{"src":"c3","dest":"n1","body":{"type":"grpc_stream_state","msg_id":6,"stream_id":"s2"}}
{"src":"c3","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":7,"stream_id":"s2","data":{"text":"x"}}}
{"src":"c3","dest":"n1","body":{"type":"grpc_stream_cancel","msg_id":8,"stream_id":"s2"}}
{"src":"c3","dest":"n1","body":{"type":"grpc_stream_cancel","msg_id":9,"stream_id":"s2"}}
{"src":"c2","dest":"n1","body":{"type":"grpc_call","msg_id":10,"service":"LogWatcher","method":"Append","request":{"level":5}}}
{"src":"c2","dest":"n1","body":{"type":"grpc_server_stream","msg_id":11,"service":"LogWatcher","method":"WatchLogs","request":{"filter":"DEBUG"}}}
{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":12,"service":"LogWatcher","method":"WatchLogs","request":{"filter":"ERROR","limit":1,"follow":true}}}
EOF
cat >"$tmp/want" <<EOF
$INIT_OK
{"src": "n1", "dest": "c1", "body": {"type": "grpc_server_stream_open_ok", "in_reply_to": 2, "stream_id": "s1", "msg_id": 1}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_msg", "in_reply_to": 2, "stream_id": "s1", "seq": 1, "data": {"level": "WARN", "msg": "high memory usage"}, "msg_id": 2}}
{"src": "n1", "dest": "c3", "body": {"type": "grpc_server_stream_open_ok", "stream_id": "s2", "msg_id": 3}}
{"src": "n1", "dest": "c3", "body": {"type": "grpc_stream_msg", "stream_id": "s2", "seq": 1, "data": {"level": "DEBUG", "msg": "cache miss"}, "msg_id": 4}}
{"src": "n1", "dest": "c2", "body": {"type": "grpc_call_ok", "in_reply_to": 3, "status": "OK", "response": {"seq": 9}, "msg_id": 5}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_msg", "in_reply_to": 2, "stream_id": "s1", "seq": 2, "data": {"level": "WARN", "msg": "disk 90%"}, "msg_id": 6}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 2, "stream_id": "s1", "status": "OK", "count": 2, "msg_id": 7}}
{"src": "n1", "dest": "c2", "body": {"type": "grpc_call_ok", "in_reply_to": 4, "status": "OK", "response": {"seq": 10}, "msg_id": 8}}
{"src": "n1", "dest": "c3", "body": {"type": "grpc_stream_msg", "stream_id": "s2", "seq": 2, "data": {"level": "DEBUG", "msg": "caf\u00e9 \ud83d\ude00"}, "msg_id": 9}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_state_ok", "in_reply_to": 4, "stream_id": "s1", "state": "CLOSED", "msg_id": 10}}
{"src": "n1", "dest": "c1", "body": {"type": "error", "in_reply_to": 5, "code": 20, "text": "unknown stream", "msg_id": 11}}
{"src": "n1", "dest": "c3", "body": {"type": "grpc_stream_state_ok", "in_reply_to": 6, "stream_id": "s2", "state": "HALF_CLOSED", "msg_id": 12}}
{"src": "n1", "dest": "c3", "body": {"type": "error", "in_reply_to": 7, "code": 22, "text": "stream is half-closed", "msg_id": 13}}
{"src": "n1", "dest": "c3", "body": {"type": "grpc_stream_end", "in_reply_to": 8, "stream_id": "s2", "status": "CANCELLED", "count": 2, "message": "cancelled by client", "msg_id": 14}}
{"src": "n1", "dest": "c3", "body": {"type": "error", "in_reply_to": 9, "code": 22, "text": "stream is closed", "msg_id": 15}}
{"src": "n1", "dest": "c2", "body": {"type": "grpc_call_ok", "in_reply_to": 10, "status": "INVALID_ARGUMENT", "message": "level must be a string", "msg_id": 16}}
{"src": "n1", "dest": "c2", "body": {"type": "grpc_stream_msg", "in_reply_to": 11, "seq": 1, "data": {"level": "DEBUG", "msg": "cache miss"}, "msg_id": 17}}
{"src": "n1", "dest": "c2", "body": {"type": "grpc_stream_msg", "in_reply_to": 11, "seq": 2, "data": {"level": "DEBUG", "msg": "caf\u00e9 \ud83d\ude00"}, "msg_id": 18}}
{"src": "n1", "dest": "c2", "body": {"type": "grpc_stream_end", "in_reply_to": 11, "status": "OK", "count": 2, "msg_id": 19}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_server_stream_open_ok", "in_reply_to": 12, "stream_id": "s3", "msg_id": 20}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_msg", "in_reply_to": 12, "stream_id": "s3", "seq": 1, "data": {"level": "ERROR", "msg": "disk full"}, "msg_id": 21}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 12, "stream_id": "s3", "status": "OK", "count": 1, "msg_id": 22}}
EOF
check "follow, append, ownership, cancel"

# --- bidi streams and one stream slot --------------------------------------
cat >"$tmp/in" <<EOF
$INIT
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_open","msg_id":2,"service":"Chat","method":"BiDiChat"}}
{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":3,"service":"LogWatcher","method":"WatchLogs"}}
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":4,"stream_id":"s1","data":{}}}
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":5,"stream_id":"s1","data":{"text":"\ud800 \u0001"}}}
{"src":"c2","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":6,"stream_id":"s1","data":{"text":"x"}}}
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_close","msg_id":7,"stream_id":"s1"}}
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_close","msg_id":8,"stream_id":"s1"}}
{"src":"c1","dest":"n1","body":{"type":"grpc_call","msg_id":9,"service":"Chat","method":"BiDiChat"}}
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_open","msg_id":10,"service":"Chat","method":"Nope"}}
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_open","msg_id":11,"service":"Chat","method":"BiDiChat"}}
{"src":"c1","dest":"n1","body":{"type":"grpc_bidi_stream_send","msg_id":12,"stream_id":"s2","data":{"text":7}}}
{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":13,"service":"LogWatcher","method":"WatchLogs","request":{"limit":-1}}}
{"src":"c1","dest":"n1","body":{"type":"grpc_server_stream","msg_id":14,"service":"Chat","method":"BiDiChat"}}
{"src":"c1","dest":"n1","body":{"type":"grpc_stream_state","msg_id":15,"stream_id":"s02"}}
EOF
cat >"$tmp/want" <<EOF
$INIT_OK
{"src": "n1", "dest": "c1", "body": {"type": "grpc_bidi_stream_open_ok", "in_reply_to": 2, "stream_id": "s1", "msg_id": 1}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 3, "status": "RESOURCE_EXHAUSTED", "count": 0, "message": "all stream slots are busy", "msg_id": 2}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_bidi_stream_recv", "in_reply_to": 4, "data": {"text": "echo: "}, "msg_id": 3}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_bidi_stream_recv", "in_reply_to": 5, "data": {"text": "echo: \ud800 \u0001"}, "msg_id": 4}}
{"src": "n1", "dest": "c2", "body": {"type": "error", "in_reply_to": 6, "code": 20, "text": "unknown stream", "msg_id": 5}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 7, "stream_id": "s1", "status": "OK", "count": 2, "msg_id": 6}}
{"src": "n1", "dest": "c1", "body": {"type": "error", "in_reply_to": 8, "code": 22, "text": "stream is closed", "msg_id": 7}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_call_ok", "in_reply_to": 9, "status": "UNIMPLEMENTED", "message": "method is not unary", "msg_id": 8}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 10, "status": "UNIMPLEMENTED", "count": 0, "message": "unknown method", "msg_id": 9}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_bidi_stream_open_ok", "in_reply_to": 11, "stream_id": "s2", "msg_id": 10}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 12, "stream_id": "s2", "status": "INVALID_ARGUMENT", "count": 0, "message": "text must be a string", "msg_id": 11}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 13, "status": "INVALID_ARGUMENT", "count": 0, "message": "limit must be a non-negative 64-bit integer", "msg_id": 12}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 14, "status": "UNIMPLEMENTED", "count": 0, "message": "method is not server-streaming", "msg_id": 13}}
{"src": "n1", "dest": "c1", "body": {"type": "error", "in_reply_to": 15, "code": 20, "text": "unknown stream", "msg_id": 14}}
EOF
check "bidi streams, one slot" --max-streams 1

# --- nesting depth and size limits ----------------------------------------
python3 - "$tmp/in" <<'EOF'
import sys
def nest(n):
    return "[" * n + "]" * n
lines = [
    '{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1"}}',
    '{"src":"c1","body":{"type":"grpc_bidi_stream_open","msg_id":2,"service":"Chat","method":"BiDiChat"}}',
    # 1 (envelope) + 70: too deep, placed before body
    '{"src":"c1","z":%s,"body":{"type":"grpc_stream_state","msg_id":3,"stream_id":"s1"}}' % nest(70),
    # 1 + 64 = 65: too deep, placed after body
    '{"src":"c1","body":{"type":"grpc_bidi_stream_send","msg_id":4,"stream_id":"s1","data":{"text":"a"}},"z":%s}' % nest(64),
    # 1 + 63 = 64: fine
    '{"src":"c1","body":{"type":"grpc_server_stream","msg_id":5,"service":"LogWatcher","method":"WatchLogs","request":{"filter":"INFO","limit":1}},"z":%s}' % nest(63),
    '{"src":"c1","body":{"type":"nope","msg_id":6},"z":%s}' % nest(200000),
    '{"src":"c1","body":{"type":"nope","msg_id":7},"z":%s' % nest(200000)[:-1],
    '{"src":"c1","body":{"type":"grpc_bidi_stream_open","msg_id":8,"service":"Chat","method":"BiDiChat"}}',
    '{"src":"c1","body":{"type":"grpc_bidi_stream_send","msg_id":9,"stream_id":"s2","data":{"text":"%s"}}}' % ("a" * 65537),
    '{"src":"c1","body":{"type":"grpc_server_stream","msg_id":10,"service":"LogWatcher","method":"WatchLogs","request":{"filter":"%s"}}}' % ("\\u00e9" * 32768),
    '{"src":"%s","body":{"type":"nope","msg_id":11}}' % ("c" * 256),
]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
EOF
cat >"$tmp/want" <<EOF
{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_bidi_stream_open_ok", "in_reply_to": 2, "stream_id": "s1", "msg_id": 1}}
{"src": "n1", "dest": "c1", "body": {"type": "error", "in_reply_to": 3, "code": 12, "text": "nesting deeper than 64", "msg_id": 2}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 4, "stream_id": "s1", "status": "RESOURCE_EXHAUSTED", "count": 0, "message": "nesting deeper than 64", "msg_id": 3}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_msg", "in_reply_to": 5, "seq": 1, "data": {"level": "INFO", "msg": "server started"}, "msg_id": 4}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 5, "status": "OK", "count": 1, "msg_id": 5}}
{"src": "n1", "dest": "c1", "body": {"type": "error", "in_reply_to": 6, "code": 10, "text": "unknown message type", "msg_id": 6}}
{"src": "n1", "dest": "c1", "body": {"type": "error", "code": 12, "text": "invalid JSON", "msg_id": 7}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_bidi_stream_open_ok", "in_reply_to": 8, "stream_id": "s2", "msg_id": 8}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 9, "stream_id": "s2", "status": "RESOURCE_EXHAUSTED", "count": 0, "message": "text larger than 65536 bytes", "msg_id": 9}}
{"src": "n1", "dest": "c1", "body": {"type": "grpc_stream_end", "in_reply_to": 10, "status": "OK", "count": 0, "msg_id": 10}}
EOF
check "nesting depth and sizes"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
