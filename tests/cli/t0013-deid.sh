#!/bin/bash
# t0013-deid: 'strata deid' turns an identified version into a curated,
# class deid version with lineage and a recipe; DICOM outputs pass dcmdump
# and pydicom with nothing identifying left and pixel data byte-identical
# (and shared with the source in the store); genomic headers are scrubbed
# and stay valid for samtools and bcftools; files that may carry burned-in
# text or cannot be de-identified are held back and named; runs are
# consistent; the same subjects are linked, so withdrawal reaches the
# curated files; a curated version may leave for the cloud zone.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

init_repo
mkdir -p "$WORK/src/img" "$WORK/src/gen"
cp "$TESTDATA"/dicom/MR_small.dcm "$TESTDATA"/dicom/CT1_UNC.implicit_little_endian.dcm \
   "$TESTDATA"/dicom/rtstruct.dcm "$TESTDATA"/dicom/US1_J2KR.dcm "$WORK/src/img/"
cp "$TESTDATA"/bam/range.bam "$TESTDATA"/vcf/test.vcf.gz "$WORK/src/gen/"
echo "free text about the patient" >"$WORK/src/notes.txt"
ok -q -R "$REPO" ingest "$WORK/src" --dataset raw

expect 3 -R "$REPO" deid raw --dataset cur --json
json_check "$OUT" 'j["dicom"] == 3 and j["genomic"] == 2 and j["held_back"] == 2' "3 DICOM + 2 genomic, 2 held back"
json_check "$OUT" 'sorted(f["path"] for f in j["files"]) == ["src/img/US1_J2KR.dcm", "src/notes.txt"]' "held-back files named"
json_check "$OUT" 'any("burned" in f["why"].lower() or "US" in f["why"] for f in j["files"] if f["path"].endswith(".dcm"))' "reason for the ultrasound"
json_check "$OUT" '"profile=basic" in j["recipe"] and "standard=PS3.15-2024b" in j["recipe"] and "key=v1" in j["recipe"]' "recipe"

ok -R "$REPO" show cur --json
json_check "$OUT" 'j["layer"] == "curated" and j["class"] == "deid" and j["sources"] == ["raw@v1"]' "curated, deid, lineage"
ok -R "$REPO" ls cur --json
json_check "$OUT" 'not any(e["path"] in ("src/notes.txt", "src/img/US1_J2KR.dcm") for e in j)' "held back files are not in the version"

