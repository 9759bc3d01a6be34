#!/bin/bash
# deid_hts_golden.sh - check the genomic header scrubber with independent
# tools: every output must pass samtools/bcftools, keep its record count
# and bodies, and lose the identifiers of its input.
# Usage: deid_hts_golden.sh TEST_DEID_HTS (the driver: --scrub IN OUT)
set -u
BIN=$1
TD=${STRATA_TESTDATA:?}
for t in samtools bcftools; do
	command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
# never let samtools fetch a CRAM reference either
export REF_PATH=/dev/null/strata-no-ref/%s REF_CACHE=/dev/null/strata-no-cache/%s
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
ps() { "$BIN" --scrub --pseudonym "$1"; }

scrub() { # in out [driver options]
	local in=$1 out=$2
	shift 2
	"$BIN" --scrub "$in" "$out" "$@" >"$W/report" 2>"$W/err" ||
		{ fail "scrub $in: $(cat "$W/err")"; return 1; }
}

# no_ident HEADERFILE WHAT ID... : none of the identifiers in the header
no_ident() {
	local h=$1 what=$2 id
	shift 2
	for id in "$@"; do
		grep -qiF -- "$id" "$h" && fail "$what: '$id' still in header"
	done
	return 0
}

sam_common() { # in out label ref-opts...
	local in=$1 out=$2 label=$3
	shift 3
	samtools quickcheck "$out" || fail "$label: quickcheck"
	samtools view -H --no-PG "$@" "$out" >"$W/h" || fail "$label: header"
	grep -q '^@CO' "$W/h" && fail "$label: @CO left"
	grep -P '^@PG' "$W/h" | grep -oP '\tCL:[^\t]*' | grep -q '/' &&
		fail "$label: '/' in @PG CL"
	grep -oP '\tUR:[^\t]*' "$W/h" | grep -vq 'UR:\(https\?\|ftp\)://' &&
		fail "$label: local @SQ UR left"
	local a b
	a=$(samtools view -c "$@" "$in") b=$(samtools view -c "$@" "$out")
	[ "$a" = "$b" ] && [ "$a" -gt 0 ] || fail "$label: count $a != $b"
}

