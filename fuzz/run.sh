#!/bin/sh
# fuzz/run.sh - libFuzzer targets for grpcstream (clang with libclang-rt).
#
#   sh fuzz/run.sh build            build every target into build/fuzz/
#                                   (targets: TARGETS below; each one's
#                                   input layout is in its header comment)
#   sh fuzz/run.sh run [S] [T...]   build, replay fuzz/regressions/, then fuzz
#                                   each target (all, or the T named) for S
#                                   seconds (default 60) on a temporary copy
#                                   of its corpus, and FUZZ_EMPTY_SECONDS
#                                   from an empty corpus; exits non-zero on a
#                                   finding
#   sh fuzz/run.sh empty [S] [T...] build, then fuzz each target S seconds
#                                   (default 5) from an empty corpus only
#   sh fuzz/run.sh regress          build and replay fuzz/regressions/ only
#
# The empty-corpus run starts where a new user's `-max_total_time` run
# starts: the empty input, then tiny ones (zero-length text, no events, a
# NULL buffer never grown), which a rich corpus never revisits.
#
# Environment: CLANG (default clang), FUZZ_JOBS (targets run at once,
# default 2), FUZZ_EMPTY_SECONDS (default 5; 0 leaves the empty-corpus runs
# out of `run`), FUZZ_KEEP=1 keeps the temporary corpus and logs, FUZZ_OUT
# (default build/fuzz) where the binaries, logs and findings go.
# Findings (crash-*, leak-*, timeout-*, oom-*) are left in
# $FUZZ_OUT/findings/TARGET/, named corpus-crash-... or empty-crash-...
set -eu

cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang}
OUT=${FUZZ_OUT:-build/fuzz}
FLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DGS_NO_MAIN -I."
TARGETS="fuzz_scanner fuzz_writer fuzz_node fuzz_node_small fuzz_hpack fuzz_hpack_diff fuzz_proto \
fuzz_h2 fuzz_h2_small"
# fuzz_node_small: the node with tiny limits, so slot exhaustion, oversized
# values, depth, ring wrap-around, slices and output batches happen within
# a few hundred bytes of input.
SMALL="-DGS_MAX_STREAMS=4 -DGS_MAX_ID=8 -DGS_MAX_VALUE=64 -DGS_MAX_DEPTH=6 \
-DGS_LOG_RING=256 -DGS_SLICE=3 -DGS_OUT_BATCH=256"
# fuzz_h2_small: HTTP/2 with few slots, small buffers and two connections,
# so refused streams, RESOURCE_EXHAUSTED and full output happen early.
H2_SMALL="-DGS_MAX_STREAMS=4 -DGS_MAX_VALUE=64 -DGS_H2_OUT=16384 -DGS_MAX_CONNS=2"

build() {
    mkdir -p "$OUT"
    for t in $TARGETS; do
        # the wire-format targets include grpcstream.c (its static functions)
        lib="grpcstream.c json.c"
        case $t in
        fuzz_node_small) src=fuzz/fuzz_node.c; extra=$SMALL ;;
        fuzz_h2_small) src=fuzz/fuzz_h2.c; extra=$H2_SMALL; lib=json.c ;;
        fuzz_proto) src=fuzz/$t.c; extra=-DGS_MAX_VALUE=256; lib=json.c ;;
        fuzz_hpack*|fuzz_h2) src=fuzz/$t.c; extra=; lib=json.c ;;
        *) src=fuzz/$t.c; extra= ;;
        esac
        # shellcheck disable=SC2086
        $CLANG $FLAGS $extra -o "$OUT/$t" "$src" $lib
    done
}

corpus_of() {
    echo "fuzz/corpus/${1%_small}"
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

# run_one TARGET SECONDS TMP JOB: JOB is "corpus" (a copy of the target's
# corpus) or "empty" (an empty directory); the log is $TMP/JOB-TARGET.log.
run_one() {
    t=$1 secs=$2 tmp=$3 job=$4
    mkdir -p "$tmp/$job-$t" "$OUT/findings/$t"
    [ "$job" = empty ] || cp -R "$(corpus_of "$t")/." "$tmp/$job-$t/"
    dict=
    [ -f "fuzz/${t%_small}.dict" ] && dict="-dict=fuzz/${t%_small}.dict"
    case $t in fuzz_node|fuzz_h2*) maxlen=-max_len=16384 ;; *) maxlen=-max_len=4096 ;; esac
    # shellcheck disable=SC2086
    "$OUT/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 $maxlen $dict \
        -print_final_stats=1 -artifact_prefix="$OUT/findings/$t/$job-" "$tmp/$job-$t" \
        >"$tmp/$job-$t.log" 2>&1
}

# fuzz JOBS SECONDS [EMPTY_SECONDS]: runs every target in TARGETS_RUN for
# each job ("corpus", "empty") FUZZ_JOBS at a time; prints one line per
# run; returns 1 on any finding.
fuzz() {
    fz_jobs=$1 secs=$2 esecs=${3:-$2}
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/gsfuzz.XXXXXX")
    jobs=${FUZZ_JOBS:-2}
    running=0 frc=0
    for job in $fz_jobs; do
        s=$secs
        [ "$job" = empty ] && s=$esecs
        for t in $TARGETS_RUN; do
            run_one "$t" "$s" "$tmp" "$job" &
            running=$((running + 1))
            if [ "$running" -ge "$jobs" ]; then wait; running=0; fi
        done
    done
    wait
    for job in $fz_jobs; do
        for t in $TARGETS_RUN; do
            log=$tmp/$job-$t.log
            label="$t (its corpus)"
            [ "$job" = empty ] && label="$t (empty corpus)"
            stats=$(grep -E "^#[0-9]+.*(DONE|cov:)" "$log" | tail -1)
            if grep -q "^Done [0-9]* runs" "$log" && ! grep -qE "^==[0-9]+==ERROR|^SUMMARY|FUZZ INVARIANT|runtime error" "$log"; then
                echo "ok    $label: $stats"
            else
                echo "FAIL  $label: see $log and $OUT/findings/$t/"
                grep -E "FUZZ INVARIANT|^==[0-9]+==ERROR|^SUMMARY|runtime error" "$log" | head -5
                frc=1
                FUZZ_KEEP=1
            fi
        done
    done
    [ "${FUZZ_KEEP:-0}" = 1 ] || rm -rf "$tmp"
    return $frc
}

cmd=${1:-run}
case $cmd in
build) build ;;
regress) build; regress ;;
run)
    secs=${2:-60}
    [ $# -ge 2 ] && shift 2 || shift $#
    [ $# -gt 0 ] && TARGETS_RUN="$*" || TARGETS_RUN=$TARGETS
    esecs=${FUZZ_EMPTY_SECONDS:-5}
    fz="corpus empty"
    [ "$esecs" = 0 ] && fz=corpus
    build
    rc=0
    regress || rc=1
    fuzz "$fz" "$secs" "$esecs" || rc=1
    exit $rc
    ;;
empty)
    secs=${2:-5}
    [ $# -ge 2 ] && shift 2 || shift $#
    [ $# -gt 0 ] && TARGETS_RUN="$*" || TARGETS_RUN=$TARGETS
    build
    fuzz empty "$secs"
    ;;
*) sed -n '2,27p' "$0"; exit 2 ;;
esac
