/*
 * deid.c - strata deid: a curated, class deid version made from a source
 * version. The source is restored into a private staging directory, each
 * file goes through its de-identifier (DICOM: PS3.15 Annex E, src/deid/
 * dicom_deid.c; SAM/BAM/CRAM, VCF/BCF, FASTQ: header scrubbing, src/deid/
 * hts_deid.c), files that may carry burned-in text or have no
 * de-identifier are held back with a reason, and the result is ingested
 * as a new version with lineage to the source and a recipe naming the
 * profile, options, the standard's revision and the key version.
 *
 * Outputs keep the pixel data bytes of their input and the chunker cuts
 * at Pixel Data, so the curated version shares its pixel chunks with the
 * source. Files are linked to the same subjects as their sources.
 */
#include <ftw.h>

#include "deid/deid.h"
#include "deid/hts_deid.h"
#include "repo/repo_int.h"
#include "strata/formats.h"

#define KEY_VERSION "v1"

typedef struct deid_ctx {
	strata_repo *r;
	const strata_deid_run_opts *o;
	strata_deid_stats *st;
	strata_deid_cb cb;
	void *payload;
	char in[PATH_MAX + 16], out[PATH_MAX + 16];
	FILE *subjects; /* "path,identifier" lines for the ingest */
	unsigned options;
	int fatal;
} deid_ctx;

