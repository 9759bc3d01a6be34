#!/usr/bin/python3
"""pydicom side of bench/deid.sh (run with Debian's /usr/bin/python3 and python3-pydicom).

  deid_pydicom.py corpus OUT MANIFEST NFILES SEED TESTDATA [keep|strip]
      make the DICOM corpus (not timed): series of CT and MR files built from real headers of
      TESTDATA/dicom, with planted identifiers, distinct UIDs and synthetic 12-bit pixels
      (gen_corpus.dicom_pixels); MANIFEST (JSON): the identifiers planted in each file.
      strip: drop the Data Set Trailing Padding some templates carry after Pixel Data

  deid_pydicom.py deid TABLE SRC DST
      the peer being timed: the PS3.15 Annex E Basic Profile applied with pydicom to every
      file under SRC, written under DST (same relative paths). Actions come from the basicProfile
      column of TABLE (Table E.1-1), compound codes resolved as strata does (docs/deid.md)

  deid_pydicom.py dcmodify-args TABLE
      print dcmodify arguments (one a line, for an @file) built from the same table

  deid_pydicom.py check SRC MANIFEST SAMPLE TOOL=DIR...
      what each tool's output still holds: planted identifiers, private elements, the
      Patient Identity Removed marker, pixel data equal to the source, study UID consistency
"""

import copy
import hashlib
import hmac
import json
import os
import random
import re
import sys

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_corpus  # noqa: E402  (dicom_pixels: the same synthetic pixels as the main corpus)

PIXEL_DATA = 0x7FE00010
# compound codes resolved for the strongest Type, as strata does (docs/deid.md)
COMPOUND = {"X/Z": "Z", "X/D": "D", "X/Z/D": "D", "Z/D": "D", "X/Z/U*": "U"}


def load_table(path):
    """Table E.1-1: ({tag: code}, [(mask, value, code)]) for the Basic Profile."""
    exact, masks = {}, []
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        col = head.index("basicProfile")
        for line in f:
            row = line.rstrip("\n").split("\t")
            m = re.fullmatch(r"\(([0-9A-F]{2}[0-9A-FX]{2}),([0-9A-FX]{4})\)", row[0].strip())
            if not m:  # (GGGG,EEEE) WHERE GGGG IS ODD: private, handled by the walk
                continue
            code = row[col].strip()
            code = COMPOUND.get(code, code)
            t = m.group(1) + m.group(2)
            if "X" in t:
                mask = int("".join("0" if c == "X" else "F" for c in t), 16)
                masks.append((mask, int(t.replace("X", "0"), 16), code))
            else:
                exact[int(t, 16)] = code
    return exact, masks


# ------------------------------------------------------------------ the timed peer

DUMMY = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000D", "IS": "0", "DS": "0",
         "UR": "urn:x-deidentified"}
BINARY = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}
NUMERIC = {"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT"}


class Deid:
    def __init__(self, table, key=b"bench-deid-key-0123456789abcdef"):
        self.exact, self.masks = load_table(table)
        self.key = key
        self.uids = {}

    def uid(self, u):
        r = self.uids.get(u)
        if r is None:
            d = hmac.new(self.key, u.encode(), hashlib.sha256).digest()
            r = self.uids[u] = "2.25.%d" % (int.from_bytes(d[:16], "big") & ((1 << 127) - 1))
        return r

    def code(self, tag):
        c = self.exact.get(tag)
        if c is None and (tag >> 24) in (0x50, 0x60):
            for mask, value, mc in self.masks:
                if tag & mask == value:
                    return mc
        return c

    def remap(self, elem):
        v = elem.value
        if not v:
            return
        if isinstance(v, str):
            elem.value = self.uid(v)
        else:
            elem.value = [self.uid(x) for x in v]

    def dummy(self, elem):
        vr = elem.VR
        if vr == "UI":
            self.remap(elem)
        elif vr in DUMMY:
            elem.value = DUMMY[vr]
        elif vr in BINARY:
            elem.value = bytes(len(elem.value or b""))
        elif vr in NUMERIC:
            elem.value = 0
        else:  # AE CS LO LT PN SH ST UC UT
            elem.value = "DEIDENTIFIED"

    def walk(self, ds):
        for tag in list(ds.keys()):
            if tag.group & 1:  # private attributes (and their creators): X
                del ds[tag]
                continue
            if tag == PIXEL_DATA:
                continue
            code = self.code(tag)
            if code == "X":
                del ds[tag]
                continue
            elem = ds[tag]
            if elem.VR == "SQ":
                if code == "Z":
                    elem.value = Sequence()
                else:  # K, D, U, or not in the table: keep and clean the items
                    for item in elem.value:
                        self.walk(item)
            elif code == "Z":
                elem.value = elem.empty_value
            elif code == "D":
                self.dummy(elem)
            elif code == "U":
                self.remap(elem)

    def file(self, src, dst):
        ds = pydicom.dcmread(src)
        self.walk(ds)
        for tag in list(ds.file_meta.keys()):  # (0002,0016) Source AE Title and the like
            if self.code(tag) == "X":
                del ds.file_meta[tag]
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "pydicom PS3.15 2024b Basic Profile"
        if "SOPInstanceUID" in ds:
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(dst)


