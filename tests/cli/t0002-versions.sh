#!/bin/bash
# Versions: diff, restore of an old version, --update, --include, layer/class/message
# metadata, STRATA_REPO, unchanged re-ingest and cross-dataset dedup.
set -eu
. "$(dirname "$0")/lib.sh"

S() { "$STRATA" -q -R "$REPO" "$@"; }
init_repo

# Source tree proj/ (v1)
P=$WORK/src/proj
mkdir -p "$P/sub" "$P/keepdir"
cp "$TESTDATA/dicom/CT_small.dcm" "$P/keep.dcm"
cp "$TESTDATA/nifti/anatomical.nii" "$P/sub/deep.nii"
cp "$TESTDATA/vcf/passed_meta_sample.vcf" "$P/del.vcf"
printf 'keep me\n' >"$P/keep.txt"
printf 'version one of mod.txt\n' >"$P/mod.txt"
printf 'I will become a directory\n' >"$P/tchange"
printf 'stays\n' >"$P/keepdir/stay.txt"
cp -a "$P" "$WORK/v1copy"

expect 0 -q -R "$REPO" ingest "$P" --dataset ds --layer raw --class phi -m "first version" --json
cp "$OUT" "$WORK/i1.json"
assert_eq "$(json_get "$WORK/i1.json" 'j["version"]')" 1 "first ingest version"
NF1=$(json_get "$WORK/i1.json" 'j["files"]')
assert_eq "$NF1" 7 "files in v1"

# Modify: change mod.txt, delete del.vcf, add new.txt and sub/new2.txt, file -> dir for
# tchange.  Directory mtimes are put back so that only the entries listed change.
md_p=$(stat -c %Y "$P"); md_s=$(stat -c %Y "$P/sub")
printf 'version two of mod.txt, longer\n' >"$P/mod.txt"
rm "$P/del.vcf"
printf 'brand new\n' >"$P/new.txt"
cp "$TESTDATA/bam/range.bam.bai" "$P/sub/new2.bai"
rm "$P/tchange"; mkdir "$P/tchange"
touch -d "@$md_s" "$P/sub"; touch -d "@$md_p" "$P"
cp -a "$P" "$WORK/v2copy"

expect 0 -q -R "$REPO" ingest "$P" --dataset ds --layer curated --class deid -m "second version" --json
cp "$OUT" "$WORK/i2.json"
assert_eq "$(json_get "$WORK/i2.json" 'j["version"]')" 2 "second ingest version"
assert_eq "$(json_get "$WORK/i2.json" 'j["files"]')" 7 "files in v2"
assert_eq "$(json_get "$WORK/i2.json" 'j["files_unchanged"]')" 4 \
    "files_unchanged in v2 (keep.dcm keep.txt sub/deep.nii keepdir/stay.txt)"

# --- diff ---------------------------------------------------------------------------
cat >"$WORK/diff.exp" <<'X'
+ proj/new.txt
+ proj/sub/new2.bai
- proj/del.vcf
M proj/mod.txt
T proj/tchange
X
ok -R "$REPO" diff ds@v1 ds@v2
sort "$OUT" >"$WORK/diff.act"
if ! cmp -s "$WORK/diff.exp" "$WORK/diff.act"; then
    diff "$WORK/diff.exp" "$WORK/diff.act" >&2 || true
    die "diff ds@v1 ds@v2 output differs from the expected lines"
fi
ok -R "$REPO" diff ds@v1 ds@v2 --json
python3 - "$OUT" <<'PY' || die "diff --json does not list exactly the expected changes"
import json, sys
got = sorted((e['path'], e['change']) for e in json.load(open(sys.argv[1])))
exp = sorted([('proj/new.txt', 'added'), ('proj/sub/new2.bai', 'added'),
              ('proj/del.vcf', 'removed'), ('proj/mod.txt', 'modified'),
              ('proj/tchange', 'type')])
if got != exp:
    sys.exit('got %s\nexpected %s' % (got, exp))
PY
ok -R "$REPO" diff ds@v2 ds@v1
sort "$OUT" >"$WORK/rdiff.act"
printf '%s\n' '+ proj/del.vcf' '- proj/new.txt' '- proj/sub/new2.bai' 'M proj/mod.txt' 'T proj/tchange' >"$WORK/rdiff.exp"
cmp -s "$WORK/rdiff.exp" "$WORK/rdiff.act" || { diff "$WORK/rdiff.exp" "$WORK/rdiff.act" >&2 || true;
    die "diff ds@v2 ds@v1 (reverse) differs from the expected lines"; }