static int rm_one(const char *p, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

static void rm_rf(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void pseudonym_cb(const char *id, char *out, size_t outlen,
			 void *payload)
{
	char p[24];
	repo__pseudonym(payload, id, p);
	snprintf(out, outlen, "%s", p);
}

static void report(deid_ctx *x, const char *rel, const char *what,
		   const char *why)
{
	if (!strcmp(what, "held"))
		x->st->held_back++;
	else if (!strcmp(what, "skipped"))
		x->st->skipped++;
	if (x->cb) {
		strata_deid_file f = {rel, what, why};
		x->cb(&f, x->payload);
	}
}

static int read_all(const char *path, strata_buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	int rc = 0;
	if (fd < 0 || fstat(fd, &sb))
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot read '%s': %s", path,
				      strerror(errno));
	else if ((rc = strata_buf_reserve(b, (size_t)sb.st_size + 1)) == 0) {
		ssize_t n = 0;
		while (b->len < (size_t)sb.st_size &&
		       (n = read(fd, b->ptr + b->len,
				 (size_t)sb.st_size - b->len)) > 0)
			b->len += (size_t)n;
		if (n < 0)
			rc = strata_error_set(STRATA_EIO, "cannot read '%s'",
					      path);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static int write_all(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;
	if (fd < 0)
		return strata_error_set(strata_errno_code(errno),
					"cannot write '%s': %s", path,
					strerror(errno));
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);
		if (w <= 0) {
			int e = errno;
			close(fd);
			return strata_error_set(strata_errno_code(e),
						"cannot write '%s': %s", path,
						strerror(e));
		}
		done += (size_t)w;
	}
	return close(fd)
		   ? strata_error_set(STRATA_EIO, "cannot write '%s'", path)
		   : 0;
}

/* Strata's own reader must accept every output. */
static int reread(const char *path, const char *rel)
{
	strata_attrs *a = NULL;
	uint8_t head[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, head, sizeof(head)) : -1;
	if (fd >= 0)
		close(fd);
	int rc = n < 0 ? STRATA_EIO : strata_attrs_new(&a);
	if (!rc) {
		strata_format f = strata_format_sniff(head, (size_t)n, path);
		rc = f == STRATA_FMT_UNKNOWN
			 ? STRATA_ECORRUPT
			 : strata_format_extract(f, path, a, NULL);
	}
	strata_attrs_free(a);
	if (rc && rc != STRATA_ENOMEM)
		return strata_error_set(STRATA_ECORRUPT,
					"the de-identified '%s' does not read "
					"back: nothing was stored; report this "
					"file",
					rel);
	return rc;
}

static int link_subject(deid_ctx *x, const char *rel, const char *id)
{
	if (!id || !*id || strpbrk(id, ",\n\r"))
		return 0;
	if (fprintf(x->subjects, "%s,%s\n", rel, id) < 0)
		return strata_error_set(STRATA_EIO, "cannot write the subject "
						    "map");
	return 0;
}

/* Identifying values of the source, by catalog key, that must not occur
 * in the output, unless an option keeps that kind of value. */
static const struct {
	const char *key;
	unsigned kept_by;
} must_go[] = {
    {"dicom.PatientName", 0},
    {"dicom.PatientID", 0},
    {"dicom.OtherPatientIDs", 0},
    {"dicom.PatientBirthDate", STRATA_DEID_RETAIN_LONG_FULL_DATES},
    {"dicom.PatientAddress", 0},
    {"dicom.PatientTelephoneNumbers", 0},
    {"dicom.AccessionNumber", 0},
    {"dicom.StudyInstanceUID", STRATA_DEID_RETAIN_UIDS},
    {"dicom.SeriesInstanceUID", STRATA_DEID_RETAIN_UIDS},
    {"dicom.SOPInstanceUID", STRATA_DEID_RETAIN_UIDS},
    {"dicom.FrameOfReferenceUID", STRATA_DEID_RETAIN_UIDS},
    {"dicom.MediaStorageSOPInstanceUID", STRATA_DEID_RETAIN_UIDS},
    {"dicom.ReferringPhysicianName", 0},
    {"dicom.PerformingPhysicianName", 0},
    {"dicom.OperatorsName", 0},
    {"dicom.InstitutionName", STRATA_DEID_RETAIN_INSTITUTION_ID},
    {"dicom.InstitutionAddress", STRATA_DEID_RETAIN_INSTITUTION_ID},
    {"dicom.StationName", STRATA_DEID_RETAIN_DEVICE_ID},
    {"dicom.DeviceSerialNumber", STRATA_DEID_RETAIN_DEVICE_ID},
};

static bool word_char(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z') || c == '_' || c == '.';
}

/* `v` as a whole word (not inside a longer name, number or UID) in
 * p[from, to). */
static const uint8_t *find_word(const uint8_t *p, size_t from, size_t to,
				const char *v, size_t vl)
{
	while (from < to) {
		const uint8_t *hit = memmem(p + from, to - from, v, vl);
		if (!hit)
			return NULL;
		size_t at = (size_t)(hit - p);
		if ((at == 0 || !word_char(p[at - 1])) &&
		    (at + vl >= to || !word_char(p[at + vl])))
			return hit;
		from = at + 1;
	}
	return NULL;
}

/* Search `p` outside [skip, skip + skiplen) for the word `v`. */
static const uint8_t *find_outside(const uint8_t *p, size_t n, uint64_t skip,
				   uint64_t skiplen, const char *v, size_t vl)
{
	if (!skip || skip >= n)
		return find_word(p, 0, n, v, vl);
	const uint8_t *hit = find_word(p, 0, skip, v, vl);
	if (hit || skip + skiplen >= n)
		return hit;
	return find_word(p, skip + skiplen, n, v, vl);
}

/* The proof: no identifying value of the source occurs in the output's
 * bytes (pixel data aside). STRATA_ECORRUPT names the key and offset. */
static int scan_identifiers(deid_ctx *x, const char *rel, const strata_attrs *a,
			    const strata_buf *out,
			    const strata_deid_report *rep)
{
	for (size_t i = 0; i < sizeof(must_go) / sizeof(*must_go); i++) {
		const strata_attr *at = strata_attrs_find(a, must_go[i].key);
		if (!at || at->type != STRATA_ATTR_STR ||
		    (x->options & must_go[i].kept_by))
			continue;
		/* the whole value, and each name component or list item */
		const char *v = at->s;
		for (const char *p = v; *p;) {
			size_t n = strcspn(p, "^\\=,");
			size_t whole = strlen(v);
			const char *cand[2] = {v, p};
			size_t len[2] = {whole, n};
			for (int k = 0; k < 2; k++) {
				if (len[k] < 4 || (k && len[k] == whole))
					continue;
				const uint8_t *hit = find_outside(
				    out->ptr, out->len, rep->pixel_offset,
				    rep->pixel_length, cand[k], len[k]);
				if (hit)
					return strata_error_set(
					    STRATA_ECORRUPT,
					    "de-identification of '%s' left "
					    "the source's %s (or part of it) "
					    "at byte %zu of the output: "
					    "nothing was stored; report this "
					    "file",
					    rel, must_go[i].key + 6,
					    (size_t)(hit - out->ptr));
			}
			p += n;
			if (*p)
				p++;
		}
	}
	return 0;
}

static int deid_dicom(deid_ctx *x, const char *src, const char *dst,
		      const char *rel, const strata_buf *in)
{
	strata_attrs *a = NULL;
	strata_buf out = STRATA_BUF_INIT;
	strata_deid_report rep;
	char pseudo[24] = "";
	const char *pid = NULL;
	/* the pseudonym the catalog uses for this patient */
	if (!strata_attrs_new(&a) && !strata_dicom_read(src, a, NULL)) {
		const strata_attr *at = strata_attrs_find(a, "dicom.PatientID");
		if (at && at->type == STRATA_ATTR_STR && at->s[0]) {
			pid = at->s;
			repo__pseudonym(x->r, pid, pseudo);
		}
	}
	strata_deid_opts o = {x->options, x->r->keys.deid_key,
			      sizeof(x->r->keys.deid_key), x->o->domain,
			      pseudo[0] ? pseudo : NULL};
	out.limit = in->len + (16u << 20);
	int rc = strata_deid_dicom(in->ptr, in->len, &o, &out, &rep);
	if (rc) {
		report(x, rel, "skipped", strata_error_msg());
		rc = 0;
	} else if (rep.held_back) {
		report(x, rel, "held", rep.reason);
	} else if (!(rc = scan_identifiers(x, rel, a, &out, &rep)) &&
		   !(rc = write_all(dst, out.ptr, out.len)) &&
		   !(rc = reread(dst, rel)) &&
		   !(rc = link_subject(x, rel, pid))) {
		x->st->dicom++;
		x->st->uids_remapped += rep.uids_remapped;
		report(x, rel, "deid", NULL);
	}
	strata_attrs_free(a);
	strata_buf_release(&out);
	return rc;
}

/* No sample name of the source is among the output's. */
static int samples_gone(const char *src, const char *dst, const char *rel)
{
	static const char *const keys[] = {"seq.samples", "vcf.sample_names"};
	strata_attrs *a = NULL, *b = NULL;
	uint8_t head[4096];
	int rc = 0;
	if (strata_attrs_new(&a) || strata_attrs_new(&b)) {
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
		goto out;
	}
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, head, sizeof(head)) : -1;
	if (fd >= 0)
		close(fd);
	strata_format f = strata_format_sniff(head, n > 0 ? (size_t)n : 0, src);
	if (n <= 0 || strata_format_extract(f, src, a, NULL) ||
	    strata_format_extract(f, dst, b, NULL))
		goto out; /* nothing to compare: reread() judged the output */
	for (size_t k = 0; !rc && k < 2; k++) {
		const strata_attr *x = strata_attrs_find(a, keys[k]);
		const strata_attr *y = strata_attrs_find(b, keys[k]);
		if (!x || !y || x->type != STRATA_ATTR_STR ||
		    y->type != STRATA_ATTR_STR)
			continue;
		for (const char *p = x->s; !rc && *p;) {
			size_t len = strcspn(p, ",");
			for (const char *q = y->s; *q;) {
				size_t ql = strcspn(q, ",");
				if (ql == len && !memcmp(p, q, len)) {
					rc = strata_error_set(
					    STRATA_ECORRUPT,
					    "de-identification of '%s' left "
					    "the source's sample name in its "
					    "header: nothing was stored; "
					    "report this file",
					    rel);
					break;
				}
				q += ql + (q[ql] == ',');
			}
			p += len + (p[len] == ',');
		}
	}
out:
	strata_attrs_free(a);
	strata_attrs_free(b);
	return rc;
}

