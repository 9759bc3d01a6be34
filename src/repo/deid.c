/*
 * deid.c - strata deid: a curated, class deid version made from a source
 * version. The new version is ingested from a repo_source (ingest.c):
 * each ingest worker asks for one file, which is read from the store into
 * memory and goes through its de-identifier (DICOM: PS3.15 Annex E, src/
 * deid/dicom_deid.c, in memory; SAM/BAM/CRAM, VCF/BCF, FASTQ: header
 * scrubbing, src/deid/hts_deid.c, through a private staging directory).
 * Files that may carry burned-in text or have no de-identifier are held
 * back with a reason. The version has lineage to the source and a recipe
 * naming the profile, options, the standard's revision and the key
 * version.
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

/* A file of the source version. */
typedef struct dfile {
	char *path;
	strata_node n;
	char *subject; /* the identifier its output is linked to */
} dfile;

/* A codec, an HMAC and buffers for one file at a time: taken by
 * produce(), given back by release(), reused so that each file costs no
 * allocation. */
typedef struct dkeys {
	strata_codec *codec;
	strata_hmac *hmac;
	strata_buf in, out;
	/* the source's chunks as read, and what is known of the output */
	repo_known *chunks, *known;
	size_t nchunks, capchunks, nknown, capknown;
	strata_attrs *src_attrs, *out_attrs;
	strata_cuts src_cuts, out_cuts;
	bool busy;
} dkeys;

#define DKEYS 16

