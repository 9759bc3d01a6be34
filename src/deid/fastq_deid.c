/*
 * fastq_deid.c - FASTQ(.gz) copy for the genomic scrubber: records are
 * checked (four lines, '@', '+', equal lengths) and written back as they
 * are, except that Illumina read names lose instrument, run and flowcell
 * when asked (docs/deid-genomics.md, "FASTQ").
 */
#include <zlib.h>

#include "common/common.h"
#include "deid/hts_deid.h"

#define LINE_MAX_BYTES ((size_t)64 << 20)
#define RD_BUF 65536

/* ---- names ---- */

typedef struct span {
	const char *p;
	size_t n;
} span;

static bool digits(span s, bool prefix)
{
	size_t i = 0;
	while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9')
		i++;
	return i > 0 && (prefix || i == s.n);
}

/* Split `w` at ':' into at most 9 fields; returns the count (9 = more). */
static size_t fields(span w, span *f)
{
	size_t nf = 0, start = 0;
	for (size_t i = 0; i <= w.n && nf < 9; i++) {
		if (i < w.n && w.p[i] != ':')
			continue;
		f[nf++] = (span){w.p + start, i - start};
		start = i + 1;
	}
	return nf;
}

/*
 * Illumina names: Casava >= 1.8 "INSTR:RUN:FLOWCELL:LANE:TILE:X:Y[:UMI]"
 * (7 or 8 fields) and older "INSTR:LANE:TILE:X:Y#INDEX/READ" (5 fields).
 * Returns the offset of LANE in w, or 0 when w is not such a name.
 */
static size_t illumina_lane(span w)
{
	span f[9];
	size_t nf = fields(w, f);
	if (f[0].n == 0)
		return 0;
	if ((nf == 7 || nf == 8) && digits(f[1], false) && f[2].n > 0 &&
	    digits(f[3], false) && digits(f[4], false) && digits(f[5], false) &&
	    digits(f[6], true))
		return (size_t)(f[3].p - w.p);
	if (nf == 5 && digits(f[1], false) && digits(f[2], false) &&
	    digits(f[3], false) && digits(f[4], true))
		return (size_t)(f[1].p - w.p);
	return 0;
}

/* Casava 1.8 read information "READ:FILTERED:CONTROL:INDEX", or a bare
 * index sequence ("CGATGTTT", "ACGT+TTGA"): neither names a device. */
static bool read_info(span w)
{
	span f[9];
	size_t nf = fields(w, f);
	if (nf == 4 && digits(f[0], false) && f[1].n == 1 &&
	    (f[1].p[0] == 'Y' || f[1].p[0] == 'N') && digits(f[2], false))
		return true;
	if (nf != 1)
		return false;
	for (size_t i = 0; i < w.n; i++)
		if (!strchr("ACGTN+", w.p[i]))
			return false;
	return w.n > 0;
}

static void put(char *out, size_t outlen, size_t *l, const char *p, size_t n)
{
	if (*l + n < outlen) {
		memcpy(out + *l, p, n);
		*l += n;
	}
}

bool strata_deid__fastq_name(const char *line, size_t len, char *out,
			     size_t outlen, size_t *outl)
{
	size_t l = 0, i = 1;
	bool first = true;
	assert(outlen > len);
	put(out, outlen, &l, "@", 1);
	while (i < len) {
		size_t s = i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		span w = {line + s, i - s};
		size_t lane = illumina_lane(w);
		/* the first word is the name; later words are comments */
		if (first || lane || read_info(w)) {
			if (!first)
				put(out, outlen, &l, " ", 1);
			put(out, outlen, &l, w.p + lane, w.n - lane);
		}
		first = false;
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
	}
	out[l] = '\0';
	*outl = l;
	return l != len || memcmp(out, line, len) != 0;
}

/* ---- buffered line reader over zlib (plain files pass through) ---- */

typedef struct rd {
	gzFile g;
	const char *path;
	uint8_t *buf;
	size_t pos, len;
	bool eof;
} rd;

static int rd_fill(rd *r)
{
	int n = gzread(r->g, r->buf, RD_BUF);
	if (n < 0) {
		int e;
		const char *m = gzerror(r->g, &e);
		return strata_error_set(
		    e == Z_ERRNO ? STRATA_EIO : STRATA_ECORRUPT, "'%s': %s",
		    r->path, e == Z_ERRNO ? strerror(errno) : m);
	}
	r->pos = 0;
	r->len = (size_t)n;
	r->eof = n == 0;
	return 0;
}

/* One line into `b` (newline kept); 1 = a line, 0 = end of input. */
static int rd_line(rd *r, strata_buf *b)
{
	b->len = 0;
	for (;;) {
		if (r->pos == r->len) {
			int rc = rd_fill(r);
			if (rc)
				return rc;
			if (r->eof)
				return b->len > 0;
		}
		uint8_t *s = r->buf + r->pos;
		uint8_t *nl = memchr(s, '\n', r->len - r->pos);
		size_t n = nl ? (size_t)(nl - s) + 1 : r->len - r->pos;
		if (strata_buf_put(b, s, n))
			return strata_error_set(
			    STRATA_ECORRUPT, "'%s': line longer than %zu MiB",
			    r->path, LINE_MAX_BYTES >> 20);
		r->pos += n;
		if (nl)
			return 1;
	}
}

