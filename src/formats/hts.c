/*
 * hts.c - SAM/BAM/CRAM and VCF/BCF reader: headers only, through htslib.
 * A bounded pre-check walks each header's length fields before htslib
 * reads it (htslib allocates what a header declares), CRAM never reaches
 * the network for a reference, and the variant count comes from an index
 * beside the file, never from the records. Attributes: metadata-genomics.md.
 */
#include <htslib/bgzf.h>
#include <htslib/hfile.h>
#include <htslib/hts.h>
#include <htslib/hts_log.h>
#include <htslib/kstring.h>
#include <htslib/sam.h>
#include <htslib/vcf.h>

#include "common/common.h"
#include "strata/formats.h"
#include "formats/genome_build.h"

#define HDR_MAX ((uint64_t)64 << 20) /* decompressed header bytes */
#define LINES_MAX ((uint64_t)1 << 21)
#define CRAM_WIN 65536
#define CRAM_MAX_BLOCKS 1024
#define IDX_MAX ((off_t)256 << 20)
#define M5_LOOKUPS 256 /* primary chromosomes come first in practice */
#define LIST_MAX 4096  /* joined lists are cut (with "…") past this */

/* Local-only reference paths: /dev/null is not a directory, so nothing
 * under it can exist, and htslib falls back to no server. */
#define NO_REF_PATH "/dev/null/strata-no-ref/%s"
#define NO_REF_CACHE "/dev/null/strata-no-ref-cache/%2s/%2s/%s"

static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

bool strata_ref_is_remote(const char *v)
{
	return !v || !*v || strstr(v, "://") || strcasestr(v, "http") ||
	       strcasestr(v, "ftp");
}

/*
 * htslib 1.16 fetches missing CRAM references from EBI's server when
 * REF_PATH is unset, and from any URL REF_PATH names. Once per process,
 * before any file is opened: keep a local-only REF_PATH, else replace it.
 * Also silence htslib's own stderr logging (readers never print).
 */
static void net_guard(void)
{
	if (strata_ref_is_remote(getenv("REF_PATH")))
		setenv("REF_PATH", NO_REF_PATH, 1);
	if (strata_ref_is_remote(getenv("REF_CACHE")))
		setenv("REF_CACHE", NO_REF_CACHE, 1);
	hts_set_log_level(HTS_LOG_OFF);
}

/* ---- bounded pre-check of the header, before htslib reads it ---- */

typedef struct pre {
	BGZF *z;
	const char *path;
	uint64_t used;
	uint64_t lines;
	uint8_t *buf; /* CRAM_WIN bytes of scratch */
} pre;

static int pre_read(pre *p, void *dst, size_t n, const char *what)
{
	if (p->used + n > HDR_MAX)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': header larger than %" PRIu64
					" MiB at %s",
					p->path, HDR_MAX >> 20, what);
	ssize_t got = bgzf_read(p->z, dst, n);
	if (got < 0)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': bad compressed data in %s",
					p->path, what);
	if ((size_t)got != n)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': header truncated in %s", p->path,
					what);
	p->used += n;
	return 0;
}

static int pre_skip(pre *p, uint64_t n, const char *what)
{
	if (p->used + n > HDR_MAX)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': header larger than %" PRIu64
					" MiB at %s",
					p->path, HDR_MAX >> 20, what);
	while (n > 0) {
		size_t k = n < CRAM_WIN ? (size_t)n : CRAM_WIN;
		int rc = pre_read(p, p->buf, k, what);
		if (rc)
			return rc;
		for (size_t i = 0; i < k; i++)
			p->lines += p->buf[i] == '\n';
		if (p->lines > LINES_MAX)
			return strata_error_set(STRATA_ECORRUPT,
						"'%s': more than %" PRIu64
						" header lines",
						p->path, LINES_MAX);
		n -= k;
	}
	return 0;
}

