/*
 * sniff.c - which reader a file goes to, from its first bytes and its
 * name, and the dispatcher that runs it. Compressed containers (gzip,
 * BGZF) are told apart by name, since their magic says only "gzip".
 */
#include "common/common.h"
#include "strata/formats.h"

static bool ends_with(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);
	return n >= s && !strcasecmp(name + n - s, suffix);
}

static bool nifti_magic(const uint8_t *h, size_t n)
{
	if (n >= 348 &&
	    (!memcmp(h + 344, "n+1", 4) || !memcmp(h + 344, "ni1", 4)))
		return true;
	return n >= 540 &&
	       (!memcmp(h + 4, "n+2\0", 4) || !memcmp(h + 4, "ni2\0", 4));
}

strata_format strata_format_sniff(const uint8_t *h, size_t n, const char *name)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	if (n >= 132 && !memcmp(h + 128, "DICM", 4))
		return STRATA_FMT_DICOM;
	if (n >= 4 && (!memcmp(h, "II*\0", 4) || !memcmp(h, "MM\0*", 4) ||
		       !memcmp(h, "II+\0", 4) || !memcmp(h, "MM\0+", 4)))
		return STRATA_FMT_TIFF;
	if (n >= 4 && !memcmp(h, "CRAM", 4))
		return STRATA_FMT_CRAM;
	if (nifti_magic(h, n))
		return STRATA_FMT_NIFTI;
	if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b) {
		if (ends_with(base, ".bam"))
			return STRATA_FMT_BAM;
		if (ends_with(base, ".bcf"))
			return STRATA_FMT_BCF;
		if (ends_with(base, ".vcf.gz") || ends_with(base, ".vcf.bgz"))
			return STRATA_FMT_VCF;
		if (ends_with(base, ".fastq.gz") || ends_with(base, ".fq.gz"))
			return STRATA_FMT_FASTQ;
		if (ends_with(base, ".nii.gz"))
			return STRATA_FMT_NIFTI;
		return STRATA_FMT_UNKNOWN;
	}
	if (n >= 16 && !memcmp(h, "##fileformat=VCF", 16))
		return STRATA_FMT_VCF;
	if (n >= 4 && h[0] == '@' &&
	    (!memcmp(h, "@HD\t", 4) || !memcmp(h, "@SQ\t", 4) ||
	     !memcmp(h, "@RG\t", 4) || !memcmp(h, "@PG\t", 4) ||
	     !memcmp(h, "@CO\t", 4)))
		return STRATA_FMT_SAM;
	if (n >= 1 && h[0] == '@' &&
	    (ends_with(base, ".fastq") || ends_with(base, ".fq")))
		return STRATA_FMT_FASTQ;
	if (ends_with(base, ".sam"))
		return STRATA_FMT_SAM;
	if (ends_with(base, ".dcm") || ends_with(base, ".dicom")) {
		/* no preamble: a bare dataset starts with a group 0002 or
		 * 0008 element, little endian */
		if (n >= 4 && (h[0] == 0x02 || h[0] == 0x08) && h[1] == 0x00)
			return STRATA_FMT_DICOM;
	}
	return STRATA_FMT_UNKNOWN;
}

const char *strata_format_name(strata_format f)
{
	static const char *const names[] = {"unknown", "dicom", "fastq", "sam",
					    "bam",     "cram",	"vcf",	 "bcf",
					    "nifti",   "tiff"};
	return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f]
							      : "unknown";
}

int strata_format_extract(strata_format f, const char *path, strata_attrs *out,
			  strata_cuts *cuts)
{
	int rc;
	strata_attrs_clear(out);
	if (cuts)
		cuts->n = 0;
	switch (f) {
	case STRATA_FMT_DICOM:
		rc = strata_dicom_read(path, out, cuts);
		break;
	case STRATA_FMT_FASTQ:
		rc = strata_fastq_read(path, out);
		break;
	case STRATA_FMT_SAM:
	case STRATA_FMT_BAM:
	case STRATA_FMT_CRAM:
	case STRATA_FMT_VCF:
	case STRATA_FMT_BCF:
		rc = strata_hts_read(path, out);
		break;
	case STRATA_FMT_NIFTI:
		rc = strata_nifti_read(path, out);
		break;
	case STRATA_FMT_TIFF:
		rc = strata_tiff_read(path, out);
		break;
	default:
		return strata_error_set(
		    STRATA_ENOTFOUND, "'%s': no reader for this format", path);
	}
	if (!rc) {
		const char *name = strata_format_name(f);
		rc = strata_attrs_set_str(out, "format.name", name,
					  strlen(name));
	}
	return rc;
}

int strata_format_extract_mem(strata_format f, const char *name,
			      const uint8_t *p, size_t n, strata_attrs *out,
			      strata_cuts *cuts)
{
	strata_attrs_clear(out);
	if (cuts)
		cuts->n = 0;
	if (f != STRATA_FMT_DICOM)
		return STRATA_ENOTFOUND; /* quietly: read it from its path */
	int rc = strata_dicom_read_mem(name, p, n, out, cuts);
	if (!rc) {
		const char *fn = strata_format_name(f);
		rc = strata_attrs_set_str(out, "format.name", fn, strlen(fn));
	}
	return rc;
}