# --- DICOM: independent readers ---------------------------------------------------------------
ok -R "$REPO" restore cur "$WORK/out" -q
for f in "$WORK"/out/src/img/*.dcm; do
    dcmdump -q "$f" >"$WORK/dump.txt" 2>&1 || die "dcmdump rejects $(basename "$f")"
    grep -q '^E:' "$WORK/dump.txt" && die "dcmdump errors on $(basename "$f")"
done
$PY - "$WORK/src/img" "$WORK/out/src/img" <<'EOF' || die "pydicom check failed"
import os, sys, pydicom
src, out = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(out)):
    a = pydicom.dcmread(os.path.join(src, name), force=True)
    b = pydicom.dcmread(os.path.join(out, name))
    assert b.PatientIdentityRemoved == "YES", name
    assert b.file_meta.MediaStorageSOPInstanceUID == b.SOPInstanceUID, name
    assert b.SOPInstanceUID != a.SOPInstanceUID and b.SOPInstanceUID.startswith("2.25."), name
    assert str(b.PatientID).startswith("sub-"), (name, b.PatientID)
    if "PatientName" in a and str(a.PatientName):
        assert str(a.PatientName) not in str(b.PatientName), name
    if "PixelData" in a:
        assert a.PixelData == b.PixelData, name + ": pixel data changed"
    seen = set()
    def walk(ds):
        for el in ds:
            if el.VR == "SQ":
                for it in el.value: walk(it)
            elif el.VR in ("PN", "DA") and el.value:
                seen.add(str(el.value))
    walk(b)
    orig = set()
    def walk_a(ds):
        for el in ds:
            if el.VR == "SQ":
                for it in el.value: walk_a(it)
            elif el.VR in ("PN", "DA") and el.value:
                orig.add(str(el.value))
    walk_a(a)
    left = (seen & orig) - {""}
    assert not left, (name, left)
print("pydicom ok")
EOF

# pixel data is shared with the source: the big CT's curated copy adds little
ok -q -R "$REPO" ingest "$WORK/src/img/CT1_UNC.implicit_little_endian.dcm" --dataset ct
ok -R "$REPO" deid ct --dataset ct-cur --json
json_check "$OUT" 'j["bytes_new"] < 0.2 * j["bytes_total"]' "curated CT shares its pixel chunks with the source"
# ... stored under the source's chunk ids without hashing them again: every
# blob must still match its id, and each file its recorded SHA-256
ok -R "$REPO" check --read-data
ok -R "$REPO" restore ct-cur "$WORK/ctout" -q
ok -R "$REPO" ls ct-cur --json
$PY - "$OUT" "$WORK/ctout" <<'EOF' || die "a curated file does not match its recorded SHA-256"
import hashlib, json, os, sys
n = 0
for e in json.load(open(sys.argv[1])):
    if e["type"] == "file":
        data = open(os.path.join(sys.argv[2], e["path"]), "rb").read()
        assert hashlib.sha256(data).hexdigest() == e["sha256"], e["path"]
        n += 1
assert n == 1, n
EOF

# --- genomic headers --------------------------------------------------------------------------
sm=$(samtools view -H "$WORK/src/gen/range.bam" | sed -n 's/.*\tSM:\([^\t]*\).*/\1/p' | head -1)
[ -n "$sm" ] || die "no SM in the sample BAM"
samtools quickcheck "$WORK/out/src/gen/range.bam" || die "samtools rejects the curated BAM"
samtools view -H "$WORK/out/src/gen/range.bam" >"$WORK/h.txt"
assert_file_lacks "$WORK/h.txt" "SM:$sm" "the BAM's sample name is gone"
assert_file_contains "$WORK/h.txt" 'SM:sub-' "replaced by a pseudonym"
assert_eq "$(samtools view -c "$WORK/out/src/gen/range.bam")" "$(samtools view -c "$WORK/src/gen/range.bam")" "records kept"
bcftools query -l "$WORK/out/src/gen/test.vcf.gz" >"$WORK/samples.txt" || die "bcftools rejects the curated VCF"
bcftools query -l "$WORK/src/gen/test.vcf.gz" | head -1 >"$WORK/first.txt"
assert_file_lacks "$WORK/samples.txt" "^$(cat "$WORK/first.txt")\$" "VCF sample names replaced"
assert_eq "$(bcftools view -H "$WORK/out/src/gen/test.vcf.gz" | md5sum)" \
          "$(bcftools view -H "$WORK/src/gen/test.vcf.gz" | md5sum)" "VCF records unchanged"

# --- consistency: the same input, key and domain give the same output; another domain not ---------
expect 3 -q -R "$REPO" deid raw --dataset cur2
assert_err_contains "held back for review 'src/notes.txt'" "text output names held-back files"
ok -R "$REPO" restore cur2 "$WORK/out2" -q
cmp "$WORK/out/src/img/MR_small.dcm" "$WORK/out2/src/img/MR_small.dcm" || die "two runs differ"
expect 3 -q -R "$REPO" deid raw --dataset cur3 --domain trial-42
ok -R "$REPO" restore cur3 "$WORK/out3" -q
$PY - "$WORK/out/src/img/MR_small.dcm" "$WORK/out3/src/img/MR_small.dcm" <<'EOF' || die "domains must give unrelated UIDs"
import sys, pydicom
a, b = (pydicom.dcmread(p) for p in sys.argv[1:3])
assert a.StudyInstanceUID != b.StudyInstanceUID
EOF

