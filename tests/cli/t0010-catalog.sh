#!/bin/bash
# t0010-catalog: metadata extracted at ingest is queryable with 'find',
# shown with 'show', identifying values are sealed in the catalog file,
# and lineage recorded with --from/--recipe walks both ways.
. "$(dirname "$0")/lib.sh"

init_repo
mkdir -p "$WORK/src/imaging" "$WORK/src/genomics"
cp "$TESTDATA"/dicom/MR_small.dcm "$TESTDATA"/dicom/CT_small.dcm \
   "$TESTDATA"/dicom/MR_small_implicit.dcm "$TESTDATA"/dicom/chrRuss.dcm \
   "$WORK/src/imaging/"
cp "$TESTDATA"/bam/range.bam "$TESTDATA"/vcf/test.vcf.gz "$WORK/src/genomics/"
printf 'not a known format\n' >"$WORK/src/notes.txt"

ok -q -R "$REPO" ingest "$WORK/src" --dataset raw-study --json
json_check "$OUT" 'j["files_with_metadata"] == 6' "6 files have a reader"

# what the readers say, as the oracle for the catalog
ok debug meta "$WORK"/src/imaging/*.dcm --json
cp "$OUT" "$WORK/meta.json"
want_mr=$(json_get "$WORK/meta.json" \
    'sum(1 for f in j if f["attrs"].get("dicom.Modality") == "MR")')
[ "$want_mr" -ge 2 ] || die "expected at least 2 MR files, readers say $want_mr"

ok -R "$REPO" find 'dicom.Modality = MR' --json
json_check "$OUT" "len(j) == $want_mr" "find dicom.Modality = MR"
json_check "$OUT" 'all(h["dataset"] == "raw-study" and h["version"] == 1 and h["path"].startswith("src/imaging/") for h in j)' \
    "hits name dataset, version and path"

ok -R "$REPO" find 'dicom.Modality = CT or dicom.Modality = "MR"' --json
json_check "$OUT" "len(j) == $want_mr + 1" "or / quoted values"
ok -R "$REPO" find 'not dicom.Modality = MR and format.name = dicom' --json
json_check "$OUT" "len(j) == 4 - $want_mr" "not / and"
ok -R "$REPO" find "dicom.Rows >= 64 and (dicom.Rows <= 64 or dicom.Rows > 100000)" --json
want64=$(json_get "$WORK/meta.json" 'sum(1 for f in j if f["attrs"].get("dicom.Rows") == 64)')
json_check "$OUT" "len(j) == $want64" "numeric comparisons"
ok -R "$REPO" find "format.name ~ 'b*'" --json
json_check "$OUT" 'len(j) == 1 and j[0]["path"].endswith("range.bam")' "glob"
ok -R "$REPO" find 'size > 1000000000' --json
json_check "$OUT" 'j == []' "size"

# identifying values: equality works, ranges are refused, nothing in clear
pid=$(json_get "$WORK/meta.json" '[f["attrs"]["dicom.PatientID"] for f in j if f["path"].endswith("CT_small.dcm")][0]')
ok -R "$REPO" find "dicom.PatientID = '$pid'" --json
json_check "$OUT" 'len(j) >= 1 and any(h["path"].endswith("CT_small.dcm") for h in j)' "sealed equality"
expect 2 -R "$REPO" find "dicom.PatientID ~ '*'"
assert_err_contains "encrypted" "glob on a sealed key is refused"
pname=$(json_get "$WORK/meta.json" '[f["attrs"]["dicom.PatientName"] for f in j if f["path"].endswith("CT_small.dcm")][0]')
[ -n "$pname" ] || die "CT_small.dcm has a PatientName"
[ -f "$(state_dir)/catalog.db" ] || die "no catalog at $(state_dir)/catalog.db"
for f in "$(state_dir)"/catalog.db*; do
    if grep -aFq -- "$pname" "$f" || grep -aFq -- "$pid" "$f"; then
        die "patient name or id in clear in $(basename "$f")"
    fi
done

# malformed queries are usage errors naming the problem
expect 2 -R "$REPO" find 'dicom.Modality ='
assert_err_contains "expected a value" "missing value"
expect 2 -R "$REPO" find '(dicom.Modality = MR'
assert_err_contains "expected '\\)'" "unbalanced parenthesis"
expect 2 -R "$REPO" find "dicom.Modality = 'MR"
assert_err_contains "unterminated" "unterminated quote"
# a value that looks like SQL is only ever a bound value
ok -R "$REPO" find "dicom.Modality = \"x' OR 1=1 --\"" --json
json_check "$OUT" 'j == []' "injection attempt matches nothing"

# show: a file's metadata and a version's summary
ok -R "$REPO" show 'raw-study@v1:src/imaging/CT_small.dcm' --json
json_check "$OUT" 'j["metadata"]["dicom.Modality"] == "CT" and j["metadata"]["dicom.PatientName"] != ""' "show file"
ok -R "$REPO" show raw-study --json
json_check "$OUT" "j[\"summary\"][\"dicom.Modality\"].get(\"MR\") == $want_mr and j[\"summary\"][\"format.name\"][\"dicom\"] == 4" "show summary"

# lineage
mkdir -p "$WORK/cur"
cp "$TESTDATA"/dicom/MR_small.dcm "$WORK/cur/"
ok -q -R "$REPO" ingest "$WORK/cur" --dataset curated --layer curated --class deid \
    --from raw-study@v1 --recipe 'tool=deid,version=1'
ok -q -R "$REPO" ingest "$WORK/cur" --dataset model --layer model-ready --class deid \
    --from curated,raw-study@v1
ok -R "$REPO" lineage model --json
json_check "$OUT" 'sorted((e["source"]["dataset"], e["depth"]) for e in j) == [("curated", 1), ("raw-study", 1), ("raw-study", 2)]' "lineage up"
ok -R "$REPO" lineage raw-study@v1 --down --json
json_check "$OUT" 'sorted(e["derived"]["dataset"] for e in j) == ["curated", "model", "model"]' "lineage down"
ok -R "$REPO" lineage curated --dot
assert_file_contains "$OUT" '"raw-study@v1" -> "curated@v1" \[label="tool=deid,version=1"\]' "dot output"
ok -R "$REPO" show curated --json
json_check "$OUT" 'j["sources"] == ["raw-study@v1"] and j["recipe"] == "tool=deid,version=1"' "show sources"
expect 1 -R "$REPO" ingest "$WORK/cur" --dataset x --from nosuch@v1
assert_err_contains "nosuch" "unknown source named"

# a rebuilt catalog keeps lineage (it is in the snapshots)
mv "$(state_dir)/catalog.db" "$WORK/old.db"; rm -f "$(state_dir)"/catalog.db-*
ok -R "$REPO" lineage model --json
json_check "$OUT" 'len(j) == 3' "lineage after catalog rebuild"

# ... and the extracted metadata (it is in the store, FORMAT.md 9a)
ok -R "$REPO" find 'dicom.Modality = MR' --dataset raw-study --json
json_check "$OUT" "len(j) == $want_mr" "metadata after catalog rebuild"
# an unchanged re-ingest carries every file's metadata into the new version
ok -q -R "$REPO" ingest "$WORK/src" --dataset raw-study
ok -q -R "$REPO" ingest "$WORK/src/genomics" --dataset raw-study --update
ok -R "$REPO" find 'dicom.Modality = MR' --dataset raw-study --json
json_check "$OUT" "len(j) == $want_mr and all(h['version'] == 3 for h in j)" \
    "unchanged files keep their metadata in v2 and v3 (--update)"
ok -R "$REPO" find 'genome.build ~ "*"' --dataset raw-study --json
json_check "$OUT" 'len(j) >= 1 and all(h["version"] == 3 for h in j)' "genomics metadata in v3"

# an unchanged re-ingest of the whole version copies its catalog rows (nothing is
# staged): the same files, with the same metadata, under the new version
nsrc=$(find "$WORK/src" -type f | wc -l)
ok -q -R "$REPO" ingest "$WORK/src" --dataset copied
ok -R "$REPO" show 'copied@v1:src/imaging/CT_small.dcm' --json
json_get "$OUT" 'json.dumps(j["metadata"], sort_keys=True)' >"$WORK/copied-v1.meta"
ok -q -R "$REPO" ingest "$WORK/src" --dataset copied --json
json_check "$OUT" "j['version'] == 2 and j['files_unchanged'] == $nsrc" "copied@v2 is unchanged"
assert_file_lacks "$ERR" "catalog|one by one" "an unchanged re-ingest copies the rows without a warning"
ok -R "$REPO" show 'copied@v2:src/imaging/CT_small.dcm' --json
json_get "$OUT" 'json.dumps(j["metadata"], sort_keys=True)' >"$WORK/copied-v2.meta"
cmp -s "$WORK/copied-v1.meta" "$WORK/copied-v2.meta" || die "copied@v2 lost the metadata of v1"
ok -R "$REPO" find 'dicom.Modality = MR' --dataset copied --json
json_check "$OUT" "len(j) == $want_mr and all(h['version'] == 2 for h in j)" "find in copied@v2"
ok -R "$REPO" find 'size >= 0' --dataset copied --json
json_check "$OUT" "len(j) == $nsrc and all(h['version'] == 2 for h in j)" "every file of copied@v2"
# ... but not from a catalog that lost a row of the version: checked against the
# store, refused, and the rows added one by one
python3 - "$(state_dir)/catalog.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("DELETE FROM files WHERE rowid = (SELECT max(rowid) FROM files)")
db.commit()
PY
run_st -q -R "$REPO" ingest "$WORK/src" --dataset copied --json
[ "$RC" = 0 ] || { show_last ingest; die "unchanged re-ingest over a catalog missing a row: exit $RC"; }
assert_err_contains "catalog does not match the store" "the refused copy is reported"
ok -R "$REPO" find 'size >= 0' --dataset copied --json
json_check "$OUT" "len(j) == $nsrc and all(h['version'] == 3 for h in j)" "every file of copied@v3, added one by one"
# the unchanged versions name the previous version's metadata objects in the
# store (nothing re-read, nothing re-written): a catalog rebuilt from the
# store finds every file's metadata under v2 and v3
mv "$(state_dir)/catalog.db" "$WORK/old2.db"; rm -f "$(state_dir)"/catalog.db-*
ok -R "$REPO" show 'copied@v2:src/imaging/CT_small.dcm' --json
json_get "$OUT" 'json.dumps(j["metadata"], sort_keys=True)' >"$WORK/copied-v2r.meta"
cmp -s "$WORK/copied-v1.meta" "$WORK/copied-v2r.meta" || die "copied@v2 lost the metadata of v1 in the store"
ok -R "$REPO" find 'dicom.Modality = MR' --dataset copied --json
json_check "$OUT" "len(j) == $want_mr and all(h['version'] == 3 for h in j)" "copied@v3's metadata after a rebuild"
ok -R "$REPO" check --read-data --json
json_check "$OUT" 'j["ok"] is True' "check after unchanged versions that reuse metadata objects"

# metadata spooled in memory (the default) or in the spool's file
# (STRATA_SPOOL_MEM=0): the same catalog rows either way
# ... and with the rows staged while files are read (the default) or
# added one by one at commit (STRATA_NO_STAGE=1)
STRATA_SPOOL_MEM=0 ok -q -R "$REPO" ingest "$WORK/src" --dataset spilled
STRATA_NO_STAGE=1 ok -q -R "$REPO" ingest "$WORK/src" --dataset unstaged
for ds in spilled unstaged; do
    ok -R "$REPO" find 'dicom.Modality = MR' --dataset $ds --json
    json_check "$OUT" "len(j) == $want_mr" "find after an ingest into $ds"
done
for ds in raw-study spilled unstaged; do
    ok -R "$REPO" show "$ds@v1:src/imaging/CT_small.dcm" --json
    cp "$OUT" "$WORK/show-$ds.json"
done
python3 - "$WORK"/show-{raw-study,spilled,unstaged}.json <<'PY' || die "show differs between the ways of spooling and adding rows"
import json, sys
a, b, c = (json.load(open(p))["metadata"] for p in sys.argv[1:])
assert a and a == b == c, (a, b, c)
PY