static int pre_i32(pre *p, int32_t *v, const char *what)
{
	uint8_t b[4];
	int rc = pre_read(p, b, 4, what);
	*v = (int32_t)strata_get_le32(b);
	if (!rc && *v < 0)
		rc = strata_error_set(STRATA_ECORRUPT,
				      "'%s': negative length in %s", p->path,
				      what);
	return rc;
}

static int pre_bam(pre *p)
{
	uint8_t magic[4];
	int32_t l_text, n_ref, l_name;
	int rc = pre_read(p, magic, 4, "magic");
	if (!rc && memcmp(magic, "BAM\1", 4) != 0)
		rc = strata_error_set(STRATA_ECORRUPT, "'%s': bad BAM magic",
				      p->path);
	if (!rc)
		rc = pre_i32(p, &l_text, "header text length");
	if (!rc)
		rc = pre_skip(p, (uint64_t)l_text, "header text");
	if (!rc)
		rc = pre_i32(p, &n_ref, "reference count");
	for (int32_t i = 0; !rc && i < n_ref; i++) {
		rc = pre_i32(p, &l_name, "reference name length");
		if (!rc && l_name == 0)
			rc = strata_error_set(STRATA_ECORRUPT,
					      "'%s': empty reference name",
					      p->path);
		if (!rc)
			rc = pre_skip(p, (uint64_t)l_name + 4, "reference");
	}
	return rc;
}

static int pre_bcf(pre *p)
{
	uint8_t magic[5], l[4];
	int rc = pre_read(p, magic, 5, "magic");
	if (!rc && memcmp(magic, "BCF\2", 4) != 0)
		rc = strata_error_set(STRATA_ECORRUPT,
				      "'%s': bad BCF magic (only BCF 2.x)",
				      p->path);
	if (!rc)
		rc = pre_read(p, l, 4, "header length");
	if (!rc)
		rc = pre_skip(p, strata_get_le32(l), "header text");
	return rc;
}

/* Text SAM/VCF: header lines start with `lead`; a VCF header ends after
 * its #CHROM line. Only counts bytes and lines. */
static int pre_text(pre *p, char lead, bool vcf)
{
	size_t pos = 0, col = 0;
	bool chrom = false;
	for (;;) {
		if (p->used >= HDR_MAX)
			return strata_error_set(STRATA_ECORRUPT,
						"'%s': header larger than "
						"%" PRIu64 " MiB",
						p->path, HDR_MAX >> 20);
		ssize_t got = bgzf_read(p->z, p->buf, CRAM_WIN);
		if (got < 0)
			return strata_error_set(STRATA_ECORRUPT,
						"'%s': bad compressed data",
						p->path);
		if (got == 0)
			return 0;
		for (pos = 0; pos < (size_t)got; pos++, p->used++) {
			char c = (char)p->buf[pos];
			if (col == 0 && c != lead)
				return 0;
			if (vcf && col < 6)
				chrom =
				    (col == 0 || chrom) && c == "#CHROM"[col];
			col++;
			if (c != '\n')
				continue;
			if (++p->lines > LINES_MAX)
				return strata_error_set(
				    STRATA_ECORRUPT,
				    "'%s': more than %" PRIu64 " header lines",
				    p->path, LINES_MAX);
			if (vcf && chrom && col > 6)
				return 0;
			col = 0;
		}
	}
}

/* ---- CRAM: the file definition and the header container ---- */

static int itf8(strata_rd *r, int64_t *v)
{
	uint8_t b0 = strata_rd_u8(r);
	int extra = b0 < 0x80	? 0
		    : b0 < 0xc0 ? 1
		    : b0 < 0xe0 ? 2
		    : b0 < 0xf0 ? 3
				: 4;
	uint64_t x = extra == 4 ? (b0 & 0x0fu) : (b0 & (0x7fu >> extra));
	for (int i = 0; i < extra; i++) {
		uint8_t b = strata_rd_u8(r);
		x = extra == 4 && i == 3 ? x << 4 | (b & 0x0fu) : x << 8 | b;
	}
	*v = (int64_t)(int32_t)(uint32_t)x;
	return r->err ? -1 : 0;
}