/* Length without the line end ("\n" or "\r\n"). */
static size_t body_len(const strata_buf *b)
{
	size_t n = b->len;
	if (n && b->ptr[n - 1] == '\n')
		n--;
	if (n && b->ptr[n - 1] == '\r')
		n--;
	return n;
}

/* ---- records ---- */

typedef struct fq {
	rd in;
	gzFile out;
	strata_buf l[4];
	char *name;
	size_t name_cap;
	const strata_hts_deid_opts *o;
	strata_hts_deid_report *rep;
} fq;

static int wr(fq *f, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n > INT_MAX || gzwrite(f->out, p, (unsigned)n) != (int)n)
		return strata_error_set(STRATA_EIO, "fastq: write failed: %s",
					strerror(errno));
	return 0;
}

static int bad(fq *f, uint64_t rec, const char *what)
{
	return strata_error_set(STRATA_ECORRUPT, "'%s': record %" PRIu64 ": %s",
				f->in.path, rec + 1, what);
}

static int write_name(fq *f)
{
	strata_buf *b = &f->l[0];
	size_t n = body_len(b), outl;
	if (!f->o->fastq_strip_names)
		return wr(f, b->ptr, b->len);
	if (n + 1 > f->name_cap) {
		char *p = strata_realloc(f->name, n + 1);
		if (!p)
			return STRATA_ENOMEM;
		f->name = p;
		f->name_cap = n + 1;
	}
	if (strata_deid__fastq_name((const char *)b->ptr, n, f->name,
				    f->name_cap, &outl))
		f->rep->read_names_stripped++;
	int rc = wr(f, f->name, outl);
	return rc ? rc : wr(f, b->ptr + n, b->len - n);
}

/* The '+' line may repeat the name: with stripping, keep '+' alone. */
static int write_plus(fq *f)
{
	strata_buf *b = &f->l[2];
	size_t n = body_len(b);
	if (!f->o->fastq_strip_names || n == 1)
		return wr(f, b->ptr, b->len);
	int rc = wr(f, "+", 1);
	return rc ? rc : wr(f, b->ptr + n, b->len - n);
}

static int record(fq *f, uint64_t rec)
{
	int rc = 0, got;
	for (int i = 0; i < 4; i++) {
		if ((got = rd_line(&f->in, &f->l[i])) < 0)
			return got;
		if (got == 0)
			return i == 0 ? 0 : bad(f, rec, "truncated record");
	}
	if (f->l[0].ptr[0] != '@')
		return bad(f, rec, "name line does not start with '@'");
	if (f->l[2].ptr[0] != '+')
		return bad(f, rec, "third line does not start with '+'");
	if (body_len(&f->l[1]) != body_len(&f->l[3]))
		return bad(f, rec, "sequence and quality lengths differ");
	rc = write_name(f);
	if (!rc)
		rc = wr(f, f->l[1].ptr, f->l[1].len);
	if (!rc)
		rc = write_plus(f);
	if (!rc)
		rc = wr(f, f->l[3].ptr, f->l[3].len);
	return rc ? rc : 1;
}

int strata_deid__fastq(int in_fd, int out_fd, bool gz, const char *path,
		       const strata_hts_deid_opts *o,
		       strata_hts_deid_report *rep)
{
	fq f = {.in = {.path = path}, .o = o, .rep = rep};
	int rc = 0, dfd = -1;
	for (int i = 0; i < 4; i++)
		f.l[i].limit = LINE_MAX_BYTES;
	if (!(f.in.buf = strata_malloc(RD_BUF)))
		return STRATA_ENOMEM;
	if ((dfd = dup(in_fd)) < 0 || !(f.in.g = gzdopen(dfd, "rb"))) {
		rc = strata_error_set(STRATA_EIO, "'%s': cannot read", path);
		goto out;
	}
	dfd = -1;
	if ((dfd = dup(out_fd)) < 0 ||
	    !(f.out = gzdopen(dfd, gz ? "wb6" : "wbT"))) {
		rc = strata_error_set(STRATA_EIO, "fastq: cannot write");
		goto out;
	}
	dfd = -1;
	for (uint64_t n = 0;; n++) {
		if ((rc = record(&f, n)) <= 0)
			break;
		rep->records++;
	}
out:
	if (f.out && gzclose(f.out) != Z_OK && !rc)
		rc = strata_error_set(STRATA_EIO, "fastq: write failed");
	if (f.in.g)
		gzclose(f.in.g);
	if (dfd >= 0)
		close(dfd);
	for (int i = 0; i < 4; i++)
		strata_buf_release(&f.l[i]);
	strata_free(f.name);
	strata_free(f.in.buf);
	return rc;
}