static int deid_hts(deid_ctx *x, const char *src, const char *dst,
		    const char *rel)
{
	strata_hts_deid_opts o;
	strata_hts_deid_report rep;
	memset(&o, 0, sizeof(o));
	memset(&rep, 0, sizeof(rep));
	o.pseudonym = pseudonym_cb;
	o.payload = x->r;
	o.fastq_strip_names = x->o->fastq_strip_names;
	o.reference = x->o->reference;
	int rc = strata_hts_deid(src, dst, &o, &rep);
	if (rc == STRATA_ENOMEM || rc == STRATA_ENOSPC)
		return rc;
	if (rc) {
		report(x, rel, "skipped", strata_error_msg());
		return 0;
	}
	if ((rc = reread(dst, rel)) || (rc = samples_gone(src, dst, rel)))
		return rc;
	x->st->genomic++;
	report(x, rel, "deid", NULL);
	return link_subject(x, rel, rep.first_sample);
}

/* One file of the staging input. */
/* The output keeps its source's permission bits. */
static void same_mode(const char *src, const char *dst)
{
	struct stat sb;
	if (!stat(src, &sb))
		chmod(dst, sb.st_mode & 0777);
}

static int deid_file(deid_ctx *x, const char *rel)
{
	char src[PATH_MAX * 3], dst[PATH_MAX * 3];
	strata_buf in = STRATA_BUF_INIT;
	int rc;
	snprintf(src, sizeof(src), "%s/%s", x->in, rel);
	snprintf(dst, sizeof(dst), "%s/%s", x->out, rel);
	char *slash = strrchr(dst, '/');
	*slash = 0;
	rc = strata_mkdir_p(dst, 0700);
	*slash = '/';
	if (rc)
		return rc;
	x->st->files++;
	uint8_t head[4096];
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	ssize_t hn = fd >= 0 ? read(fd, head, sizeof(head)) : -1;
	if (fd >= 0)
		close(fd);
	if (hn < 0)
		return strata_error_set(STRATA_EIO, "cannot read '%s'", src);
	strata_format f = strata_format_sniff(head, (size_t)hn, src);
	switch (f) {
	case STRATA_FMT_DICOM:
		in.limit = (size_t)4 << 30;
		if (!(rc = read_all(src, &in)))
			rc = deid_dicom(x, src, dst, rel, &in);
		break;
	case STRATA_FMT_FASTQ:
	case STRATA_FMT_SAM:
	case STRATA_FMT_BAM:
	case STRATA_FMT_CRAM:
	case STRATA_FMT_VCF:
	case STRATA_FMT_BCF:
		rc = deid_hts(x, src, dst, rel);
		break;
	default:
		/* no de-identifier: unknown content may identify someone */
		report(x, rel, "held",
		       f == STRATA_FMT_TIFF
			   ? "whole-slide and TIFF images may carry label "
			     "images and text: review them by hand"
		       : f == STRATA_FMT_NIFTI
			   ? "NIfTI headers and faces are not de-identified "
			     "by strata: review by hand"
			   : "no de-identifier for this kind of file");
		break;
	}
	strata_buf_release(&in);
	if (!rc)
		same_mode(src, dst);
	return rc;
}

