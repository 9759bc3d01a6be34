#!/bin/sh
# demo.sh - strata's main job on its embedded default (a local directory
# repository with its SQLite catalog): ingest real sample files that
# Debian packages ship (pydicom's DICOM test files, htslib's SAM/BAM/CRAM/
# VCF tests), list and compare versions, restore byte-exact, verify.
set -eu
STRATA=${STRATA:-build/release/strata}
WORK=${DEMO_DIR:-$(mktemp -d /tmp/strata-demo.XXXXXX)}
DICOM=/usr/lib/python3/dist-packages/pydicom/data/test_files
HTS=/usr/share/htslib-test/test
export STRATA_PASSWORD=${STRATA_PASSWORD:-demo-password}
export STRATA_REPO="$WORK/repo"
say() { printf '\n== %s\n' "$*"; }

mkdir -p "$WORK/run1"
cp -r "$DICOM" "$WORK/run1/dicom"
mkdir -p "$WORK/run1/genomics"
cp "$HTS"/*.bam "$HTS"/*.cram "$HTS"/*.vcf "$HTS"/*.fa "$WORK/run1/genomics/" 2>/dev/null || true

say "strata init $STRATA_REPO"
"$STRATA" init "$STRATA_REPO"
say "ingest: DICOM and genomics sample files as dataset 'demo'"
"$STRATA" ingest "$WORK/run1" --dataset demo -m "first run" -q
say "a second version: one file changed, one added"
printf 'qc: pass\n' >"$WORK/run1/genomics/qc.txt"
printf 'x' >>"$WORK/run1/dicom/CT_small.dcm"
"$STRATA" ingest "$WORK/run1" --dataset demo -m "qc added" -q
say "datasets"
"$STRATA" datasets
say "log demo"
"$STRATA" log demo
say "diff demo@v1 demo@v2"
"$STRATA" diff demo@v1 demo@v2
say "ls demo@v2 run1/genomics (first lines)"
"$STRATA" ls demo@v2 run1/genomics | head -5
say "restore demo@v2 and compare with sha256sum"
"$STRATA" restore demo@v2 "$WORK/restored" -q
(cd "$WORK" && find run1 -type f -print0 | sort -z | xargs -0 sha256sum) >"$WORK/orig.sum"
(cd "$WORK/restored" && find run1 -type f -print0 | sort -z | xargs -0 sha256sum) >"$WORK/rest.sum"
cmp "$WORK/orig.sum" "$WORK/rest.sum"
echo "restored $(wc -l <"$WORK/rest.sum") files byte-exact"
say "find: MR images in the catalog"
"$STRATA" find 'dicom.Modality = MR' | head -3
say "governance: a researcher may not read identified (phi) data"
"$STRATA" user add rita --role researcher
STRATA_USER=rita "$STRATA" ls demo 2>&1 | head -1 || true
say "consent: demo is for health/medical research, non-commercial"
"$STRATA" consent set demo HMB NCU
"$STRATA" --purpose HMB,commercial ls demo 2>&1 | head -1 || true
"$STRATA" --purpose HMB ls demo run1/genomics | head -2
say "deid: a curated, de-identified version (held-back files are listed)"
"$STRATA" --purpose HMB deid demo --dataset demo-deid -q 2>"$WORK/deid.err" || [ $? -eq 3 ]
head -3 "$WORK/deid.err"
"$STRATA" lineage demo-deid
say "audit: every decision above is in the signed, hash-chained log"
"$STRATA" audit log | tail -3
"$STRATA" audit verify
say "check --read-data"
"$STRATA" check --read-data
say "demo done: repository in $STRATA_REPO"