def cmd_deid(table, src, dst):
    d = Deid(table)
    n = 0
    for root, dirs, files in os.walk(src):
        dirs.sort()
        out = os.path.join(dst, os.path.relpath(root, src))
        os.makedirs(out, exist_ok=True)
        for name in sorted(files):
            if name.endswith(".dcm"):
                d.file(os.path.join(root, name), os.path.join(out, name))
                n += 1
    print(n)


# ------------------------------------------------------------------ dcmodify arguments

DCMODIFY_DUMMY = dict(DUMMY, AE="DEIDENTIFIED", CS="DEIDENTIFIED", LO="DEIDENTIFIED", LT="DEIDENTIFIED",
                      PN="DEIDENTIFIED", SH="DEIDENTIFIED", ST="DEIDENTIFIED", UC="DEIDENTIFIED",
                      UT="DEIDENTIFIED")


def cmd_dcmodify_args(table):
    """X: -ea; Z: -ma TAG= (a sequence: -ea); D: -ma TAG=dummy by VR (UIDs and binary VRs
    cannot be given a consistent value on the command line: left, as U is); -ep for private
    attributes, -gin for a new SOP Instance UID."""
    exact, masks = load_table(table)
    args = ["-nb", "-q", "-imt", "-ie", "-ep", "-gin"]
    for tag, code in sorted(exact.items()):
        if tag >> 16 in (0x0000, 0x0002):  # command and File Meta groups: dcmodify refuses
            continue
        t = "(%04X,%04X)" % (tag >> 16, tag & 0xFFFF)
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = None
        if code == "X" or (code == "Z" and vr == "SQ"):
            args += ["-ea", t]
        elif code == "Z":
            args += ["-ma", t + "="]
        elif code == "D" and vr in DCMODIFY_DUMMY:
            args += ["-ma", t + "=" + DCMODIFY_DUMMY[vr]]
    for mask, value, code in masks:
        if code == "X" and mask == 0xFF00FFFF:  # 60xx overlay data and comments, each group
            for g in range(0, 0x20, 2):
                args += ["-ea", "(%04X,%04X)" % ((value >> 16) + g, value & 0xFFFF)]
    args += ["-i", "(0012,0062)=YES", "-i", "(0012,0063)=dcmodify_PS3.15_2024b_Basic_Profile_X_Z_D"]
    print("\n".join(args))


# ------------------------------------------------------------------ corpus

CORPUS_VERSION = 2  # bump when the generated files change

# (file in testdata/dicom, rows, columns, frames, weight in files)
TEMPLATES = [
    ("CT_small.dcm", 512, 512, 1, 10),  # explicit VR LE, GE private groups
    ("CT1_UNC.implicit_little_endian.dcm", 512, 512, 1, 8),  # implicit VR LE
    ("MR_small.dcm", 256, 256, 1, 30),
    ("nibabel_siemens_mosaic_0.dcm", 256, 256, 1, 27),  # implicit VR, Siemens CSA headers
    ("0051.dcm", 360, 360, 1, 10),
    ("MR-SIEMENS-DICOM-WithOverlays.dcm", 484, 484, 1, 5),  # overlay planes
    ("emri_small.dcm", 64, 64, 10, 10),  # enhanced MR, per-frame functional groups
]
ROOT = "1.2.826.0.1.3680043.8.498.424242."