static void ltf8_skip(strata_rd *r)
{
	uint8_t b0 = strata_rd_u8(r);
	int extra = 0;
	while (extra < 8 && (b0 & (0x80u >> extra)))
		extra++;
	strata_rd_bytes(r, (size_t)extra);
}

static int cram_bad(const char *path, const char *what)
{
	return strata_error_set(STRATA_ECORRUPT, "'%s': bad CRAM header: %s",
				path, what);
}

static ssize_t pread_full(int fd, uint8_t *b, size_t n, off_t at)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = pread(fd, b + got, n - got, at + (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -1 : (ssize_t)got;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* Walk the blocks of the header container: each within the container. */
static int cram_blocks(int fd, const char *path, int major, off_t at, off_t end,
		       int64_t nblocks, uint8_t *buf)
{
	if (nblocks < 0 || nblocks > CRAM_MAX_BLOCKS)
		return cram_bad(path, "block count");
	for (int64_t i = 0; i < nblocks; i++) {
		int64_t id, comp, raw;
		strata_rd r;
		ssize_t got = pread_full(fd, buf, 32, at);
		if (got < 0)
			return strata_error_set(STRATA_EIO, "'%s': %s", path,
						strerror(errno));
		strata_rd_init(&r, buf, (size_t)got);
		strata_rd_bytes(&r, 2); /* method, content type */
		if (itf8(&r, &id) || itf8(&r, &comp) || itf8(&r, &raw))
			return cram_bad(path, "truncated block header");
		if (comp < 0 || raw < 0 || (uint64_t)raw > HDR_MAX)
			return cram_bad(path, "block size");
		at += (off_t)r.pos;
		if (comp > end - at)
			return cram_bad(path, "block larger than container");
		at += (off_t)comp + (major >= 3 ? 4 : 0);
	}
	return 0;
}

static int pre_cram(int fd, const char *path, off_t size, uint8_t *buf)
{
	strata_rd r;
	int64_t v, nblocks, nland;
	ssize_t got = pread_full(fd, buf, CRAM_WIN, 0);
	if (got < 26 || memcmp(buf, "CRAM", 4) != 0)
		return cram_bad(path, "file definition");
	int major = buf[4];
	if (major < 1 || major > 3)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': unsupported CRAM version %d.%d",
					path, major, buf[5]);
	strata_rd_init(&r, buf + 26, (size_t)got - 26);
	uint32_t len = strata_rd_u32(&r);
	if (r.err || len > INT32_MAX)
		return cram_bad(path, "header length");
	if (major == 1)
		return (off_t)len > size - 30 || len > HDR_MAX
			   ? cram_bad(path, "header length")
			   : 0;
	for (int i = 0; i < 4; i++) /* ref id, start, span, records */
		itf8(&r, &v);
	ltf8_skip(&r); /* record counter */
	ltf8_skip(&r); /* bases */
	if (itf8(&r, &nblocks) || itf8(&r, &nland) || nland < 0 ||
	    (size_t)nland > strata_rd_left(&r))
		return cram_bad(path, "container header");
	for (int64_t i = 0; i < nland; i++)
		itf8(&r, &v);
	if (major >= 3)
		strata_rd_u32(&r);
	if (r.err)
		return cram_bad(path, "container header");
	off_t at = 26 + (off_t)r.pos;
	if ((off_t)len > size - at)
		return cram_bad(path, "container larger than file");
	return cram_blocks(fd, path, major, at, at + (off_t)len, nblocks, buf);
}

static int precheck(const char *path, enum htsExactFormat f, off_t size)
{
	pre p = {.path = path};
	int fd = -1, rc = 0;
	hFILE *hf = NULL;
	if (!(p.buf = strata_malloc(CRAM_WIN)))
		return STRATA_ENOMEM;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = strata_error_set(STRATA_EIO, "'%s': %s", path,
				      strerror(errno));
		goto out;
	}
	if (f == cram) {
		rc = pre_cram(fd, path, size, p.buf);
		goto out;
	}
	if (!(hf = hdopen(fd, "r")) || !(p.z = bgzf_hopen(hf, "r"))) {
		rc = strata_error_set(STRATA_EIO, "'%s': cannot read", path);
		goto out;
	}
	hf = NULL;
	fd = -1; /* both owned by p.z now */
	if (f == bam)
		rc = pre_bam(&p);
	else if (f == bcf)
		rc = pre_bcf(&p);
	else
		rc = pre_text(&p, f == sam ? '@' : '#', f == vcf);
out:
	if (p.z)
		bgzf_close(p.z);
	if (hf)
		hclose_abruptly(hf);
	else if (fd >= 0)
		close(fd);
	strata_free(p.buf);
	return rc;
}

