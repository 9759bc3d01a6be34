#!/bin/bash
# golden_hts.sh - compare what strata's SAM/BAM/CRAM/VCF/BCF reader
# extracts ('strata debug meta FILE --json') with samtools and bcftools run
# on the same files: @SQ count, total length and dictionary fingerprint,
# @RG count, samples, platform, libraries, centres, sort order, @PG
# programs, CRAM version (from the file's own bytes); VCF version, sample
# names and count, contig count, ##reference, ##source, variant count from
# 'bcftools index -n'. Exit 77 (skip) when samtools or bcftools is missing.
set -eu

: "${STRATA:?set STRATA to the strata binary}"
TESTDATA=${STRATA_TESTDATA:-../../../shared/testdata}
command -v samtools >/dev/null || { echo "samtools not installed"; exit 77; }
command -v bcftools >/dev/null || { echo "bcftools not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }

# The oracles must not fetch CRAM references either (header only).
export REF_PATH=/dev/null/no-ref/%s REF_CACHE=/dev/null/no-ref-cache/%s
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pass=0
fail=0
compare_py='
import json, sys
meta = json.load(open(sys.argv[1]))[0]
want = json.load(open(sys.argv[2]))
name = sys.argv[3]
bad = []
if meta["error"]:
    bad.append("error: %s" % meta["error"])
got = meta["attrs"]
for k, v in want.items():
    if got.get(k) != v:
        bad.append("%s: strata %r, oracle %r" % (k, got.get(k), v))
if bad:
    print("FAIL %s\n  %s" % (name, "\n  ".join(bad)))
    sys.exit(1)
print("ok %s (%d values)" % (name, len(want)))
'
printf '%s' "$compare_py" >"$tmp/compare.py"
check() {
	if python3 "$tmp/compare.py" "$tmp/meta.json" "$tmp/oracle.json" "$1"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
}

sam_oracle_py='
import hashlib, json, sys
hdr = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
path = sys.argv[2]
def tags(line):
    return dict(f.split(":", 1) for f in line.split("\t")[1:] if ":" in f)
sq = [tags(l) for l in hdr if l.startswith("@SQ\t")]
rg = [tags(l) for l in hdr if l.startswith("@RG\t")]
pg = [tags(l) for l in hdr if l.startswith("@PG\t")]
hd = [tags(l) for l in hdr if l.startswith("@HD\t")]
def joined(vals):
    vals = sorted(set(v for v in vals if v is not None))
    return ",".join(vals) if vals else None
w = {"genome.contigs": len(sq)}
if sq:
    w["genome.total_length"] = sum(int(t["LN"]) for t in sq)
    lines = sorted(("%s\t%s\n" % (t["SN"], t["LN"])).encode() for t in sq)
    w["genome.dict_fingerprint"] = hashlib.sha256(b"".join(lines)).hexdigest()
w["seq.read_groups"] = len(rg)
for key, tag in (("seq.samples", "SM"), ("seq.library", "LB"),
                 ("seq.center", "CN")):
    v = joined(t.get(tag) for t in rg)
    if v:
        w[key] = v
if rg and "PL" in rg[0]:
    w["seq.platform"] = rg[0]["PL"].upper()
if rg and "PM" in rg[0]:
    w["seq.platform_model"] = rg[0]["PM"]
progs = joined(t.get("PN", t.get("ID")) for t in pg)
if progs:
    w["seq.programs"] = progs
if hd and "SO" in hd[0]:
    w["seq.sort_order"] = hd[0]["SO"]
head = open(path, "rb").read(6)
if head[:4] == b"CRAM":
    w["cram.version"] = "%d.%d" % (head[4], head[5])
json.dump(w, open(sys.argv[3], "w"))
'
printf '%s' "$sam_oracle_py" >"$tmp/sam_oracle.py"

vcf_oracle_py='
import json, sys
hdr = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
nrec = sys.argv[2]
w = {}
for l in hdr:
    if l.startswith("##fileformat="):
        w["vcf.version"] = l.split("=", 1)[1]
        break
chrom = [l for l in hdr if l.startswith("#CHROM")][0].split("\t")
samples = chrom[9:]
w["vcf.samples"] = len(samples)
if samples and len(",".join(samples)) <= 4096:
    w["vcf.sample_names"] = ",".join(samples)
ctg = [l for l in hdr if l.startswith("##contig=<")]
w["genome.contigs"] = len(ctg)
lens = [f.split("=", 1)[1] for l in ctg for f in l[10:-1].split(",")
        if f.startswith("length=")]
if ctg and len(lens) == len(ctg):
    w["genome.total_length"] = sum(int(x) for x in lens)
refs = [l.split("=", 1)[1] for l in hdr if l.startswith("##reference=")]
if refs:
    w["vcf.reference"] = refs[0]
src = sorted(set(l.split("=", 1)[1] for l in hdr if l.startswith("##source=")))
if src:
    w["vcf.source"] = ",".join(src)
if nrec != "-":
    w["vcf.variant_count"] = int(nrec)
json.dump(w, open(sys.argv[3], "w"))
'
printf '%s' "$vcf_oracle_py" >"$tmp/vcf_oracle.py"

shopt -s nullglob
for f in "$TESTDATA"/bam/*.bam "$TESTDATA"/bam/*.sam "$TESTDATA"/cram/*.cram \
	"$TESTDATA"/cram/*.sam; do
	samtools view -H --no-PG "$f" >"$tmp/hdr.txt"
	python3 "$tmp/sam_oracle.py" "$tmp/hdr.txt" "$f" "$tmp/oracle.json"
	"$STRATA" debug meta "$f" --json >"$tmp/meta.json"
	check "$f"
done

for f in "$TESTDATA"/vcf/*.vcf "$TESTDATA"/vcf/*.vcf.gz "$TESTDATA"/vcf/*.bcf; do
	bcftools view -h --no-version "$f" >"$tmp/hdr.txt"
	nrec=-
	if [ -e "$f.tbi" ] || [ -e "$f.csi" ]; then
		nrec=$(bcftools index -n "$f" 2>/dev/null)
	fi
	python3 "$tmp/vcf_oracle.py" "$tmp/hdr.txt" "$nrec" "$tmp/oracle.json"
	"$STRATA" debug meta "$f" --json >"$tmp/meta.json"
	check "$f"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
