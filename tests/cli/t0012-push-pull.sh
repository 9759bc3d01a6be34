#!/bin/bash
# t0012-push-pull: versions move between zones only through the gate; a phi
# push to a cloud zone is refused and nothing reaches the remote; pushes
# and pulls round-trip byte-exact with only the missing chunks sent,
# sealed under the remote's own keys; PHI attributes and identifiers stay
# home; a killed push resumes without resending what landed and never
# shows a partial version; egress is counted, priced and budgeted; the
# replicas are tracked.
. "$(dirname "$0")/lib.sh"

init_repo
CLOUD=$(new_repo cloud)
CLOUD_PW='cloud zone secret 4411'
STRATA_PASSWORD=$CLOUD_PW ok init "$CLOUD" --zone cloud --allow deid,aggregate,public --kdf-memory 8
export STRATA_REMOTE_PASSWORD=$CLOUD_PW
ok -R "$REPO" remote add cloud "$CLOUD" --zone cloud
ok -R "$REPO" remote ls --json
json_check "$OUT" 'j[0]["name"] == "cloud" and j[0]["zone"] == "cloud"' "remote listed"

# remote objects as files, in both modes
remote_objects() { # DIR: a copy of the remote's objects
    rm -rf "$1"
    if is_s3; then repo_pull "$1" "$CLOUD"; else cp -r "$CLOUD" "$1"; fi
}

mkdir -p "$WORK/src/img" "$WORK/src/bulk"
cp "$TESTDATA"/dicom/MR_small.dcm "$TESTDATA"/dicom/CT_small.dcm "$WORK/src/img/"
for i in $(seq 0 19); do gen_file "$WORK/src/bulk/part$i.bin" $((1 << 20)) "p$i"; done
ok -q -R "$REPO" ingest "$WORK/src" --dataset raw                       # phi
ok -q -R "$REPO" ingest "$WORK/src" --dataset curated --class deid --layer curated

# --- a phi push to the cloud zone is refused, and nothing of it lands ---------------------
fails -R "$REPO" push raw cloud
assert_err_contains "denied by zone.*phi.*22 files \(first: 'src/" "refusal names the rule and files"
remote_objects "$WORK/r0"
if find "$WORK/r0" -path '*/data/*' -o -path '*/snapshots/*' | grep -q .; then
    die "a refused push left objects on the remote: $(find "$WORK/r0" -path '*/data/*' | head -3)"
fi

# --- consent: data leaving the zone needs it, and the purpose must match ------------------
fails -R "$REPO" push curated cloud
assert_err_contains "needs consent" "no consent, no export"
ok -R "$REPO" consent set curated HMB
fails -R "$REPO" --purpose POA push curated cloud
assert_err_contains "denied by consent" "ancestry research refused"
# a researcher may export deid data, a clinician may not export anything
ok -R "$REPO" user add cleo --role clinician
STRATA_USER=cleo fails -R "$REPO" --purpose HMB push curated cloud
assert_err_contains "denied by role" "clinicians do not export"

# --- wrong remote secret -------------------------------------------------------------------
STRATA_REMOTE_PASSWORD=wrong fails -R "$REPO" --purpose HMB push curated cloud
assert_err_contains "wrong password" "remote secret checked"

# --- push, byte-exact, only what is missing ------------------------------------------------
ok -R "$REPO" --purpose HMB push curated cloud --json --project onco
json_check "$OUT" 'j["remote_version"] == 1 and j["files"] == 22 and j["chunks_sent"] == j["chunks"]' "first push sends all"
first_sent=$(json_get "$OUT" 'j["bytes_sent"]')
STRATA_PASSWORD=$CLOUD_PW ok -R "$CLOUD" restore curated "$WORK/back1" -q
compare_trees "$WORK/src" "$WORK/back1/src" "push round trip"
STRATA_PASSWORD=$CLOUD_PW ok -R "$CLOUD" check --read-data
# zones never share keys: no pack of one repository is found in the other
remote_objects "$WORK/r1"
ls "$WORK/r1/data"/*/* >/dev/null 2>&1 || die "no packs on the remote"
if is_s3; then repo_pull "$WORK/l1"; else cp -r "$REPO" "$WORK/l1"; fi
for p in "$WORK"/r1/data/*/*; do
    [ -e "$WORK/l1/data/$(basename "$(dirname "$p")")/$(basename "$p")" ] && die "pack shared: $p"
done
# the same version again: nothing sent
ok -R "$REPO" --purpose HMB push curated cloud --json
json_check "$OUT" 'j["already"] and j["bytes_sent"] == 0' "second push is a no-op"

# PHI attributes and identifiers never travel; pseudonyms do
STRATA_PASSWORD=$CLOUD_PW ok -R "$CLOUD" show curated:src/img/MR_small.dcm --json
assert_file_lacks "$OUT" 'PatientID|PatientName|PatientBirthDate|subject\.id|StudyInstanceUID' "no PHI attributes on the remote"
assert_file_contains "$OUT" '"subject"' "the pseudonym travels"
assert_file_contains "$OUT" 'dicom\.Modality' "other metadata travels"
STRATA_PASSWORD=$CLOUD_PW ok -R "$CLOUD" subjects --json
json_check "$OUT" 'j == []' "no identifier <-> pseudonym table on the remote"