static int walk(deid_ctx *x, const char *rel)
{
	char dir[PATH_MAX * 2];
	snprintf(dir, sizeof(dir), "%s%s%s", x->in, *rel ? "/" : "", rel);
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;
	if (!d)
		return strata_error_set(STRATA_EIO, "cannot list '%s'", dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (strata_grow(&names, &cap, n, sizeof(*names)) ||
		    !(names[n] = strata_strdup(e->d_name))) {
			rc = strata_error_set(STRATA_ENOMEM, "out of memory");
			break;
		}
		n++;
	}
	closedir(d);
	for (size_t i = 0; !rc && i < n; i++) {
		char sub[PATH_MAX], full[PATH_MAX * 3];
		struct stat sb;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
			 names[i]);
		snprintf(full, sizeof(full), "%s/%s", x->in, sub);
		if (lstat(full, &sb))
			continue;
		if (S_ISDIR(sb.st_mode)) {
			char out[PATH_MAX * 3];
			snprintf(out, sizeof(out), "%s/%s", x->out, sub);
			if (!(rc = walk(x, sub)) && !strata_mkdir_p(out, 0700))
				chmod(out, sb.st_mode & 0777);
		} else if (S_ISREG(sb.st_mode))
			rc = deid_file(x, sub);
		else
			report(x, sub, "skipped", "not a regular file");
	}
	for (size_t i = 0; i < n; i++)
		strata_free(names[i]);
	strata_free(names);
	return rc;
}