def planted(study, series, i):
    """The identifiers one file gets, by kind (searched for in every output)."""
    rng = random.Random("study/%d" % study)
    return {
        "name": ["BENCHPAT^S%05d" % study, "PID%05dQ" % study, "REFDOC^S%05d" % study],
        "date": ["19%02d%02d%02d" % (40 + rng.randrange(50), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                 "2023%02d%02d" % (1 + rng.randrange(12), 1 + rng.randrange(28))],
        "site": ["Bench General Hospital %05d" % study, "ACC%07dZ" % study, "RPID%05dW" % study],
        "uid": [ROOT + "1.%d" % study, ROOT + "2.%d.%d" % (study, series), ROOT + "3.%d.%d.%d" % (study, series, i),
                ROOT + "4.%d" % study],
    }


def make_file(tmpl, rows, cols, frames, study, series, i, pix_label):
    ds = copy.deepcopy(tmpl)
    p = planted(study, series, i)
    name, pid, ref = p["name"]
    birth, sdate = p["date"]
    inst, acc, rpid = p["site"]
    st_uid, se_uid, sop_uid, for_uid = p["uid"]
    ds.PatientName, ds.PatientID, ds.ReferringPhysicianName = name, pid, ref
    ds.PatientBirthDate, ds.PatientSex, ds.PatientAge = birth, "O", "055Y"
    ds.OperatorsName = "TECH^S%05d" % study
    ds.InstitutionName, ds.InstitutionAddress = inst, "1 Bench Road, Room %d" % study
    ds.AccessionNumber, ds.StudyID = acc, "S%d" % study
    for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        setattr(ds, kw, sdate)
    ds.StudyDescription = "BENCH STUDY %d" % study
    ds.SeriesDescription = "bench series %d" % series
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = st_uid, se_uid, sop_uid
    ds.FrameOfReferenceUID = for_uid
    ds.SeriesNumber, ds.InstanceNumber = series, i + 1
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    req = Dataset()
    req.RequestedProcedureID, req.ScheduledProcedureStepID = rpid, "SPS%d" % study
    req.RequestedProcedureDescription = "BENCH REQUEST %d" % study
    ref_study = Dataset()
    ref_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref_study.ReferencedSOPInstanceUID = st_uid
    req.ReferencedStudySequence = Sequence([ref_study])
    ds.RequestAttributesSequence = Sequence([req])
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = gen_corpus.dicom_pixels(pix_label, i, cols, rows * frames)
    ds["PixelData"].VR = "OW"
    return ds, p


def load_template(testdata, name, trailing):
    ds = pydicom.dcmread(os.path.join(testdata, "dicom", name), force=True)
    if ds.file_meta.TransferSyntaxUID not in (pydicom.uid.ImplicitVRLittleEndian, ExplicitVRLittleEndian):
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.is_implicit_VR = ds.file_meta.TransferSyntaxUID == pydicom.uid.ImplicitVRLittleEndian
    ds.is_little_endian = True
    # a source not yet de-identified: no markers (gdcmanon refuses files that have them)
    for kw in ("PixelData", "LargestImagePixelValue", "SmallestImagePixelValue", "PatientIdentityRemoved",
               "DeidentificationMethod", "DeidentificationMethodCodeSequence", "EncryptedAttributesSequence"):
        if kw in ds:
            del ds[kw]
    if trailing == "strip" and 0xFFFCFFFC in ds:
        del ds[0xFFFCFFFC]
    return ds


def cmd_corpus(out, manifest_path, nfiles, seed, testdata, trailing="keep"):
    tmpls = [(load_template(testdata, n, trailing), r, c, f, w) for n, r, c, f, w in TEMPLATES]
    # elements after Pixel Data (the Data Set Trailing Padding of CT_small, CT1_UNC, MR_small)
    after = {id(t[0]): any(tag > PIXEL_DATA for tag in t[0].keys()) for t in tmpls}
    rng = random.Random("deid-corpus/%s" % seed)
    manifest, done, study = {}, 0, 0
    while done < nfiles:
        study += 1
        for series in range(1, rng.randint(1, 4) + 1):
            tmpl, rows, cols, frames, _ = rng.choices(tmpls, [t[4] for t in tmpls])[0]
            count = min(rng.randint(10, 80) if frames == 1 else rng.randint(2, 8), nfiles - done)
            if count <= 0:
                break
            d = "STUDY%05d/SERIES%03d" % (study, series)
            os.makedirs(os.path.join(out, d), exist_ok=True)
            for i in range(count):
                ds, p = make_file(tmpl, rows, cols, frames, study, series, i, "deid/%s/%d/%d" % (seed, study, series))
                rel = "%s/IM%06d.dcm" % (d, i + 1)
                ds.save_as(os.path.join(out, rel), write_like_original=False)
                manifest[rel] = {"study": study, "planted": p, "after_pixels": after[id(tmpl)]}
            done += count
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)