/* ---- lists of header values ---- */

typedef struct strlist {
	char **v;
	size_t n, cap;
} strlist;

static int sl_add(strlist *l, const char *s)
{
	char *d;
	if (strata_grow(&l->v, &l->cap, l->n, sizeof(*l->v)) ||
	    !(d = strata_strdup(s)))
		return STRATA_ENOMEM;
	l->v[l->n++] = d;
	return 0;
}

static void sl_free(strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		strata_free(l->v[i]);
	strata_free(l->v);
	memset(l, 0, sizeof(*l));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Join with ',' (sorted and distinct if `sorted`); cut past LIST_MAX. */
static int sl_set(strata_attrs *out, const char *key, strlist *l, bool sorted)
{
	strata_buf b = STRATA_BUF_INIT;
	int rc = 0;
	if (l->n == 0)
		return 0;
	if (sorted && l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_str);
	for (size_t i = 0; i < l->n && !rc && b.len <= LIST_MAX; i++) {
		if (sorted && i && strcmp(l->v[i], l->v[i - 1]) == 0)
			continue;
		if (b.len)
			rc = strata_buf_put_u8(&b, ',');
		if (!rc)
			rc = strata_buf_puts(&b, l->v[i]);
	}
	if (!rc)
		rc = strata_genome__set_str(out, key, (char *)b.ptr, b.len);
	strata_buf_release(&b);
	return rc;
}

static int set_text(strata_attrs *out, const char *key, const char *s)
{
	return s ? strata_genome__set_str(out, key, s, strlen(s)) : 0;
}

/* ---- SAM/BAM/CRAM ---- */

static int sam_contigs(strata_attrs *out, sam_hdr_t *h)
{
	int n = sam_hdr_nref(h), rc = STRATA_ENOMEM;
	strata_contig *c = strata_calloc(n > 0 ? (size_t)n : 1, sizeof(*c));
	strlist m5 = {0}, hints = {0};
	kstring_t ks = KS_INITIALIZE;
	if (!c)
		return STRATA_ENOMEM;
	for (int i = 0; i < n; i++) {
		c[i].name = sam_hdr_tid2name(h, i);
		c[i].len = sam_hdr_tid2len(h, i);
		if (!c[i].name)
			c[i].name = "";
		if (i < M5_LOOKUPS &&
		    sam_hdr_find_tag_id(h, "SQ", "SN", c[i].name, "M5", &ks) ==
			0) {
			if (sl_add(&m5, ks.s))
				goto out;
			c[i].md5 = m5.v[m5.n - 1];
		}
	}
	const char *tags[] = {"AS", "UR"};
	for (int t = 0; t < 2; t++) {
		if (sam_hdr_find_tag_pos(h, "SQ", 0, tags[t], &ks) != 0)
			continue;
		kstring_t line = KS_INITIALIZE;
		int e = ksprintf(&line, "@SQ %s:%s", tags[t], ks.s) < 0 ||
			sl_add(&hints, line.s);
		free(line.s);
		if (e)
			goto out;
	}
	rc = strata_genome__attrs(out, c, (size_t)(n > 0 ? n : 0),
				  (const char *const *)hints.v, hints.n);
out:
	free(ks.s);
	sl_free(&m5);
	sl_free(&hints);
	strata_free(c);
	return rc;
}

/* Values of `tag` over all lines of `type` (first line only if `first`). */
static int collect(sam_hdr_t *h, const char *type, const char *tag,
		   const char *alt, strlist *l)
{
	int n = sam_hdr_count_lines(h, type), rc = 0;
	kstring_t ks = KS_INITIALIZE;
	for (int i = 0; i < n && !rc; i++) {
		if (sam_hdr_find_tag_pos(h, type, i, tag, &ks) == 0 ||
		    (alt && sam_hdr_find_tag_pos(h, type, i, alt, &ks) == 0))
			rc = sl_add(l, ks.s);
	}
	free(ks.s);
	return rc;
}

static int first_rg_tag(strata_attrs *out, sam_hdr_t *h, const char *tag,
			const char *key, bool upper)
{
	kstring_t ks = KS_INITIALIZE;
	int rc = 0;
	if (sam_hdr_find_tag_pos(h, "RG", 0, tag, &ks) == 0) {
		for (size_t i = 0; upper && i < ks.l; i++)
			if (ks.s[i] >= 'a' && ks.s[i] <= 'z')
				ks.s[i] = (char)(ks.s[i] - 'a' + 'A');
		rc = strata_genome__set_str(out, key, ks.s, ks.l);
	}
	free(ks.s);
	return rc;
}

static int sam_lists(strata_attrs *out, sam_hdr_t *h)
{
	static const struct {
		const char *type, *tag, *alt, *key;
	} lists[] = {
	    {"RG", "SM", NULL, "seq.samples"},
	    {"RG", "LB", NULL, "seq.library"},
	    {"RG", "CN", NULL, "seq.center"},
	    {"PG", "PN", "ID", "seq.programs"},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]) && !rc; i++) {
		strlist l = {0};
		rc = collect(h, lists[i].type, lists[i].tag, lists[i].alt, &l);
		if (!rc)
			rc = sl_set(out, lists[i].key, &l, true);
		sl_free(&l);
	}
	return rc;
}

