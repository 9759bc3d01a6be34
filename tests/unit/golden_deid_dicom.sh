#!/bin/bash
# golden_deid_dicom.sh - independent check of the DICOM de-identifier: the
# test binary writes every output (basic profile, and clean-pixel-data +
# retain-safe-private + retain-long-modified-dates), then dcmdump (dcmtk)
# must parse each without errors and pydicom must read each and find
# PatientIdentityRemoved YES, the input's pixel data unchanged and no
# person name, date or time value of the input left.
# usage: golden_deid_dicom.sh TEST_DEID_DICOM   (exit 77: tools missing)
set -euo pipefail
bin=$1
command -v dcmdump >/dev/null || { echo "skip: dcmdump (dcmtk) missing"; exit 77; }
/usr/bin/python3 -c 'import pydicom' 2>/dev/null ||
	{ echo "skip: python3-pydicom missing"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin" --write "$out"

fail=0
n=0
while IFS=$'\t' read -r name src path off len opts; do
	case $path in
	held) continue ;;
	error)
		# only files the tools reject too may fail
		if dcmdump -q "$src" >/dev/null 2>&1; then
			echo "FAIL $name: strata rejects it, dcmdump reads it: $off"
			fail=1
		fi
		continue ;;
	esac
	n=$((n + 1))
	log=$(dcmdump -q "$path" 2>&1) || { echo "FAIL $name: dcmdump exit $?"; echo "$log"; fail=1; }
	if grep -q '^E:' <<<"$log"; then
		echo "FAIL $name: dcmdump errors"; grep '^E:' <<<"$log"; fail=1
	fi
done <"$out/manifest.tsv"
[ "$n" -ge 20 ] || { echo "FAIL: only $n outputs"; fail=1; }

/usr/bin/python3 - "$out/manifest.tsv" <<'EOF' || fail=1
import sys, gzip, io
import pydicom
from pydicom.dataset import Dataset

def load(path):
    data = open(path, 'rb').read()
    if path.endswith('.gz'):
        data = gzip.decompress(data)
    return pydicom.dcmread(io.BytesIO(data), force=True)

def values(ds, vrs, acc):
    for el in ds:
        if el.VR == 'SQ':
            for item in el.value:
                values(item, vrs, acc)
        elif el.VR in vrs and el.value not in (None, '', b''):
            vals = el.value if isinstance(el.value, (list, pydicom.multival.MultiValue)) else [el.value]
            for v in vals:
                s = str(v).strip()
                if len(s) >= 4:
                    acc.add((s, el.tag))
    return acc

bad = 0
checked = 0
for line in open(sys.argv[1]):
    f = line.rstrip('\n').split('\t')
    if f[2] in ('held', 'error'):
        continue
    name, src, path, off, length, opts = f[0], f[1], f[2], int(f[3]), int(f[4]), int(f[5])
    try:
        ds = pydicom.dcmread(path)
        orig = load(src)
    except Exception as e:
        print(f"FAIL {name}: pydicom cannot read: {e}")
        bad += 1
        continue
    if ds.get('PatientIdentityRemoved') != 'YES':
        print(f"FAIL {name}: PatientIdentityRemoved = {ds.get('PatientIdentityRemoved')!r}")
        bad += 1
    if ds.file_meta.MediaStorageSOPInstanceUID != ds.SOPInstanceUID:
        print(f"FAIL {name}: (0002,0003) != (0008,0018)")
        bad += 1
    if 'PixelData' in orig:
        if ds.PixelData != orig.PixelData:
            print(f"FAIL {name}: pixel data differs")
            bad += 1
        raw = open(path, 'rb').read()
        if raw[off:off + len(orig.PixelData)] != orig.PixelData and \
           not orig.PixelData.startswith(raw[off:off + 8]):
            print(f"FAIL {name}: reported pixel offset {off} is wrong")
            bad += 1
    keep_times = opts & (1 << 6)
    vrs = {'PN', 'DA', 'DT'} | (set() if keep_times else {'TM'})
    before = {v for v, _ in values(orig, vrs, set())}
    for v, tag in values(ds, vrs, set()):
        if v in before and v != str(ds.PatientName):
            print(f"FAIL {name}: input value {v!r} left in {tag}")
            bad += 1
    checked += 1
print(f"pydicom: {checked} outputs checked, {bad} failures")
sys.exit(1 if bad or checked < 20 else 0)
EOF
[ "$fail" = 0 ] && echo "golden deid: $n outputs parsed by dcmdump and pydicom"
exit "$fail"