# --- a version that differs by 5% sends at most 7% of the bytes -------------------------------
gen_file "$WORK/src/bulk/part3.bin" $((1 << 20)) "changed"
ok -q -R "$REPO" ingest "$WORK/src" --dataset curated --class deid --layer curated
ok -R "$REPO" --purpose HMB push curated cloud --json --project onco
sent2=$(json_get "$OUT" 'j["bytes_sent"]')
json_check "$OUT" "j['bytes_sent'] <= 0.07 * $first_sent" "5% change sends <= 7% ($sent2 of $first_sent)"

# --- pull back, byte-exact -------------------------------------------------------------------
ok -R "$REPO" pull curated@v2 cloud --json
json_check "$OUT" 'j["remote_version"] == 3' "pulled as a new local version"
ok -R "$REPO" --purpose HMB restore curated@v3 "$WORK/back2" -q
compare_trees "$WORK/src" "$WORK/back2/src" "pull round trip"

# --- replicas and egress ---------------------------------------------------------------------
ok -R "$REPO" replicas curated --json
json_check "$OUT" 'sorted((r["version"], r["remote_version"]) for r in j) == [(1, 1), (2, 2)]' "replicas"
ok -R "$REPO" egress price cloud 0.09
ok -R "$REPO" egress --by project --json
json_check "$OUT" "j[0]['key'] == 'onco' and j[0]['bytes'] == $first_sent + $sent2 and j[0]['pushes'] == 2 and abs(j[0]['usd'] - ($first_sent + $sent2) / 2**30 * 0.09) < 1e-6" "egress by project, priced"
ok -R "$REPO" egress --by dataset --json
json_check "$OUT" 'j[0]["key"] == "curated"' "egress by dataset"
# a budget refuses a push that would exceed it, before sending anything
ok -R "$REPO" egress budget tight 0.000001
for i in 0 1 2 3; do gen_file "$WORK/src/bulk/part$i.bin" $((1 << 20)) "v4-$i"; done
ok -q -R "$REPO" ingest "$WORK/src" --dataset curated --class deid --layer curated
remote_objects "$WORK/r2"; before=$(find "$WORK/r2" -path '*/data/*' -type f | wc -l)
fails -R "$REPO" --purpose HMB push curated cloud --project tight
assert_err_contains "monthly egress budget" "budget refusal"
remote_objects "$WORK/r3"; after=$(find "$WORK/r3" -path '*/data/*' -type f | wc -l)
assert_eq "$after" "$before" "nothing sent past the budget"

# --- kill -9 during a push, then resume ------------------------------------------------------
# 160 MiB of random data is ten 16 MiB packs; a push writes an index every 4 packs, so the kill
# lands after the first of this push's indexes (counted past the ones already there) with six
# packs, an index, the trees and the snapshot still to go.
cloud_indexes() {
    if is_s3; then s3_cli s3 ls --recursive "s3://$(s3_path "$CLOUD")/index/" 2>/dev/null | wc -l
    else find "$CLOUD/index" -type f 2>/dev/null | wc -l; fi
}
mkdir -p "$WORK/big"
for i in $(seq 0 39); do gen_file "$WORK/big/b$i.bin" $((4 << 20)) "big$i"; done   # 160 MiB
ok -q -R "$REPO" ingest "$WORK/big" --dataset bulk --class deid
ok -R "$REPO" consent set bulk GRU
n0=$(cloud_indexes)
"$STRATA" -q -R "$REPO" --purpose GRU push bulk cloud >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1000); do
    [ "$(cloud_indexes)" -gt "$n0" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.02
done
kill -9 $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
STRATA_PASSWORD=$CLOUD_PW ok -R "$CLOUD" datasets --json
# killed before its snapshot: no version at all; else the one, whole
json_check "$OUT" '[d["versions"] for d in j if d["name"] == "bulk"] in ([], [1])' "no partial version"
partial=$(json_get "$OUT" 'len([d for d in j if d["name"] == "bulk"])')
ok -R "$REPO" --purpose GRU push bulk cloud --json
if [ "$partial" = 0 ]; then
    json_check "$OUT" "j['bytes_sent'] < 0.75 * 160 * 2**20" "resume does not resend the packs an index named"
elif is_s3; then   # listing the bucket is slow: the push may win
    note "the push finished before the kill: resume not checked on S3 this time"
else
    die "the push finished before the kill (after the first of its indexes): resume was not tested"
fi
STRATA_PASSWORD=$CLOUD_PW ok -R "$CLOUD" restore bulk "$WORK/back3" -q
compare_trees "$WORK/big" "$WORK/back3/big" "resumed push"
STRATA_PASSWORD=$CLOUD_PW ok -R "$CLOUD" check --read-data

# --- both audit logs have the push -----------------------------------------------------------
ok -R "$REPO" audit log --json
json_check "$OUT" 'any(r["action"] == "push" and r["decision"] == "allow" and r["bytes"] > 0 for r in j)' "local audit: push with bytes"
json_check "$OUT" 'any(r["action"] == "push" and r["decision"] == "deny" for r in j)' "local audit: refused push"
STRATA_PASSWORD=$CLOUD_PW ok -R "$CLOUD" audit log --json
json_check "$OUT" 'any(r["action"] == "push" and r["decision"] == "allow" for r in j)' "remote audit: push"

[ "$SOFT_FAILS" = 0 ] || die "$SOFT_FAILS checks failed"
echo "ok [$TEST_NAME]"
