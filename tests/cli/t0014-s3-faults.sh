#!/bin/bash
# t0014-s3-faults: server errors during a push to an S3 remote (on the real
# Ceph RGW of cli/s3-suite): the gateway stopped mid-push, wrong
# credentials, a missing bucket. Each gives a clear error naming what is
# wrong, nothing already stored is lost, no partial version appears, and
# the push completes once the server is back. Runs only with STRATA_TEST_S3=1.
. "$(dirname "$0")/lib.sh"
is_s3 || skip "needs the S3 suite (tests/cli/run_on_s3.sh starts Ceph RGW)"
[ -n "${CEPH_STATE:-}" ] || skip "CEPH_STATE unknown: cannot stop the gateway"
RGW=$(cd "$(dirname "$0")/../services" && pwd)/ceph-rgw.sh

LOCAL=$WORK/local
ok init "$LOCAL" --kdf-memory 8
mkdir -p "$WORK/big"
for i in $(seq 0 63); do gen_file "$WORK/big/b$i.bin" $((4 << 20)) "f$i"; done   # 256 MiB
ok -q -R "$LOCAL" ingest "$WORK/big" --dataset bulk --class deid
ok -R "$LOCAL" consent set bulk GRU
REMOTE=$(new_repo remote)
STRATA_PASSWORD=rpw ok init "$REMOTE" --zone cloud --allow deid --kdf-memory 8
ok -R "$LOCAL" remote add cloud "$REMOTE" --zone cloud
export STRATA_REMOTE_PASSWORD=rpw

# --- wrong credentials: a clear refusal, nothing lost --------------------------------------
AWS_SECRET_ACCESS_KEY=not-the-key fails -R "$LOCAL" --purpose GRU push bulk cloud
assert_err_contains "access denied|SignatureDoesNotMatch|InvalidAccessKeyId" "wrong credentials named"
ok -R "$LOCAL" check

# --- a missing bucket --------------------------------------------------------------------
ok -R "$LOCAL" remote add gone "s3://strata-no-such-bucket-$RANDOM/r"
fails -R "$LOCAL" --purpose GRU push bulk gone
assert_err_contains "bucket" "missing bucket named"

# --- the gateway goes away mid-push ------------------------------------------------------
"$STRATA" -R "$LOCAL" --purpose GRU push bulk cloud --json >"$WORK/push1.out" 2>"$WORK/push1.err" &
pid=$!
for _ in $(seq 600); do   # until packs and an index object landed
    n=$(s3_cli s3 ls --recursive "s3://$(s3_path "$REMOTE")/index/" 2>/dev/null | wc -l)
    [ "$n" -ge 1 ] && break
    sleep 0.05
done
"$RGW" gw-stop
t0=$(date +%s)
rc=0; wait $pid || rc=$?
[ "$rc" != 0 ] || die "the push succeeded with the gateway stopped (did it finish before?)"
[ $(( $(date +%s) - t0 )) -le 60 ] || die "the push took over 60 s to give up"
grep -Eq "127\.0\.0\.1|endpoint|connect" "$WORK/push1.err" ||
    { cat "$WORK/push1.err" >&2; die "the error does not name the endpoint"; }
"$RGW" gw-start
STRATA_PASSWORD=rpw fails -R "$REMOTE" log bulk
assert_err_contains "no dataset 'bulk'" "no partial version on the remote"
ok -R "$LOCAL" check --read-data            # nothing here was lost
ok -R "$LOCAL" --purpose GRU push bulk cloud --json
json_check "$OUT" "j['remote_version'] == 1 and j['bytes_sent'] < 0.9 * 256 * 2**20" "resumed without resending what landed"
STRATA_PASSWORD=rpw ok -R "$REMOTE" restore bulk "$WORK/back" -q
compare_trees "$WORK/big" "$WORK/back/big" "pushed after the gateway came back"
STRATA_PASSWORD=rpw ok -R "$REMOTE" check --read-data

[ "$SOFT_FAILS" = 0 ] || die "$SOFT_FAILS checks failed"
echo "ok [$TEST_NAME]"
