#!/usr/bin/env bash
# Benchmark strata against restic and borg on a generated corpus.
# Usage: bash bench/run.sh        (environment knobs: see bench/README.md)
set -euo pipefail

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_ROOT/.." && pwd)

log() { printf '[bench] %s\n' "$*"; }

# shellcheck source=bench/lib.sh
. "$BENCH_ROOT/lib.sh"

need=()
command -v restic >/dev/null 2>&1 || need+=(restic)
command -v borg >/dev/null 2>&1 || need+=(borgbackup)
[ -x /usr/bin/time ] || need+=(time)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    apt_install "${need[@]}"
fi

# strata binary: $STRATA if given, else the release build in the repo (built if missing).
if [ -n "${STRATA:-}" ]; then
    [ -x "$STRATA" ] || log "STRATA=$STRATA is not an executable: strata phases will be skipped"
else
    STRATA="$REPO_ROOT/build/release/strata"
    if [ ! -x "$STRATA" ]; then
        log "building strata (release) in $REPO_ROOT"
        bneed=()
        command -v cmake >/dev/null 2>&1 || bneed+=(cmake)
        command -v cc >/dev/null 2>&1 || bneed+=(gcc libc6-dev)
        if [ ${#bneed[@]} -gt 0 ]; then apt_install "${bneed[@]}" || true; fi
        (
            cd "$REPO_ROOT"
            if [ -f CMakePresets.json ]; then
                cmake --preset release && cmake --build --preset release -j"$(nproc)"
            else
                cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release &&
                    cmake --build build/release -j"$(nproc)"
            fi
        ) || log "strata build FAILED: strata phases will be skipped"
    fi
fi
export STRATA
export PYTHONDONTWRITEBYTECODE=1
export STRATA_TESTDATA="${STRATA_TESTDATA:-$REPO_ROOT/../shared/testdata}"

exec python3 "$BENCH_ROOT/harness.py" "$@"
