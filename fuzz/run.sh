#!/bin/sh
# fuzz/run.sh - libFuzzer targets for grpcstream (clang with libclang-rt).
#
#   sh fuzz/run.sh build            build every target into build/fuzz/
#   sh fuzz/run.sh run [S] [T...]   build, replay fuzz/regressions/, then fuzz
#                                   each target (all, or the T named) for S
#                                   seconds (default 60) on a temporary copy
#                                   of its corpus; exits non-zero on a finding
#   sh fuzz/run.sh regress          build and replay fuzz/regressions/ only
#
# Environment: CLANG (default clang), FUZZ_JOBS (targets run at once,
# default 2), FUZZ_KEEP=1 keeps the temporary corpus and logs.
# Findings (crash-*, leak-*, timeout-*, oom-*) are left in build/fuzz/findings/.
set -eu

cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang}
OUT=build/fuzz
FLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DGS_NO_MAIN -I."
TARGETS="fuzz_scanner fuzz_writer fuzz_node fuzz_node_small"
# fuzz_node_small: the node with tiny limits, so slot exhaustion, oversized
# values, depth, ring wrap-around, slices and output batches happen within
# a few hundred bytes of input.
SMALL="-DGS_MAX_STREAMS=4 -DGS_MAX_ID=8 -DGS_MAX_VALUE=64 -DGS_MAX_DEPTH=6 \
-DGS_LOG_RING=256 -DGS_SLICE=3 -DGS_OUT_BATCH=256"

build() {
    mkdir -p "$OUT"
    for t in $TARGETS; do
        case $t in
        fuzz_node_small) src=fuzz/fuzz_node.c; extra=$SMALL ;;
        *) src=fuzz/$t.c; extra= ;;
        esac
        # shellcheck disable=SC2086
        $CLANG $FLAGS $extra -o "$OUT/$t" "$src" grpcstream.c json.c
    done
}

corpus_of() {
    case $1 in fuzz_node_small) echo fuzz/corpus/fuzz_node ;; *) echo "fuzz/corpus/$1" ;; esac
}

# Replays every file in fuzz/regressions/<target>/ (no fuzzing).
regress() {
    rc=0
    for t in $TARGETS; do
        d=fuzz/regressions/$t
        [ -d "$d" ] || continue
        files=$(find "$d" -type f ! -name '*.md' | sort)
        [ -n "$files" ] || continue
        # shellcheck disable=SC2086
        if ! "$OUT/$t" -runs=1 $files >"$OUT/regress-$t.log" 2>&1; then
            echo "REGRESSION: $t (see $OUT/regress-$t.log)"
            rc=1
        fi
    done
    return $rc
}

run_one() {
    t=$1 secs=$2 tmp=$3
    mkdir -p "$tmp/$t" "$OUT/findings/$t"
    cp -R "$(corpus_of "$t")/." "$tmp/$t/"
    dict=
    [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
    case $t in fuzz_node*) [ -f fuzz/fuzz_node.dict ] && dict=-dict=fuzz/fuzz_node.dict ;; esac
    case $t in fuzz_node) maxlen=-max_len=16384 ;; *) maxlen=-max_len=4096 ;; esac
    # shellcheck disable=SC2086
    "$OUT/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 $maxlen $dict \
        -print_final_stats=1 -artifact_prefix="$OUT/findings/$t/" "$tmp/$t" \
        >"$tmp/$t.log" 2>&1
}

cmd=${1:-run}
case $cmd in
build) build ;;
regress) build; regress ;;
run)
    secs=${2:-60}
    [ $# -ge 2 ] && shift 2 || shift $#
    [ $# -gt 0 ] && TARGETS_RUN="$*" || TARGETS_RUN=$TARGETS
    build
    rc=0
    regress || rc=1
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/gsfuzz.XXXXXX")
    jobs=${FUZZ_JOBS:-2}
    running=0 pids= names=
    status_of() { # target -> 0/1
        if grep -q "^Done [0-9]* runs" "$tmp/$1.log" && ! grep -qE "^==[0-9]+==ERROR|^SUMMARY|FUZZ INVARIANT" "$tmp/$1.log"; then
            return 0
        fi
        return 1
    }
    for t in $TARGETS_RUN; do
        run_one "$t" "$secs" "$tmp" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then wait; running=0; fi
    done
    wait
    for t in $TARGETS_RUN; do
        stats=$(grep -E "^#[0-9]+.*(DONE|cov:)" "$tmp/$t.log" | tail -1)
        if status_of "$t"; then
            echo "ok    $t: $stats"
        else
            echo "FAIL  $t: see $tmp/$t.log and $OUT/findings/$t/"
            grep -E "FUZZ INVARIANT|^==[0-9]+==ERROR|^SUMMARY|runtime error" "$tmp/$t.log" | head -5
            rc=1
            FUZZ_KEEP=1
        fi
    done
    [ "${FUZZ_KEEP:-0}" = 1 ] || rm -rf "$tmp"
    exit $rc
    ;;
*) sed -n '2,14p' "$0"; exit 2 ;;
esac