# ---- BAM/SAM: bodies byte-identical through samtools view ----
for f in bam/mpileup.1.bam bam/range.bam cram/1400_index_simple.sam; do
	o=$W/$(basename "$f").out.${f##*.}
	scrub "$TD/$f" "$o" || continue
	sam_common "$TD/$f" "$o" "$f"
	samtools view -H "$TD/$f" | grep -oP '\tSM:\K[^\t]*' | sort -u >"$W/sm"
	no_ident "$W/h" "$f" $(cat "$W/sm")
	while read -r s; do
		grep -qF "SM:$(ps "$s")" "$W/h" || fail "$f: pseudonym of $s"
	done <"$W/sm"
	cmp -s <(samtools view "$TD/$f") <(samtools view "$o") ||
		fail "$f: record bodies differ"
	ok "$f"
done

# level-1.bam: ID == SM == NA12878, so the ID is renamed and RG:Z follows
f=bam/level-1.bam o=$W/l1.bam
if scrub "$TD/$f" "$o"; then
	sam_common "$TD/$f" "$o" "$f"
	no_ident "$W/h" "$f" NA12878 lustre
	grep -qP "^@RG\tID:$(ps ID:NA12878)\tSM:$(ps NA12878)" "$W/h" ||
		fail "$f: renamed @RG"
	cmp -s <(samtools view "$TD/$f" | sed "s/\tRG:Z:NA12878/\tRG:Z:$(ps ID:NA12878)/") \
		<(samtools view "$o") || fail "$f: bodies differ beyond RG:Z"
	ok "$f"
fi

# ---- CRAM: with the local reference; without it, a clear refusal ----
while read -r f ref; do
	o=$W/$(basename "$f").out.cram
	scrub "$TD/$f" "$o" --ref "$TD/cram/ref/$ref" || continue
	sam_common "$TD/$f" "$o" "$f" -T "$TD/cram/ref/$ref"
	no_ident "$W/h" "$f" ERS225193 /nfs /Users '$reference'
	cmp -s <(samtools view -T "$TD/cram/ref/$ref" "$TD/$f") \
		<(samtools view -T "$TD/cram/ref/$ref" "$o") ||
		fail "$f: record bodies differ"
	[ "$(od -An -tu1 -j4 -N2 "$o")" = "$(od -An -tu1 -j4 -N2 "$TD/$f")" ] ||
		fail "$f: CRAM version changed"
	ok "$f"
done <<'EOF'
cram/range.cram ce.fa
cram/1400_index_simple.cram ce.fa
cram/ce_5b_java.cram ce.fa
cram/cram21_quickcheck.cram mpileup.ref.fa
EOF
if "$BIN" --scrub "$TD/cram/cram30_level-2.cram" "$W/nr.cram" >/dev/null 2>"$W/err"; then
	fail "cram without a local reference accepted"
else
	grep -q 'not available locally' "$W/err" || fail "cram: unclear error: $(cat "$W/err")"
	[ -e "$W/nr.cram" ] && fail "cram: output left after refusal"
	ok "cram without reference refused: $(cut -c1-80 "$W/err")..."
fi

# ---- VCF/BCF: samples renamed, meta lines allow-listed, bodies equal ----
for f in vcf/test.vcf.gz vcf/roh.1.vcf.gz vcf/passed_meta_sample.vcf vcf/test.snpeff.bcf; do
	o=$W/out.$(basename "$f")
	scrub "$TD/$f" "$o" || continue
	bcftools view -h --no-version "$o" >"$W/h" 2>"$W/err" ||
		fail "$f: bcftools cannot read the output: $(cat "$W/err")"
	bcftools query -l "$TD/$f" >"$W/s.in"
	bcftools query -l "$o" >"$W/s.out"
	while read -r s; do ps "$s"; done <"$W/s.in" >"$W/s.want"
	cmp -s "$W/s.want" "$W/s.out" || fail "$f: sample pseudonyms"
	grep '^#CHROM' "$W/h" | tr '\t' '\n' | grep -qxFf "$W/s.in" &&
		fail "$f: an original sample name is in #CHROM"
	grep -qE '^##(SAMPLE|PEDIGREE|GATKCommandLine|commandline|fileDate|bcftools_[a-z]*Command|SnpEffCmd|UnifiedGenotyper)' "$W/h" &&
		fail "$f: identifying meta line left"
	grep -qE 'file://|/home|/Users|/scratch' "$W/h" && fail "$f: path left"
	cmp -s <(bcftools view -H "$TD/$f") <(bcftools view -H "$o") ||
		fail "$f: record bodies differ"
	[ "$(bcftools view -H "$TD/$f" | wc -l)" = "$(bcftools view -H "$o" | wc -l)" ] ||
		fail "$f: record count"
	ok "$f ($(wc -l <"$W/s.out") samples)"
done

# ---- FASTQ: names stripped only when asked, the rest untouched ----
for f in fastq/clock_10K_R1.fastq.gz fastq/BS-seq_10K_R1.fastq.gz fastq/illumina.fastq.gz fastq/reads_q64.fq.gz; do
	o=$W/out.fq.gz
	scrub "$TD/$f" "$o" || continue
	cmp -s <(zcat "$TD/$f") <(zcat "$o") || fail "$f: changed without --strip"
	scrub "$TD/$f" "$o" --strip || continue
	cmp -s <(zcat "$TD/$f" | awk 'NR % 4 == 2 || NR % 4 == 0') \
		<(zcat "$o" | awk 'NR % 4 == 2 || NR % 4 == 0') ||
		fail "$f: sequences or qualities changed"
	zcat "$o" | awk 'NR % 4 == 1' | grep -qE 'HWI-D00436|CCAETANXX|A00690|H7GC5DRX2|^@SEQ:' &&
		fail "$f: instrument/flowcell left in names"
	n_in=$(samtools import -0 "$TD/$f" 2>/dev/null | samtools view -c)
	n_out=$(samtools import -0 "$o" 2>/dev/null | samtools view -c)
	[ "$n_in" = "$n_out" ] && [ "$n_in" -gt 0 ] || fail "$f: samtools import count $n_in != $n_out"
	ok "$f ($n_out reads; $(zcat "$o" | head -1))"
done

# ---- damaged input: an error, never a crash or an output ----
head -c 500000 "$TD/bam/level-1.bam" >"$W/cut.bam"
"$BIN" --scrub "$W/cut.bam" "$W/cut.out.bam" >/dev/null 2>&1
rc=$?
[ $rc = 1 ] && [ ! -e "$W/cut.out.bam" ] || fail "truncated bam: rc=$rc"

[ $fails = 0 ] && echo "all ok" || echo "$fails failure(s)"
[ $fails = 0 ]
