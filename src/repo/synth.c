/*
 * synth.c - a synthetic catalog for benchmarks: a version of N files with
 * realistic DICOM and genomics attributes, written straight into the
 * catalog (no file content in the store). Only `strata debug synth` uses
 * it, on a throw-away repository: `check` reports the version as missing
 * from the store, as it should.
 */
#include "repo/repo_int.h"

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13; /* xorshift64: deterministic for a given seed */
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static const char *pick(uint64_t *s, const char *const *v, size_t n)
{
	return v[rnd(s) % n];
}

#define N(a) (sizeof(a) / sizeof(*(a)))

/* One file's attributes, added to the catalog at once. */
typedef struct alist {
	strata_cat_attr a[16];
	char text[3][96];
	size_t n;
} alist;

static void add_str(alist *l, const char *k, const char *v)
{
	l->a[l->n++] = (strata_cat_attr){k, 1, v, 0};
}

static void add_num(alist *l, const char *k, double v)
{
	l->a[l->n++] = (strata_cat_attr){k, 2, NULL, v};
}

static void imaging(alist *l, uint64_t *s, uint64_t i)
{
	static const char *const mod[] = {"CT", "CT", "CT", "MR", "MR",
					  "US", "CR", "PT", "MG", "DX"};
	static const char *const part[] = {"CHEST",  "HEAD", "ABDOMEN",
					   "PELVIS", "KNEE", "BREAST",
					   "SPINE",  "NECK", "HEART"};
	static const char *const mfr[] = {"SIEMENS", "GE MEDICAL SYSTEMS",
					  "Philips", "TOSHIBA", "Canon"};
	uint64_t study = i / 400, series = i / 100;
	uint64_t ss = study * 2654435761u + 1;
	snprintf(l->text[0], sizeof(l->text[0]),
		 "1.2.826.0.1.3680043.8.498.%" PRIu64, study);
	snprintf(l->text[1], sizeof(l->text[1]),
		 "1.2.826.0.1.3680043.8.498.%" PRIu64 ".%" PRIu64, study,
		 series);
	snprintf(l->text[2], sizeof(l->text[2]), "PAT-%06" PRIu64, study / 3);
	add_str(l, "dicom.StudyInstanceUID", l->text[0]);
	add_str(l, "dicom.SeriesInstanceUID", l->text[1]);
	add_str(l, "dicom.PatientID", l->text[2]);
	add_str(l, "format.name", "dicom");
	add_str(l, "dicom.Modality", pick(&ss, mod, N(mod)));
	add_str(l, "dicom.BodyPartExamined", pick(&ss, part, N(part)));
	add_str(l, "dicom.Manufacturer", pick(&ss, mfr, N(mfr)));
	add_num(l, "dicom.Rows", (rnd(s) & 1) ? 512 : 256);
	add_num(l, "dicom.Columns", 512);
	add_num(l, "dicom.SliceThickness", 0.5 * (double)(1 + rnd(&ss) % 10));
	add_num(l, "dicom.InstanceNumber", (double)(i % 100 + 1));
}

static void genomics(alist *l, uint64_t *s)
{
	/* a reference build and the contig counts its common releases have
	 * (primary assembly, with alts and decoys, ...) */
	static const struct {
		const char *name;
		double contigs[2];
	} build[] = {{"GRCh38", {195, 3366}},
		     {"GRCh38", {195, 3366}},
		     {"GRCh37", {84, 86}},
		     {"T2T-CHM13", {25, 25}}};
	static const char *const plat[] = {"ILLUMINA", "ILLUMINA", "ONT",
					   "PACBIO"};
	static const char *const fmt[] = {"bam", "cram", "vcf", "fastq"};
	size_t b = rnd(s) % N(build);
	add_str(l, "format.name", pick(s, fmt, N(fmt)));
	add_str(l, "genome.build", build[b].name);
	add_str(l, "seq.platform", pick(s, plat, N(plat)));
	add_num(l, "genome.contigs", build[b].contigs[rnd(s) & 1]);
	add_num(l, "seq.read_length", (double)(100 + 50 * (rnd(s) % 3)));
}

int strata_repo_debug_synth(strata_repo *r, const char *dataset,
			    uint64_t nfiles, uint64_t seed)
{
	strata_cat_snap cs;
	int64_t snap, row;
	uint8_t sha[32] = {0};
	uint64_t s = seed ? seed : 88172645463325252ull;
	char path[128];
	memset(&cs, 0, sizeof(cs));
	strata_random(cs.id, 32); /* no such snapshot object: catalog only */
	cs.dataset = (char *)dataset;
	cs.version = 1;
	cs.time_ns = (int64_t)strata_now_ns();
	snprintf(cs.layer, sizeof(cs.layer), "raw");
	snprintf(cs.klass, sizeof(cs.klass), "phi");
	cs.files = nfiles;
	int rc = strata_catalog_begin(r->cat);
	if (rc)
		return rc;
	if ((rc = strata_catalog_add_snapshot(r->cat, &cs, &snap)))
		goto fail;
	for (uint64_t i = 0; !rc && i < nfiles; i++) {
		bool img = rnd(&s) % 10 < 8;
		snprintf(path, sizeof(path),
			 img ? "study%06" PRIu64 "/series%03" PRIu64
			       "/img%05" PRIu64 ".dcm"
			     : "run%06" PRIu64 "/lane%" PRIu64
			       "/sample%05" PRIu64 ".bam",
			 i / 400, (i / 100) % 4, i);
		rc = strata_catalog_add_file(r->cat, snap, path, strlen(path),
					     img ? 200000 + rnd(&s) % 400000
						 : 1u << 30,
					     sha, "raw", "phi", 0, &row);
		alist l;
		l.n = 0;
		if (img)
			imaging(&l, &s, i);
		else
			genomics(&l, &s);
		if (!rc)
			rc = strata_catalog_add_attrs(r->cat, row, l.a, l.n);
	}
	if (rc)
		goto fail;
	return strata_catalog_commit(r->cat);
fail:
	strata_catalog_rollback(r->cat);
	return rc;
}