static int sam_attrs(strata_attrs *out, htsFile *fp, const char *path)
{
	sam_hdr_t *h = sam_hdr_read(fp);
	kstring_t ks = KS_INITIALIZE;
	int rc;
	if (!h)
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': unreadable SAM/BAM/CRAM header",
					path);
	int nrg = sam_hdr_count_lines(h, "RG");
	rc = sam_contigs(out, h);
	if (!rc && sam_hdr_find_tag_hd(h, "SO", &ks) == 0)
		rc = strata_genome__set_str(out, "seq.sort_order", ks.s, ks.l);
	if (!rc)
		rc = strata_attrs_set_int(out, "seq.read_groups",
					  nrg > 0 ? nrg : 0);
	if (!rc)
		rc = sam_lists(out, h);
	if (!rc)
		rc = first_rg_tag(out, h, "PL", "seq.platform", true);
	if (!rc)
		rc = first_rg_tag(out, h, "PM", "seq.platform_model", false);
	free(ks.s);
	sam_hdr_destroy(h);
	return rc;
}

/* ---- VCF/BCF ---- */

static const char *hrec_val(bcf_hrec_t *r, const char *key)
{
	int k = r ? bcf_hrec_find_key(r, key) : -1;
	return k >= 0 ? r->vals[k] : NULL;
}

