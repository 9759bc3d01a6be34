#!/bin/bash
# Concurrency: ingests started at the same time into different datasets and into the
# same dataset.  Both must succeed (or one fails with a clear message and succeeds when
# retried); versions are distinct; the repository stays intact.
set -eu
. "$(dirname "$0")/lib.sh"

# two sources sharing some content (dedup races) plus their own data
A=$WORK/src/alpha; B=$WORK/src/beta
mkdir -p "$A" "$B"
for i in 1 2 3; do gen_file "$A/own$i.bin" $((3 << 20)) "alpha$i"; gen_file "$B/own$i.bin" $((3 << 20)) "beta$i"; done
gen_file "$A/shared.bin" $((4 << 20)) shared
cp "$A/shared.bin" "$B/shared.bin"
cp -r "$TESTDATA/dicom" "$A/"; cp -r "$TESTDATA/dicom" "$B/"
chmod -R u+w "$WORK/src"

init_repo

# run_pair DS_A DS_B: start two ingests at once; retry a loser once. Sets V_A / V_B.
run_pair() {
    "$STRATA" -q -R "$REPO" ingest "$A" --dataset "$1" --json >"$WORK/a.json" 2>"$WORK/a.err" </dev/null &
    pa=$!
    "$STRATA" -q -R "$REPO" ingest "$B" --dataset "$2" --json >"$WORK/b.json" 2>"$WORK/b.err" </dev/null &
    pb=$!
    set +e; wait $pa; ra=$?; wait $pb; rb=$?; set -e
    if [ $ra != 0 ] && [ $rb != 0 ]; then
        cat "$WORK/a.err" "$WORK/b.err" >&2
        die "both concurrent ingests failed ($1: exit $ra, $2: exit $rb)"
    fi
    for x in a b; do
        eval "r=\$r$x"
        [ "$x" = a ] && src=$A ds=$1 || { src=$B; ds=$2; }
        if [ "$r" != 0 ]; then
            [ "$r" = 1 ] || { cat "$WORK/$x.err" >&2; die "concurrent ingest into $ds exited $r (expected 0, or 1 with a message)"; }
            assert_file_contains "$WORK/$x.err" '^strata[^:]*: .*(lock|busy|concurren|in use|another)' \
                "concurrent ingest into $ds failed without a clear message"
            note "concurrent ingest into $ds refused: $(head -n 1 "$WORK/$x.err"); retrying"
            "$STRATA" -q -R "$REPO" ingest "$src" --dataset "$ds" --json >"$WORK/$x.json" 2>"$WORK/$x.err" </dev/null ||
                { cat "$WORK/$x.err" >&2; die "retried ingest into $ds failed"; }
        fi
    done
    V_A=$(json_get "$WORK/a.json" 'j["version"]')
    V_B=$(json_get "$WORK/b.json" 'j["version"]')
    S_A=$(json_get "$WORK/a.json" 'j["snapshot"]')
    S_B=$(json_get "$WORK/b.json" 'j["snapshot"]')
}

# --- two different datasets -------------------------------------------------------
run_pair x y
assert_eq "$V_A/$V_B" "1/1" "versions of concurrent ingests into datasets x and y"
ok -q -R "$REPO" check --read-data
ok -R "$REPO" datasets --json
json_check "$OUT" 'sorted((d["name"], d["versions"], d["latest"]) for d in j) == [("x", 1, 1), ("y", 1, 1)]' \
    "datasets after concurrent ingests into x and y"
ok -q -R "$REPO" restore x "$WORK/rx"; compare_trees "$A" "$WORK/rx/alpha" "restore x"
ok -q -R "$REPO" restore y "$WORK/ry"; compare_trees "$B" "$WORK/ry/beta" "restore y"

# --- the same dataset, three rounds ----------------------------------------------------
for round in 1 2 3; do
    run_pair same same
    lo=$(( 2 * round - 1 )); hi=$(( 2 * round ))
    [ "$V_A" != "$V_B" ] || die "round $round: two concurrent ingests into 'same' both got version $V_A"
    got=$(printf '%s\n' "$V_A" "$V_B" | sort -n | tr '\n' ' ')
    assert_eq "$got" "$lo $hi " "round $round: versions of two concurrent ingests into 'same'"
    [ "$S_A" != "$S_B" ] || die "round $round: both ingests report snapshot $S_A"
    ok -R "$REPO" log same --json
    cp "$OUT" "$WORK/log.json"
    json_check "$WORK/log.json" "sorted(e['version'] for e in j) == list(range(1, $hi + 1))" "round $round: log same lists 1..$hi"
    json_check "$WORK/log.json" "sorted([e['snapshot'] for e in j if e['version'] in ($lo, $hi)]) == sorted(['$S_A', '$S_B'])" \
        "round $round: log snapshots equal the ingest --json snapshots"
    # the version numbers belong to the right content
    rm -rf "$WORK/ra" "$WORK/rb"
    ok -q -R "$REPO" restore "same@v$V_A" "$WORK/ra"; compare_trees "$A" "$WORK/ra/alpha" "round $round: restore same@v$V_A (alpha)"
    ok -q -R "$REPO" restore "same@v$V_B" "$WORK/rb"; compare_trees "$B" "$WORK/rb/beta" "round $round: restore same@v$V_B (beta)"
    [ "$(ls -A "$WORK/ra")" = alpha ] || die "round $round: same@v$V_A contains $(ls -A "$WORK/ra" | tr '\n' ' ')"
    [ "$(ls -A "$WORK/rb")" = beta ] || die "round $round: same@v$V_B contains $(ls -A "$WORK/rb" | tr '\n' ' ')"
done
ok -q -R "$REPO" check --read-data --json
json_check "$OUT" 'j["ok"] is True and j["snapshots"] == 8' "check --read-data after concurrent ingests (8 snapshots)"