int strata_repo_deid(strata_repo *r, const char *spec,
		     const strata_deid_run_opts *o, strata_deid_stats *st,
		     strata_deid_cb cb, void *payload)
{
	deid_ctx x;
	char stage[PATH_MAX], map[PATH_MAX + 16], recipe[1024], opts[512] = "";
	strata_restore_stats rs;
	int rc;
	memset(st, 0, sizeof(*st));
	memset(&x, 0, sizeof(x));
	x.r = r;
	x.o = o;
	x.st = st;
	x.cb = cb;
	x.payload = payload;
	if (o->profile && strcmp(o->profile, "basic"))
		return strata_error_set(STRATA_EINVAL,
					"unknown profile '%s': strata knows "
					"'basic' (PS3.15 E.2) with options",
					o->profile);
	if ((rc = strata_deid_parse_options(o->options, &x.options)))
		return rc;
	/* may the actor derive curated data at all? ask before the work */
	repo_access a;
	memset(&a, 0, sizeof(a));
	a.action = STRATA_ACT_DERIVE;
	a.verb = "deid";
	a.dataset = o->dataset;
	a.layer = "curated";
	a.klass = "deid";
	rc = repo__gate(r, &a);
	repo__audit_done(r, rc, 0);
	if (rc)
		return rc;
	for (unsigned b = 1; b && b <= STRATA_DEID_ALL_OPTIONS; b <<= 1)
		if (x.options & b) {
			size_t l = strlen(opts);
			snprintf(opts + l, sizeof(opts) - l, "%s%s",
				 l ? "+" : "", strata_deid_option_name(b));
		}
	/* staging: private, below the repository's local directory */
	snprintf(stage, sizeof(stage), "%s/.deid-XXXXXX",
		 r->be->ops->local_dir(r->be));
	if (!mkdtemp(stage))
		return strata_error_set(strata_errno_code(errno),
					"cannot create a staging directory "
					"'%s': %s",
					stage, strerror(errno));
	snprintf(x.in, sizeof(x.in), "%s/in", stage);
	snprintf(x.out, sizeof(x.out), "%s/out", stage);
	snprintf(map, sizeof(map), "%s/subjects.csv", stage);
	/* reading the source is gated and audited as a restore for deid */
	if ((rc = strata_repo_restore(r, spec, x.in, NULL, false, &rs)))
		goto out;
	if ((rc = strata_mkdir_p(x.out, 0700)))
		goto out;
	if (!(x.subjects = fopen(map, "w"))) {
		rc = strata_error_set(STRATA_EIO, "cannot write '%s'", map);
		goto out;
	}
	fputs("path,subject\n", x.subjects);
	rc = walk(&x, "");
	if (fclose(x.subjects) && !rc)
		rc = strata_error_set(STRATA_EIO, "cannot write '%s'", map);
	x.subjects = NULL;
	if (rc)
		goto out;
	if (!st->dicom && !st->genomic) {
		rc = strata_error_set(STRATA_EINVAL,
				      "nothing in '%s' could be de-identified "
				      "(%" PRIu64 " held back, %" PRIu64
				      " skipped): no version made",
				      spec, st->held_back, st->skipped);
		goto out;
	}
	/* the new version: curated, deid, with lineage and recipe */
	snprintf(recipe, sizeof(recipe),
		 "tool=strata-deid,version=%s,profile=basic,options=%s,"
		 "standard=PS3.15-%s,key=%s,domain=%s",
		 STRATA_VERSION, opts[0] ? opts : "none",
		 strata_deid_revision(), KEY_VERSION,
		 o->domain && *o->domain ? o->domain : "default");
	char **paths = NULL;
	size_t np = 0, cap = 0;
	DIR *d = opendir(x.out);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[PATH_MAX * 2];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", x.out, e->d_name);
		if (strata_grow(&paths, &cap, np, sizeof(*paths)) ||
		    !(paths[np] = strata_strdup(p))) {
			rc = strata_error_set(STRATA_ENOMEM, "out of memory");
			break;
		}
		np++;
	}
	if (d)
		closedir(d);
	const char *from[1] = {spec};
	strata_ingest_opts io;
	memset(&io, 0, sizeof(io));
	io.dataset = o->dataset;
	io.layer = "curated";
	io.klass = "deid";
	io.message = o->message ? o->message : "de-identified";
	io.progress = o->progress;
	io.from = from;
	io.nfrom = 1;
	io.recipe = recipe;
	io.subjects = map;
	if (!rc)
		rc = strata_repo_ingest(r, (const char *const *)paths, np, &io,
					&st->ingest);
	for (size_t i = 0; i < np; i++)
		strata_free(paths[i]);
	strata_free(paths);
	snprintf(st->recipe, sizeof(st->recipe), "%s", recipe);
