#!/bin/bash
# Crash safety: ingests are killed with SIGKILL at random moments; afterwards the
# repository must pass check --read-data, list only complete versions, and the newest
# version must restore byte-exact.  Finally a normal ingest must work.
set -eu
. "$(dirname "$0")/lib.sh"

ITER=${STRATA_KILL_ITERATIONS:-15}
NFILES=14            # 14 x 4 MiB = 56 MiB
FSIZE=$((4 << 20))
G=$WORK/gen/bulk
mkdir -p "$G"

regen() { # ROUND: rewrite half of the files with new content so every ingest has new data
    python3 - "$G" "$1" "$NFILES" "$FSIZE" <<'PY'
import os, random, sys
d, rnd, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    seed = ('%d-%d' % (i, rnd)) if i % 2 == rnd % 2 else ('%d-init' % i)
    p = os.path.join(d, 'part%02d.bin' % i)
    if seed is None and os.path.exists(p):
        continue
    r = random.Random(seed)
    with open(p, 'wb') as f:
        for _ in range(size >> 20):
            f.write(r.randbytes(1 << 20))
# a few small files as well
os.makedirs(os.path.join(d, 'small'), exist_ok=True)
r = random.Random('small-%d' % rnd)
for i in range(40):
    with open(os.path.join(d, 'small', 's%02d.txt' % i), 'w') as f:
        f.write(('round %d file %d\n' % (rnd, i)) * r.randrange(1, 2000))
PY
}

versions() { # -> sorted list of versions of dataset bulk, one per line
    "$STRATA" -q -R "$REPO" log bulk --json >"$WORK/log.json" 2>"$WORK/log.err" || {
        # a dataset without any complete version may legitimately be unknown
        if grep -qi 'bulk' "$WORK/log.err" && [ "$1" = allow-missing ]; then return 0; fi
        cat "$WORK/log.err" >&2; die "log bulk --json failed"; }
    json_get "$WORK/log.json" '"\n".join(str(v) for v in sorted(e["version"] for e in j))'
}

init_repo
# Calibrate: time one complete ingest of fresh data (into another dataset) and pick the
# random kill delays from 0..min(1.5 s (S3: 2 s), 2 x that time), so that kills land at every stage
# of an ingest, including just before and after its commit.
regen 0
t0=$(date +%s%N)
ok -q -R "$REPO" ingest "$G" --dataset calib --json
calib_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
MAXDELAY=$((calib_ms * 2))   # about half of the rounds are killed before they finish
# an ingest into S3 takes longer (uploads): a higher cap keeps rounds that finish
CAP=1500; if is_s3; then CAP=2000; fi
[ "$MAXDELAY" -le "$CAP" ] || MAXDELAY=$CAP
[ "$MAXDELAY" -ge 50 ] || MAXDELAY=50
note "a full ingest of $((NFILES * FSIZE >> 20)) MiB takes ${calib_ms} ms; kill delays 0..${MAXDELAY} ms"
RANDOM=4242   # reproducible delays
nv=0
killed=0; finished=0
for i in $(seq 1 "$ITER"); do
    regen "$i"
    ms=$((RANDOM % MAXDELAY))
    "$STRATA" -q -R "$REPO" ingest "$G" --dataset bulk -m "round $i" >"$WORK/ing.out" 2>"$WORK/ing.err" </dev/null &
    pid=$!
    sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
    kill -9 "$pid" 2>/dev/null || true
    set +e; { wait "$pid"; } 2>/dev/null; rc=$?; set -e
    case $rc in
        137) killed=$((killed + 1)) ;;
        0) finished=$((finished + 1)) ;;
        *) cat "$WORK/ing.err" >&2; die "round $i: ingest exited $rc before it was killed" ;;
    esac

    run_st -q -R "$REPO" check --read-data
    [ "$RC" = 0 ] || { show_last check --read-data; die "round $i: check --read-data failed after kill -9 at ${ms} ms"; }

    versions allow-missing >"$WORK/vers.txt"
    seq 1 "$(wc -l <"$WORK/vers.txt")" >"$WORK/vers.exp"
    cmp -s "$WORK/vers.txt" "$WORK/vers.exp" || { cat "$WORK/vers.txt" >&2; die "round $i: versions are not 1..N"; }
    new=$(wc -l <"$WORK/vers.txt" | tr -d ' ')
    if [ "$rc" = 0 ] && [ "$new" != $((nv + 1)) ]; then
        die "round $i: ingest exited 0 but the number of versions went from $nv to $new"
    fi
    if [ "$new" -gt $((nv + 1)) ] || [ "$new" -lt "$nv" ]; then
        die "round $i: number of versions went from $nv to $new"
    fi
    if [ "$new" = $((nv + 1)) ]; then
        # this round's version is complete: it must be exactly the current source tree
        rm -rf "$WORK/restore"
        ok -q -R "$REPO" restore "bulk@v$new" "$WORK/restore"
        compare_trees "$G" "$WORK/restore/bulk" "round $i: restore of bulk@v$new"
        ok -R "$REPO" log bulk --json
        json_check "$OUT" "[e['message'] for e in j if e['version'] == $new] == ['round $i']" \
            "round $i: message of bulk@v$new"
    fi
    note "round $i: kill after ${ms} ms, ingest exit $rc, versions $nv -> $new"
    nv=$new
done
note "$killed ingests killed, $finished finished before the kill"
[ "$killed" -ge 3 ] || die "only $killed of $ITER ingests were actually killed; the test did not exercise crashes (ingest too fast?)"

# the newest listed version restores byte-exact (checked again after all rounds)
if [ "$nv" -gt 0 ]; then
    ok -q -R "$REPO" ls "bulk@v$nv" --json
    json_check "$OUT" 'len([e for e in j if e["type"] == "file"]) == 54' "bulk@v$nv: number of files"
fi

# a normal ingest afterwards succeeds and restores byte-exact
regen 999
ok -q -R "$REPO" ingest "$G" --dataset bulk -m final --json
assert_eq "$(json_get "$OUT" 'j["version"]')" $((nv + 1)) "version of the final ingest"
assert_eq "$(json_get "$OUT" 'j["errors"]')" 0 "errors of the final ingest"
rm -rf "$WORK/restore"
ok -q -R "$REPO" restore bulk "$WORK/restore"
compare_trees "$G" "$WORK/restore/bulk" "final restore"
ok -q -R "$REPO" check --read-data
