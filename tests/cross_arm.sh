#!/bin/sh
# tests/cross_arm.sh [SRCDIR] - the library compiles for a Cortex-M4 with
# newlib (arm-none-eabi-gcc), warnings as errors, with the file log and
# without it (-DGS_NO_FILE_LOG). Issue 7: the file-log build failed there,
# comparing newlib's 16-bit dev_t/ino_t with uint64_t (-Wsign-compare).
# Compiles only (-c): nothing is linked or run. One PASS/FAIL line per
# build; SKIP when arm-none-eabi-gcc is missing.
# SRCDIR (default: the repository) lets it judge another checkout.
set -u
CC=arm-none-eabi-gcc
FLAGS="-std=c99 -Wall -Wextra -Wpedantic -Werror -mcpu=cortex-m4 -mthumb -Os -DGS_NO_MAIN"

if ! command -v $CC > /dev/null 2>&1; then
    echo "SKIP: cross-compile for cortex-m4 ($CC not installed)"
    exit 0
fi
src=${1:-$(dirname "$0")/..}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

status=0
build() {   # label, extra flags...
    label=$1; shift
    if $CC $FLAGS "$@" -I"$src" -c -o "$tmp/g.o" "$src/grpcstream.c" > "$tmp/cc.log" 2>&1 &&
       $CC $FLAGS "$@" -I"$src" -c -o "$tmp/j.o" "$src/json.c" >> "$tmp/cc.log" 2>&1; then
        echo "PASS: $CC -mcpu=cortex-m4 -mthumb -Os -Werror: $label"
    else
        echo "FAIL: $CC -mcpu=cortex-m4 -mthumb -Os -Werror: $label"
        grep -E 'error|warning' "$tmp/cc.log" | head -8 | sed 's/^/    /'
        status=1
    fi
}
build "with the file log"
build "without the file log (-DGS_NO_FILE_LOG)" -DGS_NO_FILE_LOG
exit $status
