#!/bin/bash
# golden_dicom.sh - checks the DICOM reader against independent tools on
# every DICOM sample file: DCMTK's dcmdump (top-level values, with +U8 for
# names in UTF-8) and pydicom (byte offset of Pixel Data). Env: STRATA =
# the strata binary, STRATA_TESTDATA = the sample files. Exit 77 when
# dcmdump is missing.
set -eu

STRATA=${STRATA:?set STRATA to the strata binary}
TESTDATA=${STRATA_TESTDATA:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/testdata}
command -v dcmdump >/dev/null || { echo "dcmdump not installed: skip"; exit 77; }
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

tmp=$(mktemp -d /tmp/strata-golden-dicom.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

files=()
for f in "$TESTDATA"/dicom/*.dcm "$TESTDATA"/wsi/*.dcm; do
	[ -f "$f" ] && files+=("$f")
done
for gz in "$TESTDATA"/dicom/*.dcm.gz; do
	[ -f "$gz" ] || continue
	out="$tmp/$(basename "$gz" .gz)"
	gunzip -c "$gz" >"$out"
	files+=("$out")
done
[ ${#files[@]} -gt 0 ] || { echo "no dicom test files under $TESTDATA"; exit 1; }

"$STRATA" debug meta "${files[@]}" --json >"$tmp/strata.json" 2>"$tmp/strata.err" || true
for f in "${files[@]}"; do
	d="$tmp/$(basename "$f").dump"
	# +U8 fails on character sets DCMTK lacks: fall back to raw bytes
	dcmdump -q -Un +L +U8 "$f" >"$d" 2>/dev/null ||
		dcmdump -q -Un +L "$f" >"$d" 2>/dev/null || echo "DCMDUMP-FAILED" >>"$d"
done

"$PY" - "$tmp" "${files[@]}" <<'EOF'
import json, os, re, struct, sys, warnings

warnings.simplefilter("ignore")

tmp, files = sys.argv[1], sys.argv[2:]
try:
    import pydicom
except ImportError:
    pydicom = None
    print("note: pydicom not installed: Pixel Data offsets checked by tag only")

with open(os.path.join(tmp, "strata.json")) as fh:
    records = {r["path"]: r for r in json.load(fh)}

KEYS = {
    (0x0002, 0x0010): ("TransferSyntaxUID", "str"),
    (0x0008, 0x0060): ("Modality", "str"),
    (0x0008, 0x0018): ("SOPInstanceUID", "str"),
    (0x0008, 0x0016): ("SOPClassUID", "str"),
    (0x0020, 0x000D): ("StudyInstanceUID", "str"),
    (0x0020, 0x000E): ("SeriesInstanceUID", "str"),
    (0x0010, 0x0010): ("PatientName", "str"),
    (0x0010, 0x0020): ("PatientID", "str"),
    (0x0028, 0x0010): ("Rows", "us"),
    (0x0028, 0x0011): ("Columns", "us"),
    (0x0028, 0x0100): ("BitsAllocated", "us"),
    (0x0028, 0x0008): ("NumberOfFrames", "is"),
}
LINE = re.compile(r"^\(([0-9a-f]{4}),([0-9a-f]{4})\) (\w\w) (.*?)\s+#\s*(?:\d+|u/l),\s*\d+ \S+$")

def parse_dump(path):
    """Top-level elements of a dcmdump listing: {(g,e): (vr, text)}."""
    out, failed = {}, False
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line == "DCMDUMP-FAILED":
                failed = True
            m = LINE.match(line)
            if m:
                key = (int(m.group(1), 16), int(m.group(2), 16))
                out.setdefault(key, (m.group(3), m.group(4)))
    return out, failed

def value(vr, text, kind):
    """The value dcmdump printed, as the type strata records; None = empty."""
    if text.startswith("(no value"):
        return None
    if vr == "UN":  # hex bytes: decode with the dictionary VR
        b = bytes(int(x, 16) for x in text.split("\\") if x and x != "...")
        if kind == "us":
            return struct.unpack("<H", b[:2])[0] if len(b) >= 2 else None
        text = "[" + b.decode("latin-1") + "]"
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.rstrip(" \0")
    if kind == "str":
        text = text.lstrip(" ")
        return text or None
    text = text.strip()
    return int(text) if text else None

def pydicom_offset(path):
    if pydicom is None:
        return None, False
    try:
        ds = pydicom.dcmread(path, force=True, defer_size=1024)
        raw = ds._dict.get(0x7FE00010)
        vt = getattr(raw, "value_tell", None) if raw is not None else None
        if vt is None:
            return None, True
        return vt - (8 if ds.is_implicit_VR else 12), True
    except Exception:
        return None, False

passed = failed = 0
def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)

for f in files:
    name = os.path.basename(f)
    rec = records.get(f)
    check(rec is not None, f"{name}: strata printed no record")
    if rec is None:
        continue
    dump, dfailed = parse_dump(os.path.join(tmp, name + ".dump"))
    attrs = rec["attrs"]
    if dfailed and not dump:
        pyoff, pyok = pydicom_offset(f)
        print(f"note: {name}: dcmdump cannot read it (pydicom: "
              f"{'reads it' if pyok else 'cannot either'}); strata: "
              f"{rec['error'] or 'read it'}")
        if pyok and pyoff is not None:
            check(attrs.get("dicom.PixelDataOffset") == pyoff,
                  f"{name}: pixel data offset vs pydicom {pyoff}")
        continue
    check(rec["error"] is None, f"{name}: strata error {rec['error']}")
    if rec["error"]:
        continue
    check(rec["format"] == "dicom", f"{name}: sniffed as {rec['format']}")
    for tag, (kw, kind) in KEYS.items():
        got = attrs.get("dicom." + kw)
        if tag not in dump:
            check(got is None, f"{name}: {kw}: strata {got!r}, dcmdump has none")
            continue
        want = value(*dump[tag], kind)
        check(got == want, f"{name}: {kw}: strata {got!r}, dcmdump {want!r}")
    has_px = (0x7FE0, 0x0010) in dump
    check(attrs.get("dicom.HasPixelData") == int(has_px),
          f"{name}: HasPixelData {attrs.get('dicom.HasPixelData')}, dcmdump {has_px}")
    deflated = attrs.get("dicom.TransferSyntaxUID") == "1.2.840.10008.1.2.1.99"
    off = attrs.get("dicom.PixelDataOffset")
    if deflated or not has_px:
        check(off is None and rec["cuts"] == [], f"{name}: unexpected offset {off}")
        continue
    cuts = rec["cuts"]
    check(cuts[:1] == [off] and len(cuts) <= 2, f"{name}: cuts {cuts} vs offset {off}")
    if (0xFFFC, 0xFFFC) in dump and not attrs.get("dicom.Encapsulated"):
        check(len(cuts) == 2, f"{name}: trailing padding but no cut after Pixel Data: {cuts}")
    if len(cuts) == 2:
        # the second cut: the end of the pixel data, where a trailer (Data Set
        # Trailing Padding, or another element past 7FE0) starts
        with open(f, "rb") as fh:
            fh.seek(cuts[1])
            t = fh.read(4)
        le, be = t[0] | t[1] << 8, t[1] | t[0] << 8
        check(len(t) == 4 and cuts[1] < os.path.getsize(f) and
              (le >= 0x7FE0 or be >= 0x7FE0),
              f"{name}: second cut {cuts[1]} is not at an element after Pixel Data")
    with open(f, "rb") as fh:
        fh.seek(off)
        tag = fh.read(4)
    check(tag in (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10"),
          f"{name}: no Pixel Data tag at offset {off}")
    pyoff, pyok = pydicom_offset(f)
    if pyoff is not None:
        check(off == pyoff, f"{name}: PixelDataOffset {off}, pydicom {pyoff}")
    elif pyok:
        print(f"note: {name}: pydicom found no Pixel Data offset")

print(f"golden dicom: {len(files)} files")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
