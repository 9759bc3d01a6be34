#!/usr/bin/env bash
# gate.sh - what the policy gate and the audit log cost on reads of many
# small files: the same code built twice, with and without the gate
# (-DSTRATA_BENCH_NO_GATE), runs 'cat' of single files and 'restore' of a
# version of many small files. Prints times, the ratio and peak RSS.
# Usage: bash bench/gate.sh   (FILES=4000 CATS=300 ROUNDS=5 to change)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=${FILES:-4000}
CATS=${CATS:-300}
ROUNDS=${ROUNDS:-5}
W=$(mktemp -d /tmp/strata-bench-gate.XXXXXX)
trap 'rm -rf "$W"' EXIT

build() { # DIR EXTRA-CMAKE-ARGS...
    local d=$1; shift
    cmake -S "$ROOT" -B "$d" -DCMAKE_BUILD_TYPE=Release -DSTRATA_TESTS=OFF \
        -DCMAKE_C_FLAGS=-march=x86-64-v2 "$@" >/dev/null
    cmake --build "$d" -j2 --target strata >/dev/null
}
echo "[gate] building with and without the gate"
build "$ROOT/build/release"
build "$ROOT/build/bench-nogate" -DSTRATA_BENCH_NO_GATE=ON
ON=$ROOT/build/release/strata
OFF=$ROOT/build/bench-nogate/strata

export STRATA_PASSWORD=bench
mkdir -p "$W/src"
python3 - "$W/src" "$FILES" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, "s%03d" % (i // 500))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%05d.txt" % i), "wb") as f:
        f.write(os.urandom(2048) + (b"row %d\n" % i) * 64)
EOF
"$ON" init "$W/repo" --kdf-memory 8 -q
"$ON" -R "$W/repo" ingest "$W/src" --dataset small --class deid -q
"$ON" -R "$W/repo" consent set small GRU
find "$W/src" -type f | sed "s|$W/||" | sort | sed -n "1,${CATS}p" >"$W/list"

run() { # BIN: seconds for CATS single-file cats, then ROUNDS restores
    local bin=$1 t0 t1
    t0=$(date +%s.%N)
    while read -r p; do
        "$bin" -R "$W/repo" --purpose GRU cat "small:$p" >/dev/null
    done <"$W/list"
    t1=$(date +%s.%N)
    echo "cat $(echo "$t1 - $t0" | bc)"
    t0=$(date +%s.%N)
    for i in $(seq "$ROUNDS"); do
        rm -rf "$W/out"
        "$bin" -R "$W/repo" --purpose GRU restore small "$W/out" -q
    done
    t1=$(date +%s.%N)
    echo "restore $(echo "$t1 - $t0" | bc)"
}
rss() { # BIN: peak RSS (KiB) of one restore
    rm -rf "$W/out"
    /usr/bin/time -f %M "$1" -R "$W/repo" --purpose GRU restore small "$W/out" -q 2>&1 >/dev/null | tail -1
}
# alternate, so drift in the machine hits both alike
declare -A tot=()
for pass in 1 2; do
    for b in OFF ON; do
        bin=${!b}
        while read -r k v; do
            tot[$b.$k]=$(echo "${tot[$b.$k]:-0} + $v" | bc)
        done < <(run "$bin")
    done
done
printf '\n%-8s %12s %12s %8s\n' phase "no gate (s)" "gate (s)" ratio
for k in cat restore; do
    off=${tot[OFF.$k]} on=${tot[ON.$k]}
    printf '%-8s %12.3f %12.3f %8.3f\n' "$k" "$off" "$on" "$(echo "$on / $off" | bc -l)"
done
echo "files: $FILES small files; cat: 2 x $CATS processes; restore: 2 x $ROUNDS"
echo "peak RSS (KiB): no gate $(rss "$OFF"), gate $(rss "$ON")"
echo "audit records written: $("$ON" -R "$W/repo" audit verify --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')"