static int vcf_contigs(strata_attrs *out, bcf_hdr_t *h, strlist *hints)
{
	int n = h->n[BCF_DT_CTG];
	strata_contig *c = strata_calloc(n > 0 ? (size_t)n : 1, sizeof(*c));
	int rc = 0;
	bool declared = false;
	if (!c)
		return STRATA_ENOMEM;
	for (int i = 0; i < n && !rc; i++) {
		bcf_hrec_t *r = h->id[BCF_DT_CTG][i].val
				    ? h->id[BCF_DT_CTG][i].val->hrec[0]
				    : NULL;
		const char *len = hrec_val(r, "length"), *as;
		uint64_t v;
		c[i].name = h->id[BCF_DT_CTG][i].key;
		c[i].len =
		    len && strata_parse_u64(len, &v) == 0 && v <= INT64_MAX
			? (int64_t)v
			: -1;
		c[i].md5 = hrec_val(r, "md5");
		if (!declared && (as = hrec_val(r, "assembly"))) {
			declared = true;
			kstring_t s = KS_INITIALIZE;
			rc = ksprintf(&s, "##contig assembly=%s", as) < 0 ||
				     sl_add(hints, s.s)
				 ? STRATA_ENOMEM
				 : 0;
			free(s.s);
		}
	}
	if (!rc)
		rc = strata_genome__attrs(out, c, (size_t)(n > 0 ? n : 0),
					  (const char *const *)hints->v,
					  hints->n);
	strata_free(c);
	return rc;
}

/* ##reference, ##assembly (both also build hints) and ##source lines. */
static int vcf_general(strata_attrs *out, bcf_hdr_t *h, strlist *hints)
{
	strlist src = {0};
	int rc = 0;
	for (int i = 0; i < h->nhrec && !rc; i++) {
		bcf_hrec_t *r = h->hrec[i];
		if (r->type != BCF_HL_GEN || !r->key || !r->value)
			continue;
		bool ref = strcmp(r->key, "reference") == 0;
		if (strcmp(r->key, "source") == 0) {
			rc = sl_add(&src, r->value);
			continue;
		}
		if (!ref && strcmp(r->key, "assembly") != 0)
			continue;
		kstring_t s = KS_INITIALIZE;
		rc = ksprintf(&s, "##%s=%s", r->key, r->value) < 0 ||
			     sl_add(hints, s.s)
			 ? STRATA_ENOMEM
			 : 0;
		free(s.s);
		if (!rc && ref && !strata_attrs_find(out, "vcf.reference"))
			rc = set_text(out, "vcf.reference", r->value);
	}
	if (!rc)
		rc = sl_set(out, "vcf.source", &src, true);
	sl_free(&src);
	return rc;
}

static bool small_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       st.st_size <= IDX_MAX;
}

/* Records per the index's own statistics (what `bcftools index -n` sums);
 * nothing when there is no usable index. */
static int vcf_count(strata_attrs *out, const char *spath, bool bgzf)
{
	static const char *const ext[] = {".tbi", ".csi"};
	kstring_t ip = KS_INITIALIZE;
	hts_idx_t *idx = NULL;
	int rc = 0;
	for (int e = bgzf ? 0 : 1; e < 2 && !idx; e++) {
		ip.l = 0;
		if (ksprintf(&ip, "%s%s", spath, ext[e]) < 0) {
			rc = STRATA_ENOMEM;
			goto out;
		}
		if (small_file(ip.s))
			idx = hts_idx_load2(spath, ip.s);
	}
	if (!idx)
		goto out;
	int nseq = hts_idx_nseq(idx), stats = 0;
	uint64_t sum = 0, m, u;
	for (int i = 0; i < nseq; i++) {
		if (hts_idx_get_stat(idx, i, &m, &u) == 0) {
			stats++;
			sum += m;
		}
	}
	if ((stats > 0 || nseq == 0) && sum <= INT64_MAX)
		rc = strata_attrs_set_int(out, "vcf.variant_count",
					  (int64_t)sum);
out:
	if (idx)
		hts_idx_destroy(idx);
	free(ip.s);
	return rc;
}

static int sample_names(strata_attrs *out, bcf_hdr_t *h)
{
	int n = bcf_hdr_nsamples(h);
	/* borrowed names, joined in file order */
	strlist l = {.v = h->samples, .n = n > 0 ? (size_t)n : 0};
	int rc = strata_attrs_set_int(out, "vcf.samples", n);
	if (!rc)
		rc = sl_set(out, "vcf.sample_names", &l, false);
	return rc;
}