typedef struct deid_ctx {
	strata_repo *r;
	const strata_deid_run_opts *o;
	strata_deid_stats *st;
	strata_deid_cb cb;
	void *payload;
	char stage[PATH_MAX];
	unsigned options;
	dfile *files;
	size_t n, cap;
	strata_buf path;      /* while listing */
	pthread_mutex_t lock; /* stats, cb, keys */
	dkeys keys[DKEYS];
	uint64_t bytes; /* of the source's files, all read */
	const char *spec;
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

/* What became of a file: "deid" (with the UIDs remapped in it), "held"
 * or "skipped"; from any worker. */
static void report(deid_ctx *x, const char *rel, const char *what,
		   const char *why, bool genomic, uint64_t uids)
{
	pthread_mutex_lock(&x->lock);
	if (!strcmp(what, "held"))
		x->st->held_back++;
	else if (!strcmp(what, "skipped"))
		x->st->skipped++;
	else if (genomic)
		x->st->genomic++;
	else
		x->st->dicom++;
	x->st->uids_remapped += uids;
	if (x->cb) {
		strata_deid_file f = {rel, what, why};
		x->cb(&f, x->payload);
	}
	pthread_mutex_unlock(&x->lock);
}

/* Strata's own reader must accept every output. */
static int reread(const char *rel, const char *path)
{
	strata_attrs *a = NULL;
	uint8_t head[4096];
	int rc = strata_attrs_new(&a);
	if (!rc) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t k = fd >= 0 ? read(fd, head, sizeof(head)) : -1;
		if (fd >= 0)
			close(fd);
		strata_format f =
		    k < 0 ? STRATA_FMT_UNKNOWN
			  : strata_format_sniff(head, (size_t)k, path);
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

/* The output of file i is about the subject `id`. */
static int link_subject(deid_ctx *x, size_t i, const char *id)
{
	if (!id || !*id || strpbrk(id, ",\n\r"))
		return 0;
	char *s = strata_strdup(id);
	if (!s)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	strata_free(x->files[i].subject);
	x->files[i].subject = s;
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

/* The output's chunks that are the source's: its pixel data (between
 * the cut points both were read with), byte for byte, so the ingest
 * stores them under the source's ids without chunking or hashing them
 * again (it still hashes the whole file). */
static int known_chunks(dkeys *k)
{
	const strata_cuts *sc = &k->src_cuts, *oc = &k->out_cuts;
	k->nknown = 0;
	if (!sc->n || !oc->n) /* a trailer may have gone: sc->n != oc->n */
		return 0;
	uint64_t sp = sc->off[0], op = oc->off[0];
	uint64_t se = sc->n > 1 ? sc->off[1] : k->in.len;
	uint64_t oe = oc->n > 1 ? oc->off[1] : k->out.len;
	if (se - sp != oe - op || se > k->in.len || oe > k->out.len)
		return 0;
	for (size_t j = 0; j < k->nchunks; j++) {
		const repo_known *c = &k->chunks[j];
		if (c->off < sp || c->off + c->len > se)
			continue;
		uint64_t at = c->off - sp + op;
		if (memcmp(k->out.ptr + at, k->in.ptr + c->off, c->len))
			continue;
		if (strata_grow(&k->known, &k->capknown, k->nknown,
				sizeof(*k->known)))
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		k->known[k->nknown] = *c;
		k->known[k->nknown++].off = at;
	}
	return 0;
}

/* File i, a DICOM file in k->in: its de-identified bytes, attributes and
 * known chunks into `pr`, or pr->skip with the reason reported. */
static int deid_dicom(deid_ctx *x, dkeys *k, size_t i, repo_produced *pr)
{
	const char *rel = x->files[i].path;
	const strata_buf *in = &k->in;
	strata_buf *out = &k->out;
	strata_attrs *a = k->src_attrs;
	strata_deid_report rep;
	char pseudo[24] = "";
	const char *pid = NULL;
	/* the pseudonym the catalog uses for this patient */
	strata_attrs_clear(a);
	k->src_cuts.n = 0;
	if (!strata_dicom_read_mem(rel, in->ptr, in->len, a, &k->src_cuts)) {
		const strata_attr *at = strata_attrs_find(a, "dicom.PatientID");
		if (at && at->type == STRATA_ATTR_STR && at->s[0]) {
			pid = at->s;
			repo__pseudonym(x->r, pid, pseudo);
		}
	}
	strata_deid_opts o = {x->options, x->r->keys.deid_key,
			      sizeof(x->r->keys.deid_key), x->o->domain,
			      pseudo[0] ? pseudo : NULL};
	out->limit = in->len + (16u << 20);
	int rc = strata_buf_reserve(out, in->len + 65536);
	if (!rc)
		rc = strata_deid_dicom(in->ptr, in->len, &o, out, &rep);
	pr->skip = true;
	if (rc) {
		report(x, rel, "skipped", strata_error_msg(), false, 0);
		return 0;
	}
	if (rep.held_back) {
		report(x, rel, "held", rep.reason, false, 0);
		return 0;
	}
	/* the proof: no identifier left, and strata reads it back (what it
	 * reads is what the catalog will hold) */
	if ((rc = scan_identifiers(x, rel, a, out, &rep)))
		return rc;
	if (strata_format_extract_mem(STRATA_FMT_DICOM, rel, out->ptr, out->len,
				      k->out_attrs, &k->out_cuts))
		return strata_error_set(STRATA_ECORRUPT,
					"the de-identified '%s' does not read "
					"back: nothing was stored; report this "
					"file",
					rel);
	if ((rc = link_subject(x, i, pid)) || (rc = known_chunks(k)))
		return rc;
	pr->skip = false;
	pr->data = out->ptr;
	pr->data_len = out->len;
	pr->attrs = k->out_attrs;
	pr->cuts = &k->out_cuts;
	pr->known = k->known;
	pr->nknown = k->nknown;
	report(x, rel, "deid", NULL, false, rep.uids_remapped);
	return 0;
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

static int deid_hts(deid_ctx *x, size_t i, const char *src, const char *dst,
		    bool *skip)
{
	const char *rel = x->files[i].path;
	strata_hts_deid_opts o;
	strata_hts_deid_report rep;
	memset(&o, 0, sizeof(o));
	memset(&rep, 0, sizeof(rep));
	o.pseudonym = pseudonym_cb;
	o.payload = x->r;
	o.fastq_strip_names = x->o->fastq_strip_names;
	o.reference = x->o->reference;
	*skip = true;
	int rc = strata_hts_deid(src, dst, &o, &rep);
	if (rc == STRATA_ENOMEM || rc == STRATA_ENOSPC)
		return rc;
	if (rc) {
		report(x, rel, "skipped", strata_error_msg(), true, 0);
		return 0;
	}
	if ((rc = reread(rel, dst)) || (rc = samples_gone(src, dst, rel)) ||
	    (rc = link_subject(x, i, rep.first_sample)))
		return rc;
	*skip = false;
	report(x, rel, "deid", NULL, true, 0);
	return 0;
}

/* ---- the source: files read from the store, one per worker ---- */

static void keys_free(dkeys *k)
{
	strata_codec_free(k->codec);
	strata_hmac_free(k->hmac);
	strata_buf_release(&k->in);
	strata_buf_release(&k->out);
	strata_free(k->chunks);
	strata_free(k->known);
	strata_attrs_free(k->src_attrs);
	strata_attrs_free(k->out_attrs);
	strata_free(k->src_cuts.off);
	strata_free(k->out_cuts.off);
	memset(k, 0, sizeof(*k));
}

static dkeys *keys_take(deid_ctx *x)
{
	dkeys *k = NULL;
	pthread_mutex_lock(&x->lock);
	for (size_t i = 0; !k && i < DKEYS; i++)
		if (!x->keys[i].busy) {
			k = &x->keys[i];
			k->busy = true;
		}
	pthread_mutex_unlock(&x->lock);
	if (k && !k->codec &&
	    (strata_codec_new(&k->codec, &x->r->keys, 1) ||
	     strata_hmac_new(&k->hmac, x->r->keys.id_key, 32) ||
	     strata_attrs_new(&k->src_attrs) ||
	     strata_attrs_new(&k->out_attrs))) {
		keys_free(k);
		pthread_mutex_lock(&x->lock);
		k->busy = false;
		pthread_mutex_unlock(&x->lock);
		return NULL;
	}
	return k;
}

static void keys_give(deid_ctx *x, dkeys *k)
{
	if (k->in.cap > (64u << 20)) /* a large file's: not kept */
		strata_buf_release(&k->in);
	if (k->out.cap > (64u << 20))
		strata_buf_release(&k->out);
	pthread_mutex_lock(&x->lock);
	k->busy = false;
	pthread_mutex_unlock(&x->lock);
}

/* A write to the staging directory failed (errno). */
static int stage_err(const deid_ctx *x)
{
	return strata_error_set(strata_errno_code(errno),
				"cannot write to the staging directory '%s': "
				"%s (genomic files are de-identified there: "
				"make room below the repository's local "
				"directory and run deid again; no version was "
				"made)",
				x->stage, strerror(errno));
}

/* Loading a file's chunks: into memory (b) or to a file (fd). */
typedef struct chunk_sink {
	deid_ctx *x;
	dkeys *k;
	size_t file;
	uint32_t from;
	strata_buf *b;
	int fd;
	strata_buf view, scratch;
} chunk_sink;

static strata_buf *chunk_into(void *payload, uint32_t j)
{
	chunk_sink *s = payload;
	strata_buf *b = s->b;
	(void)j;
	/* into memory: decoded in place, in the room reserved for the whole
	 * file (a limit, so the view is never reallocated) */
	if (s->fd < 0 && b->cap - b->len > 1) {
		strata_buf v = {b->ptr + b->len, 0, b->cap - b->len,
				b->cap - b->len - 1};
		s->view = v;
		return &s->view;
	}
	return &s->scratch;
}

static int chunk_done(void *payload, uint32_t j, strata_buf *c)
{
	chunk_sink *s = payload;
	dkeys *k = s->k;
	if (s->fd >= 0)
		return strata_write_all(s->fd, c->ptr, c->len) ? stage_err(s->x)
							       : 0;
	/* in memory: where each chunk is, and its id */
	if (strata_grow(&k->chunks, &k->capchunks, k->nchunks,
			sizeof(*k->chunks)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	repo_known *kc = &k->chunks[k->nchunks++];
	kc->off = s->b->len;
	kc->len = c->len;
	memcpy(kc->id, s->x->files[s->file].n.chunks[s->from + j], 32);
	if (c == &s->view) {
		s->b->len += c->len;
		return 0;
	}
	return strata_buf_put(s->b, c->ptr, c->len);
}

/* Chunks [from, to) of file i: appended to `b`, or written to `fd`. They
 * are checked only by the AEAD: their bytes are either stored again under
 * their own ids (pixel data, see known_chunks) or chunked and identified
 * anew. */
static int load_chunks(deid_ctx *x, dkeys *k, size_t i, uint32_t from,
		       uint32_t to, strata_buf *b, int fd)
{
	const strata_node *n = &x->files[i].n;
	chunk_sink s = {x, k, i, from, b, fd, STRATA_BUF_INIT, STRATA_BUF_INIT};
	repo_blob_sink sink = {chunk_into, chunk_done, &s};
	s.scratch.limit = STRATA_BLOB_MAX;
	if (!from)
		k->nchunks = 0;
	int rc = from < to
		     ? repo__load_blobs(x->r, k->codec, NULL, n->chunks + from,
					to - from, &sink)
		     : 0;
	if (rc)
		strata_error_prefix(rc, "'%s': ", x->files[i].path);
	strata_buf_release(&s.scratch);
	return rc;
}

/* A genomic file through the staging directory: the source written to
 * it, the de-identified output named in out->path. */
static int produce_hts(deid_ctx *x, dkeys *k, size_t i, const strata_buf *first,
		       uint32_t next, repo_produced *out)
{
	const char *rel = x->files[i].path;
	const char *base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	char dir[PATH_MAX + 32], src[PATH_MAX + 300], dst[PATH_MAX + 300];
	snprintf(dir, sizeof(dir), "%s/%zu", x->stage, i);
	snprintf(src, sizeof(src), "%s/in-%s", dir, base);
	snprintf(dst, sizeof(dst), "%s/%s", dir, base);
	int rc = strata_mkdir_p(dir, 0700);
	if (rc)
		return rc;
	int fd = open(src, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return stage_err(x);
	strata_buf none = STRATA_BUF_INIT;
	if (strata_write_all(fd, first->ptr, first->len))
		rc = stage_err(x);
	if (!rc)
		rc = load_chunks(x, k, i, next, x->files[i].n.nchunks, &none,
				 fd);
	if (close(fd) && !rc)
		rc = strata_error_set(STRATA_EIO, "cannot write '%s'", src);
	bool skip = true;
	if (!rc)
		rc = deid_hts(x, i, src, dst, &skip);
	unlink(src);
	if (!rc && !skip && !(out->path = strata_strdup(dst)))
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
	if (rc || skip) {
		unlink(dst);
		rmdir(dir);
	}
	out->skip = skip;
	return rc;
}

#define WHOLE_MAX (64u << 20) /* read whole before knowing the format */

static int produce(void *payload, size_t i, repo_produced *out)
{
	deid_ctx *x = payload;
	const dfile *f = &x->files[i];
	dkeys *k = keys_take(x);
	if (!k)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	strata_buf *in = &k->in;
	out->handle = k;
	strata_buf_reset(in);
	strata_buf_reset(&k->out);
	in->limit = (size_t)4 << 30;
	/* a small file is read whole, in as few requests as its chunks
	 * allow; of a large one the first chunk tells what it is */
	uint32_t have = f->n.size <= WHOLE_MAX ? f->n.nchunks
			: f->n.nchunks	       ? 1
					       : 0;
	int rc = f->n.size < in->limit
		     ? strata_buf_reserve(in, (size_t)f->n.size)
		     : 0;
	if (!rc)
		rc = load_chunks(x, k, i, 0, have, in, -1);
	strata_format fmt = rc ? STRATA_FMT_UNKNOWN
			       : strata_format_sniff(in->ptr, in->len, f->path);
	if (rc)
		return rc;
	switch (fmt) {
	case STRATA_FMT_DICOM:
		if (!(rc = load_chunks(x, k, i, have, f->n.nchunks, in, -1)))
			rc = deid_dicom(x, k, i, out);
		break;
	case STRATA_FMT_FASTQ:
	case STRATA_FMT_SAM:
	case STRATA_FMT_BAM:
	case STRATA_FMT_CRAM:
	case STRATA_FMT_VCF:
	case STRATA_FMT_BCF:
		rc = produce_hts(x, k, i, in, have, out);
		break;
	default:
		/* no de-identifier: unknown content may identify someone */
		out->skip = true;
		report(x, f->path, "held",
		       fmt == STRATA_FMT_TIFF
			   ? "whole-slide and TIFF images may carry label "
			     "images and text: review them by hand"
		       : fmt == STRATA_FMT_NIFTI
			   ? "NIfTI headers and faces are not de-identified "
			     "by strata: review by hand"
			   : "no de-identifier for this kind of file",
		       false, 0);
		break;
	}
	return rc;
}

static void release(void *payload, size_t i, repo_produced *out)
{
	deid_ctx *x = payload;
	if (out->handle)
		keys_give(x, out->handle);
	out->handle = NULL;
	if (out->path) {
		unlink(out->path);
		char dir[PATH_MAX + 32];
		snprintf(dir, sizeof(dir), "%s/%zu", x->stage, i);
		rmdir(dir);
		strata_free(out->path);
		out->path = NULL;
	}
}

static const char *src_path(void *payload, size_t i)
{
	return ((deid_ctx *)payload)->files[i].path;
}

static uint64_t src_size(void *payload, size_t i)
{
	return ((deid_ctx *)payload)->files[i].n.size;
}

static void src_attr(void *payload, size_t i, uint32_t *mode, int64_t *mtime)
{
	const strata_node *n = &((deid_ctx *)payload)->files[i].n;
	*mode = n->mode;
	*mtime = n->mtime_ns;
}

static const char *src_subject(void *payload, size_t i)
{
	return ((deid_ctx *)payload)->files[i].subject;
}

/* Every file produced: a version only if something was de-identified. */
static int src_done(void *payload)
{
	deid_ctx *x = payload;
	strata_deid_stats *st = x->st;
	if (st->dicom || st->genomic)
		return 0;
	return strata_error_set(STRATA_EINVAL,
				"nothing in '%s' could be de-identified "
				"(%" PRIu64 " held back, %" PRIu64
				" skipped): no version made",
				x->spec, st->held_back, st->skipped);
}

/* The source version's files, in tree order (repo__walk_tree). */
static int list_node(strata_buf *path, strata_node *n, void *payload)
{
	deid_ctx *x = payload;
	if (n->type == STRATA_NODE_DIR)
		return 0;
	if (n->type != STRATA_NODE_FILE) {
		report(x, (char *)path->ptr, "skipped", "not a regular file",
		       false, 0);
		return 0;
	}
	x->st->files++;
	x->bytes += n->size;
	if (strata_grow(&x->files, &x->cap, x->n, sizeof(*x->files)) ||
	    !(x->files[x->n].path = strata_strdup((char *)path->ptr)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	dfile *f = &x->files[x->n++];
	f->n = *n; /* its allocations move to the list */
	f->subject = NULL;
	n->name = NULL;
	n->chunks = NULL;
	n->nchunks = 0;
	n->target = NULL;
	return 0;
}

static void ctx_release(deid_ctx *x)
{
	for (size_t i = 0; i < x->n; i++) {
		strata_free(x->files[i].path);
		strata_free(x->files[i].subject);
		strata_node_release(&x->files[i].n);
	}
	strata_free(x->files);
	for (size_t i = 0; i < DKEYS; i++)
		keys_free(&x->keys[i]);
	strata_buf_release(&x->path);
	pthread_mutex_destroy(&x->lock);
}

int strata_repo_deid(strata_repo *r, const char *spec,
		     const strata_deid_run_opts *o, strata_deid_stats *st,
		     strata_deid_cb cb, void *payload)
{
	deid_ctx x;
	char recipe[1024], opts[512] = "";
	strata_snapshot s;
	uint8_t sid[32];
	int rc;
	memset(st, 0, sizeof(*st));
	memset(&x, 0, sizeof(x));
	x.r = r;
	x.o = o;
	x.st = st;
	x.cb = cb;
	x.payload = payload;
	x.spec = spec;
	pthread_mutex_init(&x.lock, NULL);
	if (o->profile && strcmp(o->profile, "basic")) {
		rc = strata_error_set(STRATA_EINVAL,
				      "unknown profile '%s': strata knows "
				      "'basic' (PS3.15 E.2) with options",
				      o->profile);
		goto done;
	}
	if ((rc = strata_deid_parse_options(o->options, &x.options)))
		goto done;
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
		goto done;
	for (unsigned b = 1; b && b <= STRATA_DEID_ALL_OPTIONS; b <<= 1)
		if (x.options & b) {
			size_t l = strlen(opts);
			snprintf(opts + l, sizeof(opts) - l, "%s%s",
				 l ? "+" : "", strata_deid_option_name(b));
		}
	/* reading the source is gated and audited as a restore for deid */
	rc = repo__gate_read(r, "restore", spec, NULL);
	if (!rc && !(rc = repo__open_spec(r, spec, &s, sid))) {
		rc = repo__walk_tree(r, s.root, &x.path, list_node, &x);
		strata_snapshot_release(&s);
	}
	repo__audit_done(r, rc, x.bytes);
	if (rc)
		goto done;
	/* staging for genomic files: private, below the repository's local
	 * directory */
	snprintf(x.stage, sizeof(x.stage), "%s/.deid-XXXXXX",
		 r->be->ops->local_dir(r->be));
	if (!mkdtemp(x.stage)) {
		rc = strata_error_set(strata_errno_code(errno),
				      "cannot create a staging directory "
				      "'%s': %s",
				      x.stage, strerror(errno));
		goto done;
	}
	/* the new version: curated, deid, with lineage and recipe */
	snprintf(recipe, sizeof(recipe),
		 "tool=strata-deid,version=%s,profile=basic,options=%s,"
		 "standard=PS3.15-%s,key=%s,domain=%s",
		 STRATA_VERSION, opts[0] ? opts : "none",
		 strata_deid_revision(), KEY_VERSION,
		 o->domain && *o->domain ? o->domain : "default");
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
	/* from a remote store each worker waits on its requests most of the
	 * time (one per chunk): more of them hide that latency */
	io.threads = o->threads				    ? o->threads
		     : strncmp(r->be->location, "s3://", 5) ? 0
							    : 8;
	repo_source src = {x.n,	    &x,	     src_path,	  src_size, src_attr,
			   produce, release, src_subject, src_done};
	rc = repo__ingest_source(r, &src, &io, &st->ingest);
	snprintf(st->recipe, sizeof(st->recipe), "%s", recipe);
	rm_rf(x.stage);
done:
	ctx_release(&x);
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