ok -R "$REPO" diff ds@v1 ds@v1
assert_eq "$(cat "$OUT")" "" "diff of a version with itself must be empty"

# --- restore old and new versions ----------------------------------------------------
ok -q -R "$REPO" restore ds@v1 "$WORK/r1"
compare_trees "$WORK/v1copy" "$WORK/r1/proj" "restore ds@v1"
cmp "$WORK/r1/proj/mod.txt" <(printf 'version one of mod.txt\n') || die "ds@v1 mod.txt has the wrong content"
ok -q -R "$REPO" restore ds "$WORK/r2"
compare_trees "$WORK/v2copy" "$WORK/r2/proj" "restore ds (latest = v2)"

# --- metadata in log / datasets -------------------------------------------------------
ok -R "$REPO" log ds --json
cp "$OUT" "$WORK/log.json"
python3 - "$WORK/log.json" <<'PY' || die "log ds --json does not record layer/class/message/parent correctly"
import json, sys
L = {e['version']: e for e in json.load(open(sys.argv[1]))}
bad = []
if sorted(L) != [1, 2]: bad.append('versions %s, expected [1, 2]' % sorted(L))
else:
    for v, layer, cls, msg, parent in ((1, 'raw', 'phi', 'first version', None),
                                       (2, 'curated', 'deid', 'second version', 1)):
        e = L[v]
        got = (e.get('layer'), e.get('class'), e.get('message'), e.get('parent'))
        if got != (layer, cls, msg, parent):
            bad.append('v%d: (layer, class, message, parent) = %r, expected %r' % (v, got, (layer, cls, msg, parent)))
    if L[1]['snapshot'] == L[2]['snapshot']: bad.append('v1 and v2 have the same snapshot id')
if bad: sys.exit('\n'.join(bad))
PY
assert_eq "$(json_get "$WORK/log.json" '[e["snapshot"] for e in j if e["version"] == 2][0]')" \
          "$(json_get "$WORK/i2.json" 'j["snapshot"]')" "log snapshot of v2 equals ingest --json snapshot"

# --- STRATA_REPO instead of -R ---------------------------------------------------------
set +e; STRATA_REPO=$REPO "$STRATA" -q datasets --json >"$WORK/envrepo.json" 2>"$WORK/envrepo.err"; rc=$?; set -e
assert_eq "$rc" 0 "exit code of STRATA_REPO=... strata datasets --json ($(cat "$WORK/envrepo.err"))"
json_check "$WORK/envrepo.json" '[(d["name"], d["versions"], d["latest"]) for d in j] == [("ds", 2, 2)]' \
    "datasets via STRATA_REPO"
json_check "$WORK/envrepo.json" 'j[0]["layer"] in ("raw", "curated") and j[0]["class"] in ("phi", "deid")' \
    "datasets layer/class must be one recorded for ds"
set +e; STRATA_REPO=$REPO "$STRATA" -q restore ds@v1 "$WORK/r1env" >/dev/null 2>&1; rc=$?; set -e
assert_eq "$rc" 0 "restore via STRATA_REPO"
compare_trees "$WORK/v1copy" "$WORK/r1env/proj" "restore ds@v1 via STRATA_REPO"
fails -q datasets
assert_err_contains 'repo' "no -R and no STRATA_REPO: error must mention the repository"

# --- a malformed or missing version names the spelling, with this dataset's name -------
fails -q -R "$REPO" ls ds@2
assert_fixed_in "$ERR" "bad version in 'ds@2': write NAME@vN, e.g. 'ds@v1'" "ls ds@2"
fails -q -R "$REPO" ls ds@v99
assert_err_contains "no version 99" "ls ds@v99"

# --- unchanged re-ingest ------------------------------------------------------------
ok -q -R "$REPO" ingest "$P" --dataset ds --layer curated --class deid --json
cp "$OUT" "$WORK/i3.json"
assert_eq "$(json_get "$WORK/i3.json" 'j["version"]')" 3 "unchanged re-ingest still creates version 3"
assert_eq "$(json_get "$WORK/i3.json" 'j["files_unchanged"]')" "$(json_get "$WORK/i3.json" 'j["files"]')" \
    "unchanged re-ingest: files_unchanged == files"
json_check "$WORK/i3.json" 'j["bytes_new"] <= 65536' "unchanged re-ingest: bytes_new must be small (<= 64 KiB)"
ok -R "$REPO" diff ds@v2 ds@v3
assert_eq "$(cat "$OUT")" "" "diff ds@v2 ds@v3 of identical data"