# --- the proof: an identifier the profile keeps (here hidden in Manufacturer, which
# the Basic Profile keeps) makes the derive fail and say where --------------------------------
mkdir -p "$WORK/leak"
$PY - "$TESTDATA/dicom/MR_small.dcm" "$WORK/leak/leaky.dcm" <<'EOF'
import sys, pydicom
d = pydicom.dcmread(sys.argv[1])
d.PatientID = "PAT998877"
d.Manufacturer = "PAT998877"
d.save_as(sys.argv[2])
EOF
ok -q -R "$REPO" ingest "$WORK/leak" --dataset leak
fails -R "$REPO" deid leak --dataset leak-cur
assert_err_contains "left the source's PatientID .* at byte [0-9]+" "a leak is caught and located"
fails -R "$REPO" log leak-cur
assert_err_contains "no dataset 'leak-cur'" "no version made from a leaking derive"

# --- options --------------------------------------------------------------------------------
fails -R "$REPO" deid raw --dataset x --option retain-everything
assert_err_contains "retain-everything" "unknown option named"
expect 3 -q -R "$REPO" deid raw --dataset cur4 --option retain-uids,clean-descriptors
ok -R "$REPO" show cur4 --json
json_check "$OUT" '"retain-uids" in j["recipe"] and "clean-descriptors" in j["recipe"]' "options in the recipe"

# --- the vault: a steward's audited lookup; the shift matches the files ----------------------------
ok -R "$REPO" user add rita --role researcher
STRATA_USER=rita fails -R "$REPO" deid lookup "$sm"
assert_err_contains "denied by role" "researchers cannot re-identify"
mr_pid=$($PY -c 'import sys,pydicom; print(pydicom.dcmread(sys.argv[1]).PatientID)' "$WORK/src/img/MR_small.dcm")
ok -R "$REPO" deid lookup "$mr_pid" --domain longi --json
json_check "$OUT" "j['identifier'] == '$mr_pid' and j['pseudonym'].startswith('sub-') and j['date_shift_days'] < 0" "lookup"
shift=$(json_get "$OUT" 'j["date_shift_days"]')
expect 3 -q -R "$REPO" deid raw --dataset cur-longi --domain longi --option retain-long-modified-dates
ok -R "$REPO" restore cur-longi "$WORK/outl" -q
$PY - "$WORK/src/img/MR_small.dcm" "$WORK/outl/src/img/MR_small.dcm" "$shift" <<'EOF' || die "the date shift of the file is not the vault's"
import sys, datetime, pydicom
a, b = pydicom.dcmread(sys.argv[1]), pydicom.dcmread(sys.argv[2])
d = lambda s: datetime.date(int(s[:4]), int(s[4:6]), int(s[6:8]))
assert (d(b.StudyDate) - d(a.StudyDate)).days == int(sys.argv[3]), (a.StudyDate, b.StudyDate)
EOF
ok -R "$REPO" audit log --json
json_check "$OUT" 'any(r["action"] == "subjects" and r["actor"] != "rita" and r["decision"] == "allow" for r in j)' "the lookup is audited"

# --- subjects: withdrawal reaches the curated files ---------------------------------------------------
ok -R "$REPO" impact "$sm" --json
json_check "$OUT" 'any(i["dataset"] == "cur" and i["path"] == "src/gen/range.bam" for i in j)' "the curated BAM belongs to its subject"
ok -R "$REPO" consent withdraw "$sm"
fails -R "$REPO" cat cur:src/gen/range.bam
assert_err_contains "withdrew consent" "withdrawal blocks the curated file"
ok -R "$REPO" cat cur:src/img/MR_small.dcm >/dev/null

# --- a curated version may leave for the cloud zone ------------------------------------------------
CLOUD=$(new_repo cloud)
STRATA_PASSWORD=cloudpw ok init "$CLOUD" --zone cloud --allow deid,aggregate,public --kdf-memory 8
ok -R "$REPO" remote add cloud "$CLOUD"
ok -R "$REPO" consent set ct-cur GRU
STRATA_REMOTE_PASSWORD=cloudpw ok -R "$REPO" --purpose GRU push ct-cur cloud
STRATA_REMOTE_PASSWORD=cloudpw fails -R "$REPO" --purpose GRU push ct cloud
assert_err_contains "denied by zone" "the identified source may not"

[ "$SOFT_FAILS" = 0 ] || die "$SOFT_FAILS checks failed"
echo "ok [$TEST_NAME]"
