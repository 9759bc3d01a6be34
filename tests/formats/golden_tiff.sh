#!/bin/bash
# golden_tiff.sh - compare what strata's TIFF reader extracts with tiffinfo
# (libtiff-tools) for every .tif/.tiff/.svs in $STRATA_TESTDATA/wsi:
# directory count, level-0 width/length, tile size, compression, the
# pyramid levels, Aperio AppMag/MPP from the ImageDescription tiffinfo
# prints, and OME SizeX..SizeT/DimensionOrder/Type from its OME-XML (parsed
# with python3's XML parser).
set -eu

: "${STRATA:?set STRATA to the strata binary}"
TESTDATA=${STRATA_TESTDATA:-../../../shared/testdata}
command -v tiffinfo >/dev/null || { echo "tiffinfo not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for f in "$TESTDATA"/wsi/*.tif "$TESTDATA"/wsi/*.tiff "$TESTDATA"/wsi/*.svs; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	"$STRATA" debug meta "$f" --json >"$tmp/meta.json"
	tiffinfo "$f" >"$tmp/info.txt" 2>/dev/null
	python3 - "$f" "$tmp/meta.json" "$tmp/info.txt" <<'EOF'
import json, re, sys
import xml.etree.ElementTree as ET

path, meta, info_txt = sys.argv[1:4]
info = open(info_txt, encoding='latin-1').read()
rec = json.load(open(meta))[0]
if rec['error']:
    sys.exit(f'{path}: strata failed: {rec["error"]}')
a = rec['attrs']
dirs = re.split(r'^=== TIFF directory \d+ ===$', info, flags=re.M)[1:]
if not dirs:
    dirs = re.split(r'^TIFF Directory at offset', info, flags=re.M)[1:]
bad = []

def check(what, ours, theirs):
    ok = (ours is not None and abs(ours - theirs) <= 1e-9 * max(1, abs(theirs))
          if isinstance(theirs, float) else ours == theirs)
    if not ok:
        bad.append(f'{what}: strata {ours!r}, tiffinfo {theirs!r}')

def field(d, pat):
    m = re.search(pat, d)
    return m.group(1) if m else None

comp = {'None': 'none', 'LZW': 'lzw', 'JPEG': 'jpeg', 'AdobeDeflate': 'deflate',
        'Deflate': 'deflate', 'PackBits': 'packbits', 'ZSTD': 'zstd',
        'LZMA': 'lzma', 'WEBP': 'webp', '33003': 'jpeg2000-aperio-ycbcr',
        '33005': 'jpeg2000-aperio-rgb', '34712': 'jpeg2000'}
d0 = dirs[0]
check('directories', a.get('wsi.directories'), len(dirs))
check('width', a.get('wsi.width'), int(field(d0, r'Image Width: (\d+)')))
check('height', a.get('wsi.height'), int(field(d0, r'Image Length: (\d+)')))
tw = field(d0, r'Tile Width: (\d+)')
check('tile_width', a.get('wsi.tile_width'), int(tw) if tw else None)
th = field(d0, r'Tile Length: (\d+)')
check('tile_height', a.get('wsi.tile_height'), int(th) if th else None)
c = field(d0, r'Compression Scheme: (\S+)')
check('compression', a.get('wsi.compression'), comp.get(c, c))
check('samples_per_pixel', a.get('wsi.samples_per_pixel'),
      int(field(d0, r'Samples/Pixel: (\d+)') or 1))

# the level rule of docs/metadata-imaging.md, applied to tiffinfo's view
aperio = 'ImageDescription: Aperio' in d0
levels = []
for d in dirs:
    w, h = int(field(d, r'Image Width: (\d+)')), int(field(d, r'Image Length: (\d+)'))
    if levels:
        pw, ph = levels[-1]
        if ('Tile Width:' not in d or w > pw or h > ph or (w, h) == (pw, ph)
                or (aperio and re.search(r'\n(label|macro) ', d))
                or re.search(r'Subfile Type: .*\((\d+) =', d) and
                int(re.search(r'Subfile Type: .*\((\d+) =', d).group(1)) & 4):
            continue
    levels.append((w, h))
if 'SubIFD' in d0:
    print(f'note {path}: levels in SubIFDs, which tiffinfo does not list')
else:
    check('levels', a.get('wsi.levels'), len(levels))
    check('level_dims', a.get('wsi.level_dims'),
          ','.join(f'{w}x{h}' for w, h in levels))

vendor = 'generic-tiff'
if aperio:
    vendor = 'aperio'
    check('magnification', a.get('wsi.magnification'),
          float(field(d0, r'AppMag = ([\d.]+)')))
    check('mpp', a.get('wsi.mpp'), float(field(d0, r'MPP = ([\d.]+)')))
m = re.search(r'<(\w+:)?OME[\s>].*?</(\w+:)?OME>', d0, re.S)
if m:
    vendor = 'ome'
    root = ET.fromstring(m.group(0))
    px = next(e for e in root.iter() if e.tag.split('}')[-1] == 'Pixels')
    for k in ('SizeX', 'SizeY', 'SizeZ', 'SizeC', 'SizeT'):
        check(k, a.get('ome.size_' + k[-1].lower()), int(px.get(k)))
    check('DimensionOrder', a.get('ome.dimension_order'), px.get('DimensionOrder'))
    check('Type', a.get('ome.pixel_type'), px.get('Type'))
    names = [ch.get('Name') for ch in px if ch.tag.split('}')[-1] == 'Channel'
             and ch.get('Name') is not None]
    check('channels', a.get('ome.channels'), ','.join(names) if names else None)
check('vendor', a.get('wsi.vendor'), vendor)
if bad:
    sys.exit(f'{path}:\n  ' + '\n  '.join(bad))
print(f'ok {path}: {vendor} {a["wsi.width"]}x{a["wsi.height"]}'
      f' levels {a["wsi.level_dims"]} dirs {len(dirs)}')
EOF
done
[ "$n" -gt 0 ] || { echo "no tiff files under $TESTDATA/wsi"; exit 1; }
echo "$n passed, 0 failed"