# --- the same data in a second dataset is deduplicated ----------------------------------
ok -q -R "$REPO" ingest "$P" --dataset ds2 --layer model-ready --class aggregate --json
cp "$OUT" "$WORK/i4.json"
assert_eq "$(json_get "$WORK/i4.json" 'j["version"]')" 1 "first version of ds2"
json_check "$WORK/i4.json" 'j["bytes_new"] <= 65536' "same data into another dataset: bytes_new must be small (dedup)"
ok -R "$REPO" datasets --json
json_check "$OUT" 'sorted(d["name"] for d in j) == ["ds", "ds2"]' "datasets lists ds and ds2"
json_check "$OUT" '[(d["versions"], d["latest"], d["layer"], d["class"]) for d in j if d["name"] == "ds2"] == [(1, 1, "model-ready", "aggregate")]' \
    "datasets entry of ds2"

# --- --update -----------------------------------------------------------------------
mkdir -p "$WORK/other/extra" "$WORK/alt/proj"
printf 'extra file\n' >"$WORK/other/extra/e.txt"
ok -q -R "$REPO" ingest "$WORK/other/extra" --dataset ds --update --json
assert_eq "$(json_get "$OUT" 'j["version"]')" 4 "--update creates version 4"
ok -q -R "$REPO" restore ds@v4 "$WORK/r4"
assert_eq "$(ls -A "$WORK/r4" | tr '\n' ' ')" "extra proj " "--update keeps other root entries"
compare_trees "$WORK/v2copy" "$WORK/r4/proj" "ds@v4 keeps proj/ from v3"
compare_trees "$WORK/other/extra" "$WORK/r4/extra" "ds@v4 adds extra/"

printf 'replacement\n' >"$WORK/alt/proj/only.txt"
ok -q -R "$REPO" ingest "$WORK/alt/proj" --dataset ds --update --json
assert_eq "$(json_get "$OUT" 'j["version"]')" 5 "second --update creates version 5"
ok -q -R "$REPO" restore ds@v5 "$WORK/r5"
assert_eq "$(ls -A "$WORK/r5" | tr '\n' ' ')" "extra proj " "ds@v5 root entries"
compare_trees "$WORK/alt/proj" "$WORK/r5/proj" "--update replaces proj/ entirely"
compare_trees "$WORK/other/extra" "$WORK/r5/extra" "--update keeps extra/"

# without --update a version holds only what was given
ok -q -R "$REPO" ingest "$WORK/other/extra" --dataset ds --json
assert_eq "$(json_get "$OUT" 'j["version"]')" 6 "plain ingest creates version 6"
ok -q -R "$REPO" restore ds@v6 "$WORK/r6"
assert_eq "$(ls -A "$WORK/r6" | tr '\n' ' ')" "extra " "plain ingest (no --update) replaces the whole version"

# --- --include ---------------------------------------------------------------------
ok -q -R "$REPO" restore ds@v2 "$WORK/inc1" --include '*.txt'
(cd "$WORK/inc1" && find . -type f | sort) >"$WORK/inc1.list"
printf '%s\n' ./proj/keep.txt ./proj/keepdir/stay.txt ./proj/mod.txt ./proj/new.txt >"$WORK/inc1.exp"
cmp -s "$WORK/inc1.exp" "$WORK/inc1.list" || { diff "$WORK/inc1.exp" "$WORK/inc1.list" >&2 || true;
    die "restore --include '*.txt' restored the wrong set of files"; }
cmp "$WORK/inc1/proj/mod.txt" "$WORK/v2copy/mod.txt" || die "--include restore: mod.txt content"

ok -q -R "$REPO" restore ds@v2 "$WORK/inc2" --include 'proj/sub'
(cd "$WORK/inc2" && find . -type f | sort) >"$WORK/inc2.list"
printf '%s\n' ./proj/sub/deep.nii ./proj/sub/new2.bai >"$WORK/inc2.exp"
cmp -s "$WORK/inc2.exp" "$WORK/inc2.list" || { diff "$WORK/inc2.exp" "$WORK/inc2.list" >&2 || true;
    die "restore --include 'proj/sub' (directory prefix) restored the wrong set of files"; }
compare_trees "$WORK/v2copy/sub" "$WORK/inc2/proj/sub" "--include proj/sub contents"

ok -q -R "$REPO" restore ds@v2 "$WORK/inc3" --include '*/sub/*.n?i'
(cd "$WORK/inc3" && find . -type f | sort) >"$WORK/inc3.list"
assert_eq "$(cat "$WORK/inc3.list")" "./proj/sub/deep.nii" "restore --include '*/sub/*.n?i'"