out:
	if (x.subjects)
		fclose(x.subjects);
	rm_rf(stage);
	return rc;
}

/* ---- the pseudonym vault: strata deid lookup ---- */

typedef struct find_id {
	const char *pseudonym;
	char *identifier;
} find_id;

static int match_subject(const strata_subject_info *si, void *payload)
{
	find_id *f = payload;
	if (strcmp(si->pseudonym, f->pseudonym))
		return 0;
	f->identifier = strata_strdup(si->identifier);
	return 1; /* found: stop */
}

int strata_repo_deid_lookup(strata_repo *r, const char *subject,
			    const char *domain, strata_deid_lookup_info *out)
{
	char pseudo[24];
	find_id f = {pseudo, NULL};
	memset(out, 0, sizeof(*out));
	int rc = strata_repo_subject(r, subject, pseudo);
	if (rc)
		return rc;
	/* the table walk is the steward's audited 'reidentify' action */
	rc = strata_repo_subjects(r, match_subject, &f);
	if (rc < 0)
		return rc;
	if (!f.identifier && strcmp(subject, pseudo))
		f.identifier = strata_strdup(subject); /* given by the caller */
	if (!f.identifier)
		return strata_error_set(STRATA_ENOTFOUND,
					"no subject '%s' in this repository",
					subject);
	snprintf(out->pseudonym, sizeof(out->pseudonym), "%s", pseudo);
	snprintf(out->identifier, sizeof(out->identifier), "%s", f.identifier);
	snprintf(out->domain, sizeof(out->domain), "%s",
		 domain && *domain ? domain : "default");
	out->date_shift_days = strata_deid_date_shift(
	    r->keys.deid_key, sizeof(r->keys.deid_key), domain, f.identifier);
	strata_free(f.identifier);
	return 0;
}
