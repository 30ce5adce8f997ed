#!/bin/sh
# HTTP/2 conformance of grpcstream --listen with h2spec (RFC 7540/7541 cases).
#
#   sh tests/h2/h2spec.sh [--server CMD] [--build-dir DIR]
#
# Runs ../shared/tools/h2spec (beside the repo root, as in CI) against a
# freshly started `CMD --listen 127.0.0.1:PORT` (default ./grpcstream),
# once plain and once with --strict, each with -o 2 and a JUnit report in
# DIR (default build/h2). Prints PASS: or FAIL: per run, a FAIL followed by
# the failed case ids (as h2spec takes them, e.g. http2/5.1.1/2); SKIP when
# the h2spec binary is absent.
set -u
cd "$(dirname "$0")/../.." || exit 2
server=./grpcstream
build=build/h2
while [ $# -gt 0 ]; do
    case $1 in
        --server) server=$2; shift 2 ;;
        --build-dir) build=$2; shift 2 ;;
        *) echo "usage: $0 [--server CMD] [--build-dir DIR]" >&2; exit 2 ;;
    esac
done
H2SPEC=../shared/tools/h2spec
if [ ! -x "$H2SPEC" ]; then
    echo "SKIP: h2spec ($H2SPEC not found)"
    echo "SKIP: h2spec --strict ($H2SPEC not found)"
    exit 0
fi
mkdir -p "$build"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {   # port: 0 once it accepts connections (10 s at most)
    $PY -c '
import socket, sys, time
end = time.time() + 10
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)' "$1"
}

# Failed case ids from a JUnit report: PACKAGE/N for the Nth case of a suite.
failed_ids() {
    awk '
        /<testsuite / { match($0, /package="[^"]*"/); pkg = substr($0, RSTART + 9, RLENGTH - 10); n = 0 }
        /<testcase / { n++; match($0, /classname="[^"]*"/); name = substr($0, RSTART + 11, RLENGTH - 12) }
        /<error/ { if (!(pkg "/" n in seen)) { seen[pkg "/" n] = 1; print pkg "/" n "  " name } }
    ' "$1"
}

status=0
for mode in plain strict; do
    label="h2spec"; flags="-o 2"
    if [ $mode = strict ]; then label="h2spec --strict"; flags="--strict -o 2"; fi
    report="$build/h2spec-$mode.xml"
    port=$(free_port)
    # shellcheck disable=SC2086  # CMD may carry arguments
    $server --listen "127.0.0.1:$port" > /dev/null 2> "$build/h2spec-$mode.server.log" &
    pid=$!
    if ! wait_port "$port"; then
        echo "FAIL: $label (the server did not start)"
        sed 's/^/    /' "$build/h2spec-$mode.server.log" | tail -10
        kill "$pid" 2> /dev/null; wait "$pid" 2> /dev/null
        status=1; continue
    fi
    rm -f "$report"
    # shellcheck disable=SC2086
    "$H2SPEC" -h 127.0.0.1 -p "$port" $flags -j "$report" > "$build/h2spec-$mode.out" 2>&1
    rc=$?
    alive=yes; kill -0 "$pid" 2> /dev/null || alive=no
    kill "$pid" 2> /dev/null; wait "$pid" 2> /dev/null
    summary=$(grep -E '^[0-9]+ tests,' "$build/h2spec-$mode.out" | tail -1)
    if [ $rc -eq 0 ] && [ $alive = yes ]; then
        echo "PASS: $label ($summary)"
    else
        status=1
        echo "FAIL: $label (${summary:-h2spec exited $rc})"
        [ $alive = yes ] || echo "    the server died during the run"
        [ -f "$report" ] && failed_ids "$report" | sed -e 's/&#34;/"/g; s/&#39;/'"'"'/g; s/&amp;/&/g; s/^/    /'
        echo "    details: $build/h2spec-$mode.out; one case: $H2SPEC -h 127.0.0.1 -p PORT -v ID"
    fi
done
exit $status