static int vcf_attrs(strata_attrs *out, htsFile *fp, const char *path,
		     const char *spath)
{
	bcf_hdr_t *h = bcf_hdr_read(fp);
	strlist hints = {0};
	int rc;
	if (!h)
		return strata_error_set(
		    STRATA_ECORRUPT, "'%s': unreadable VCF/BCF header", path);
	rc = set_text(out, "vcf.version", bcf_hdr_get_version(h));
	if (!rc)
		rc = sample_names(out, h);
	if (!rc)
		rc = vcf_general(out, h, &hints);
	if (!rc)
		rc = vcf_contigs(out, h, &hints);
	if (!rc && hts_get_format(fp)->compression == bgzf)
		rc = vcf_count(out, spath, true);
	sl_free(&hints);
	bcf_hdr_destroy(h);
	return rc;
}

/* ---- entry ---- */

/* htslib treats "scheme:..." as a URL; a relative path gets "./". */
static char *safe_path(const char *path)
{
	kstring_t s = KS_INITIALIZE;
	if (ksprintf(&s, "%s%s", path[0] == '/' ? "" : "./", path) < 0)
		return NULL;
	char *d = strata_strdup(s.s);
	free(s.s);
	return d;
}

static int open_checked(const char *path, off_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return strata_error_set(STRATA_EIO, "'%s': %s", path,
					strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return strata_error_set(STRATA_EINVAL,
					"'%s': not a regular file", path);
	}
	*size = st.st_size;
	return fd;
}

static int read_opened(strata_attrs *out, hFILE **hfp, const char *path,
		       const char *spath, off_t size)
{
	htsFormat fmt;
	htsFile *fp;
	int rc;
	if (hts_detect_format2(*hfp, NULL, &fmt) < 0)
		return strata_error_set(STRATA_EIO, "'%s': cannot read", path);
	if (fmt.format != sam && fmt.format != bam && fmt.format != cram &&
	    fmt.format != vcf && fmt.format != bcf)
		return strata_error_set(STRATA_EINVAL,
					"'%s': not a SAM/BAM/CRAM/VCF/BCF file",
					path);
	if ((rc = precheck(spath, fmt.format, size)))
		return rc;
	if (!(fp = hts_hopen(*hfp, spath, "r")))
		return strata_error_set(STRATA_ECORRUPT,
					"'%s': htslib cannot open it", path);
	*hfp = NULL; /* owned by fp */
	if (fmt.category == sequence_data)
		rc = sam_attrs(out, fp, path);
	else
		rc = vcf_attrs(out, fp, path, spath);
	if (!rc && fmt.format == cram) {
		char v[32];
		int n = snprintf(v, sizeof(v), "%d.%d", fmt.version.major,
				 fmt.version.minor);
		rc = strata_attrs_set_str(out, "cram.version", v, (size_t)n);
	}
	hts_close(fp);
	return rc;
}

void strata_formats_init(void)
{
	pthread_once(&guard_once, net_guard);
}

int strata_hts_read(const char *path, strata_attrs *out)
{
	char *spath;
	hFILE *hf;
	off_t size = 0;
	int fd, rc;
	pthread_once(&guard_once, net_guard);
	if (!(spath = safe_path(path)))
		return STRATA_ENOMEM;
	if ((fd = open_checked(spath, &size)) < 0) {
		strata_free(spath);
		return fd;
	}
	if (!(hf = hdopen(fd, "r"))) {
		close(fd);
		strata_free(spath);
		return STRATA_ENOMEM;
	}
	rc = read_opened(out, &hf, path, spath, size);
	if (hf)
		hclose_abruptly(hf);
	if (rc)
		strata_attrs_clear(out);
	strata_free(spath);
	return rc;
}
