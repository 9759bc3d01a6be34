#!/bin/bash
# golden_nifti.sh - compare what strata's NIfTI reader extracts with
# nifti_tool (Debian nifti-bin) for every .nii/.nii.gz in
# $STRATA_TESTDATA/nifti: dims, datatype, bitpix, pixdim, qform/sform codes
# and descrip. Byte-swapped headers are compared through -disp_nim, since
# -disp_hdr prints their raw, unswapped fields.
set -eu

: "${STRATA:?set STRATA to the strata binary}"
TESTDATA=${STRATA_TESTDATA:-../../../shared/testdata}
command -v nifti_tool >/dev/null || { echo "nifti_tool not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for f in "$TESTDATA"/nifti/*.nii "$TESTDATA"/nifti/*.nii.gz; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	"$STRATA" debug meta "$f" --json >"$tmp/meta.json"
	nifti_tool -disp_hdr -infiles "$f" >"$tmp/hdr.txt"
	nifti_tool -disp_nim -infiles "$f" >"$tmp/nim.txt"
	python3 - "$f" "$tmp/meta.json" "$tmp/hdr.txt" "$tmp/nim.txt" <<'EOF'
import json, re, sys

path, meta, hdr_txt, nim_txt = sys.argv[1:5]

def fields(fn):
    out = {}
    for line in open(fn, encoding='latin-1'):
        m = re.match(r'^  (\w+)\s+(\d+)\s+(\d+)\s?(.*)$', line)
        if m:
            out[m.group(1)] = m.group(4).strip()
    return out

hdr, nim = fields(hdr_txt), fields(nim_txt)
rec = json.load(open(meta))[0]
if rec['error']:
    sys.exit(f'{path}: strata failed: {rec["error"]}')
a = rec['attrs']
swapped = hdr['sizeof_hdr'] not in ('348', '540')
src = nim if swapped else hdr
names = {1: 'binary', 2: 'uint8', 4: 'int16', 8: 'int32', 16: 'float32',
         32: 'complex64', 64: 'float64', 128: 'rgb24', 256: 'int8',
         512: 'uint16', 768: 'uint32', 1024: 'int64', 1280: 'uint64',
         1536: 'float128', 1792: 'complex128', 2048: 'complex256',
         2304: 'rgba32'}
bad = []

def check(what, ours, theirs):
    ok = (abs(ours - theirs) <= 1e-5 * max(1, abs(theirs))
          if isinstance(theirs, float) else ours == theirs)
    if not ok:
        bad.append(f'{what}: strata {ours!r}, nifti_tool {theirs!r}')

dim = [int(x) for x in src['dim'].split()]
pixdim = [float(x) for x in src['pixdim'].split()]
nd = dim[0]
check('ndim', a.get('nifti.ndim'), nd)
check('dim', a.get('nifti.dim'), 'x'.join(str(d) for d in dim[1:nd + 1]))
for i in range(1, nd + 1):
    check(f'dim{i}', a.get(f'nifti.dim{i}'), dim[i])
check('datatype', a.get('nifti.datatype'), names.get(int(src['datatype'])))
if not swapped:
    check('bitpix', a.get('nifti.bitpix'), int(hdr['bitpix']))
for i in range(1, min(nd, 3) + 1):
    check(f'pixdim{i}', a.get(f'nifti.pixdim{i}'), pixdim[i])
check('qform_code', a.get('nifti.qform_code'), int(src['qform_code']))
check('sform_code', a.get('nifti.sform_code'), int(src['sform_code']))
check('descrip', a.get('nifti.description', ''), hdr['descrip'].rstrip())
check('version', a.get('nifti.version'), 2 if 'n+2' in hdr.get('magic', '') else 1)
if bad:
    sys.exit(f'{path}:\n  ' + '\n  '.join(bad))
print(f'ok {path}: {a["nifti.dim"]} {a["nifti.datatype"]}'
      f' q{a["nifti.qform_code"]}/s{a["nifti.sform_code"]}'
      + (' (byte-swapped)' if swapped else ''))
EOF
done
[ "$n" -gt 0 ] || { echo "no nifti files under $TESTDATA/nifti"; exit 1; }
echo "$n passed, 0 failed"