# ------------------------------------------------------------------ check


def header(path):
    with open(path, "rb") as f:
        data = f.read()
    pos = data.rfind(b"\xe0\x7f\x10\x00")
    return data[:pos] if pos > 0 else data


def cmd_check(src, manifest_path, sample, tools):
    with open(manifest_path) as f:
        manifest = json.load(f)
    rels = sorted(manifest)
    step = max(1, len(rels) // sample)
    rels = rels[::step]
    kinds = ("name", "date", "site", "uid")
    print("what the outputs hold (%d of %d files checked; counts of files unless said)" % (len(rels), len(manifest)))
    print("%-10s %6s %6s %6s %6s %6s %9s %7s %9s %7s %8s" % (
        "output", "files", "names", "dates", "site", "UIDs", "private", "no-PIR", "pix-diff", "unread", "split"))
    for spec in tools:
        tool, out = spec.split("=", 1)
        leak = {k: 0 for k in kinds}
        priv = nopir = pixdiff = unread = missing = 0
        study_uids = {}
        for rel in rels:
            path = os.path.join(out, rel)
            if not os.path.exists(path):
                missing += 1
                continue
            h = header(path)
            for k in kinds:
                if any(v.encode() in h for v in manifest[rel]["planted"][k]):
                    leak[k] += 1
            try:
                ds = pydicom.dcmread(path)
                priv += sum(1 for e in ds.iterall() if e.tag.is_private)
                nopir += ds.get("PatientIdentityRemoved", "") != "YES"
                a = pydicom.dcmread(os.path.join(src, rel))
                pixdiff += getattr(ds, "PixelData", None) != getattr(a, "PixelData", None)
                study_uids.setdefault(manifest[rel]["study"], set()).add(str(ds.get("StudyInstanceUID", "")))
            except Exception:
                unread += 1
        split = sum(1 for s in study_uids.values() if len(s) > 1)
        print("%-10s %6d %6d %6d %6d %6d %9d %7d %9d %7d %8d%s" % (
            tool, len(rels), leak["name"], leak["date"], leak["site"], leak["uid"], priv, nopir, pixdiff, unread,
            split, "   (%d missing)" % missing if missing else ""))
    print("names/dates/site/UIDs: files whose header still holds a planted patient name or ID, birth or study")
    print("date, institution, accession or request ID, or original study/series/instance/frame UID;")
    print("private: private elements left (all files checked); no-PIR: Patient Identity Removed not YES;")
    print("pix-diff: Pixel Data differs from the source; split: studies whose files got >1 Study Instance UID")


def main():
    a = sys.argv[1:]
    if a[:1] == ["corpus"] and len(a) in (6, 7) and a[6:] in ([], ["keep"], ["strip"]):
        cmd_corpus(a[1], a[2], int(a[3]), a[4], a[5], *a[6:])
    elif a[:1] == ["deid"] and len(a) == 4:
        cmd_deid(a[1], a[2], a[3])
    elif a[:1] == ["dcmodify-args"] and len(a) == 2:
        cmd_dcmodify_args(a[1])
    elif a[:1] == ["check"] and len(a) >= 5:
        cmd_check(a[1], a[2], int(a[3]), a[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
