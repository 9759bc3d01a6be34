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

static int add_str(strata_catalog *c, int64_t row, const char *k, const char *v)
{
	return strata_catalog_add_attr(c, row, k, 1, v, 0);
}

static int imaging(strata_catalog *c, int64_t row, uint64_t *s, uint64_t i)
{
	static const char *const mod[] = {"CT", "CT", "CT", "MR", "MR",
					  "US", "CR", "PT", "MG", "DX"};
	static const char *const part[] = {"CHEST",  "HEAD", "ABDOMEN",
					   "PELVIS", "KNEE", "BREAST",
					   "SPINE",  "NECK", "HEART"};
	static const char *const mfr[] = {"SIEMENS", "GE MEDICAL SYSTEMS",
					  "Philips", "TOSHIBA", "Canon"};
	char buf[96];
	uint64_t study = i / 400, series = i / 100;
	int rc;
	snprintf(buf, sizeof(buf), "1.2.826.0.1.3680043.8.498.%" PRIu64, study);
	if ((rc = add_str(c, row, "dicom.StudyInstanceUID", buf)))
		return rc;
	snprintf(buf, sizeof(buf),
		 "1.2.826.0.1.3680043.8.498.%" PRIu64 ".%" PRIu64, study,
		 series);
	if ((rc = add_str(c, row, "dicom.SeriesInstanceUID", buf)))
		return rc;
	snprintf(buf, sizeof(buf), "PAT-%06" PRIu64, study / 3);
	uint64_t ss = study * 2654435761u + 1;
	if ((rc = add_str(c, row, "dicom.PatientID", buf)) ||
	    (rc = add_str(c, row, "format.name", "dicom")) ||
	    (rc = add_str(c, row, "dicom.Modality", pick(&ss, mod, N(mod)))) ||
	    (rc = add_str(c, row, "dicom.BodyPartExamined",
			  pick(&ss, part, N(part)))) ||
	    (rc = add_str(c, row, "dicom.Manufacturer",
			  pick(&ss, mfr, N(mfr)))) ||
	    (rc = strata_catalog_add_attr(c, row, "dicom.Rows", 2, NULL,
					  (rnd(s) & 1) ? 512 : 256)) ||
	    (rc = strata_catalog_add_attr(c, row, "dicom.Columns", 2, NULL,
					  512)) ||
	    (rc = strata_catalog_add_attr(c, row, "dicom.SliceThickness", 3,
					  NULL,
					  0.5 * (double)(1 + rnd(&ss) % 10))) ||
	    (rc = strata_catalog_add_attr(c, row, "dicom.InstanceNumber", 2,
					  NULL, (double)(i % 100 + 1))))
		return rc;
	return 0;
}

static int genomics(strata_catalog *c, int64_t row, uint64_t *s)
{
	static const char *const build[] = {"GRCh38", "GRCh38", "GRCh37",
					    "T2T-CHM13"};
	static const char *const plat[] = {"ILLUMINA", "ILLUMINA", "ONT",
					   "PACBIO"};
	static const char *const fmt[] = {"bam", "cram", "vcf", "fastq"};
	int rc;
	if ((rc = add_str(c, row, "format.name", pick(s, fmt, N(fmt)))) ||
	    (rc = add_str(c, row, "genome.build", pick(s, build, N(build)))) ||
	    (rc = add_str(c, row, "seq.platform", pick(s, plat, N(plat)))) ||
	    (rc = strata_catalog_add_attr(c, row, "genome.contigs", 2, NULL,
					  (double)(25 + rnd(s) % 3000))) ||
	    (rc = strata_catalog_add_attr(c, row, "seq.read_length", 2, NULL,
					  (double)(100 + 50 * (rnd(s) % 3)))))
		return rc;
	return 0;
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
		if (!rc)
			rc = img ? imaging(r->cat, row, &s, i)
				 : genomics(r->cat, row, &s);
	}
	if (rc)
		goto fail;
	return strata_catalog_commit(r->cat);
fail:
	strata_catalog_rollback(r->cat);
	return rc;
}
