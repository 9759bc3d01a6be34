#!/usr/bin/env bash
# Benchmark the audit log: append+commit throughput in batches (target
# >= 50,000 records/s), verify of the whole log (target < 5 s for one
# million records), and peak RSS. Not a test; never gates CI.
# Usage: bash bench/audit.sh [RECORDS [BATCH]]
# Knobs: BUILD (a CMake build dir with libstrata_audit.a and
# libstrata_common.a; default build/release; if the libraries are absent
# the sources are compiled directly), TMPDIR (where the log is written).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RECORDS=${1:-1000000}
BATCH=${2:-1000}
BUILD=${BUILD:-$ROOT/build/release}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/strata-audit-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

CFLAGS=(-O2 -g -std=c17 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
        -I"$ROOT/include" -I"$ROOT/src")
LIBS=(-lsodium -lcrypto -lpthread)
if [ -f "$BUILD/libstrata_audit.a" ] && [ -f "$BUILD/libstrata_common.a" ]; then
    echo "[audit bench] linking $BUILD/libstrata_audit.a"
    cc "${CFLAGS[@]}" -o "$WORK/audit" "$ROOT/bench/audit.c" \
        "$BUILD/libstrata_audit.a" "$BUILD/libstrata_common.a" "${LIBS[@]}"
else
    echo "[audit bench] compiling src/audit and src/common directly (-O2)"
    cc "${CFLAGS[@]}" -o "$WORK/audit" "$ROOT/bench/audit.c" \
        "$ROOT"/src/audit/*.c "$ROOT"/src/common/*.c "${LIBS[@]}"
fi

echo "[audit bench] $RECORDS records, batches of $BATCH, log in $WORK/log"
/usr/bin/time -v "$WORK/audit" "$WORK/log" "$RECORDS" "$BATCH" \
    2> "$WORK/time.txt"
grep -E 'Maximum resident set size|Elapsed \(wall' "$WORK/time.txt" |
    sed 's/^[[:space:]]*/peak: /'
du -sh "$WORK/log" | awk '{print "log size: " $1}'
