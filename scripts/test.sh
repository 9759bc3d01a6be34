#!/bin/sh
# test.sh - the whole test suite from a clean checkout: install
# dependencies, build (debug, with AddressSanitizer and UBSan), run every
# CTest layer: unit, fuzz-corpus replay, CLI end-to-end and fault tests.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake --preset asan >/dev/null
cmake --build --preset asan -j2
ctest --preset asan -j2 "$@"
