/*
 * fastq.c - FASTQ reader (plain, gzip, multi-member gzip, BGZF). Streams
 * 4-line records with large buffers, validates each one, and extracts the
 * run identity from the first read name, read lengths, quality encoding,
 * GC content and the read count: exact for files up to 64 MiB, estimated
 * from a 4 MiB sample above that. Keys: docs/metadata-fastq.md.
 */
#include <zlib.h>

#include "common/common.h"
#include "strata/formats.h"

#define FQ_LINE_MAX ((size_t)1 << 20)	  /* longest line accepted */
#define FQ_BUF (4 * FQ_LINE_MAX)	  /* largest decompressed buffer */
#define FQ_BUF_MIN ((size_t)64 << 10)	  /* smallest, grown on need */
#define FQ_IN ((size_t)1 << 20)		  /* largest compressed read */
#define FQ_EXACT_MAX ((uint64_t)4 << 20)  /* files read whole up to this */
#define FQ_SAMPLE ((uint64_t)4 << 20)	  /* decompressed bytes sampled */
#define FQ_DECOMP_MAX ((uint64_t)1 << 30) /* bound on bytes decompressed */
#define FQ_FIELD 96			  /* longest header field kept */
#define FQ_ENV_EXACT "STRATA_FASTQ_EXACT_MAX_BYTES"

/* What the first read name says. */
typedef struct fq_name {
	char instrument[FQ_FIELD], flowcell[FQ_FIELD], index[FQ_FIELD];
	char accession[FQ_FIELD];
	const char *style;
	int64_t run, lane;   /* -1: absent */
	int64_t read_number; /* Casava 1.8 comment's read number, 0: absent */
	int mate;	     /* 1 or 2 from the name or comment, 0: unknown */
	bool illumina;
} fq_name;

/* The decompressed input: a plain file or a chain of gzip members. */
typedef struct fq_src {
	const char *path;
	int fd;
	bool gz, zinit, in_eof, member_end, done;
	z_stream z;
	uint8_t *in;
	size_t in_cap;
	uint64_t zin_base, zout_base; /* totals of finished members */
} fq_src;

typedef struct fq_ctx {
	fq_src src;
	uint8_t *buf;
	size_t cap; /* of buf: grows from what the file size suggests */
	uint64_t file_size;
	uint64_t stop_at; /* stop at the first record boundary past this */
	bool stopped;	  /* stopped before the end: count is estimated */
	uint64_t off;	  /* decompressed offset of the current line */
	uint64_t rec_off; /* and of the current record */
	uint64_t records;
	unsigned line; /* 0..3: which line of a record comes next */
	bool blank_tail, in_stats;
	size_t seq_len, first_len, min_len, max_len;
	unsigned qmin, qmax;
	uint64_t gc, acgt;
	fq_name name;
} fq_ctx;

/* ---- input: plain reads or inflate across gzip members ---- */

static int read_some(fq_src *s, uint8_t *dst, size_t room, size_t *got)
{
	ssize_t n;
	*got = 0;
	do
		n = read(s->fd, dst, room);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return strata_error_set(strata_errno_code(errno),
					"'%s': read failed: %s", s->path,
					strerror(errno));
	*got = (size_t)n;
	return 0;
}

static uint64_t src_zin(const fq_src *s)
{
	return s->zin_base + s->z.total_in;
}

static uint64_t src_zout(const fq_src *s)
{
	return s->zout_base + s->z.total_out;
}

static int gz_error(fq_src *s, int ret)
{
	const char *why = s->z.msg ? s->z.msg : "inflate failed";
	if (ret == Z_MEM_ERROR)
		return strata_error_set(STRATA_ENOMEM, "'%s': out of memory",
					s->path);
	return strata_error_set(STRATA_ECORRUPT,
				"'%s': gzip data corrupt near compressed byte "
				"%" PRIu64 ": %s",
				s->path, src_zin(s), why);
}

/* Start the next gzip member once one ends (BGZF is a chain of them). */
static int gz_next_member(fq_src *s)
{
	s->zin_base += s->z.total_in;
	s->zout_base += s->z.total_out;
	if (inflateReset(&s->z) != Z_OK)
		return gz_error(s, Z_STREAM_ERROR);
	s->member_end = false;
	return 0;
}

static int gz_fill(fq_src *s, uint8_t *dst, size_t room, size_t *got)
{
	int rc, ret;
	s->z.next_out = dst;
	s->z.avail_out = (uInt)room;
	while (s->z.avail_out > 0) {
		if (s->z.avail_in == 0 && !s->in_eof) {
			size_t n;
			if ((rc = read_some(s, s->in, s->in_cap, &n)))
				return rc;
			s->in_eof = n == 0;
			s->z.next_in = s->in;
			s->z.avail_in = (uInt)n;
		}
		if (s->member_end) {
			if (s->z.avail_in == 0) {
				s->done = true;
				break;
			}
			if ((rc = gz_next_member(s)))
				return rc;
		}
		if (s->z.avail_in == 0)
			return strata_error_set(STRATA_ECORRUPT,
						"'%s': gzip stream truncated "
						"at compressed byte %" PRIu64,
						s->path, src_zin(s));
		ret = inflate(&s->z, Z_NO_FLUSH);
		if (ret == Z_STREAM_END)
			s->member_end = true;
		else if (ret != Z_OK && ret != Z_BUF_ERROR)
			return gz_error(s, ret);
	}
	*got = room - s->z.avail_out;
	return 0;
}

static int plain_fill(fq_src *s, uint8_t *dst, size_t room, size_t *got)
{
	size_t have = 0, n;
	int rc;
	while (have < room) {
		if ((rc = read_some(s, dst + have, room - have, &n)))
			return rc;
		if (n == 0) {
			s->done = true;
			break;
		}
		have += n;
	}
	*got = have;
	return 0;
}

static int src_fill(fq_src *s, uint8_t *dst, size_t room, size_t *got)
{
	*got = 0;
	if (s->done)
		return 0;
	return s->gz ? gz_fill(s, dst, room, got)
		     : plain_fill(s, dst, room, got);
}

/* ---- the first read name ---- */

static bool is_digits(const char *p, size_t n)
{
	if (n == 0 || n > 18)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

static int64_t dec(const char *p, size_t n)
{
	int64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (p[i] - '0');
	return v;
}

/* Keep a field only when it is printable ASCII and fits. */
static bool keep(char dst[FQ_FIELD], const char *p, size_t n)
{
	if (n == 0 || n >= FQ_FIELD)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return false;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return true;
}

static size_t token(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && p[i] != ' ' && p[i] != '\t')
		i++;
	return i;
}

static size_t skip_blanks(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i;
}

/* An index is bases or a sample number, "+" between dual indexes. */
static void keep_index(fq_name *nm, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(p[i] >= 'A' && p[i] <= 'Z') &&
		    !(p[i] >= '0' && p[i] <= '9') && p[i] != '+')
			return;
	keep(nm->index, p, n);
}

/* Split p[0..n) at ':' into at most max fields; returns the count, or
 * max + 1 when there are more. */
static size_t split(const char *p, size_t n, const char **f, size_t *fl,
		    size_t max)
{
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != ':')
			continue;
		if (k == max)
			return max + 1;
		f[k] = p + start;
		fl[k++] = i - start;
		start = i + 1;
	}
	return k;
}

/* A trailing "/1" or "/2" names the mate; returns the length without it. */
static size_t strip_mate(const char *p, size_t n, int *mate)
{
	if (n >= 2 && p[n - 2] == '/' && (p[n - 1] == '1' || p[n - 1] == '2')) {
		if (!*mate)
			*mate = p[n - 1] - '0';
		return n - 2;
	}
	return n;
}

/* Casava 1.8: instrument:run:flowcell:lane:tile:x:y[:umi] */
static bool casava_name(fq_name *nm, const char *p, size_t n)
{
	const char *f[9];
	size_t fl[9], k = split(p, n, f, fl, 8);
	if (k < 7 || k > 8 || !is_digits(f[1], fl[1]) ||
	    !is_digits(f[3], fl[3]) || !is_digits(f[4], fl[4]) ||
	    !is_digits(f[5], fl[5]) || !is_digits(f[6], fl[6]) || !fl[2] ||
	    !keep(nm->instrument, f[0], fl[0]))
		return false;
	nm->run = dec(f[1], fl[1]);
	keep(nm->flowcell, f[2], fl[2]);
	nm->lane = dec(f[3], fl[3]);
	return true;
}

/* Illumina before Casava 1.8: instrument:lane:tile:x:y[#index][/mate] */
static bool old_name(fq_name *nm, const char *p, size_t n)
{
	const char *f[6], *hash = memchr(p, '#', n);
	size_t fl[6], k = split(p, hash ? (size_t)(hash - p) : n, f, fl, 5);
	if (k != 5 || !is_digits(f[1], fl[1]) || !is_digits(f[2], fl[2]) ||
	    !is_digits(f[3], fl[3]) || !is_digits(f[4], fl[4]) ||
	    !keep(nm->instrument, f[0], fl[0]))
		return false;
	nm->lane = dec(f[1], fl[1]);
	if (hash) {
		size_t il = n - (size_t)(hash - p) - 1;
		/* "#0" means "not indexed" */
		if (!(il == 1 && hash[1] == '0'))
			keep_index(nm, hash + 1, il);
	}
	return true;
}

/* An Illumina name of either generation, with an optional mate suffix. */
static bool illumina_name(fq_name *nm, const char *p, size_t n,
			  const char **style)
{
	n = strip_mate(p, n, &nm->mate);
	if (casava_name(nm, p, n)) {
		*style = "casava1.8";
		return true;
	}
	if (old_name(nm, p, n)) {
		*style = "illumina-old";
		return true;
	}
	return false;
}

/* Casava 1.8 comment: read:filtered:control:index. Some writers put a
 * blank between the last colon and the index. */
static void casava_comment(fq_name *nm, const char *p, size_t n)
{
	const char *f[5];
	size_t t = token(p, n), fl[5], k = split(p, t, f, fl, 4);
	if (k != 4 || !is_digits(f[0], fl[0]) || fl[1] != 1 ||
	    (f[1][0] != 'Y' && f[1][0] != 'N') || !is_digits(f[2], fl[2]))
		return;
	nm->read_number = dec(f[0], fl[0]);
	if (nm->read_number == 1 || nm->read_number == 2)
		nm->mate = (int)nm->read_number;
	if (fl[3]) {
		keep_index(nm, f[3], fl[3]);
		return;
	}
	t += skip_blanks(p + t, n - t);
	keep_index(nm, p + t, token(p + t, n - t));
}

/* SRA: SRR123.1 (or ERR/DRR), optionally with the original name after. */
static bool srr_name(fq_name *nm, const char *p, size_t n)
{
	size_t i = 3;
	if (n < 5 || (p[0] != 'S' && p[0] != 'E' && p[0] != 'D') ||
	    p[1] != 'R' || p[2] != 'R')
		return false;
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++;
	if (i == 3 || i + 1 >= n || p[i] != '.' || p[i + 1] < '0' ||
	    p[i + 1] > '9')
		return false;
	keep(nm->accession, p, i);
	return true;
}

static void parse_header(fq_name *nm, const char *p, size_t n)
{
	size_t nl = token(p, n), cs = nl + skip_blanks(p + nl, n - nl);
	const char *c = p + cs, *style = "other";
	size_t cl = n - cs;
	if (srr_name(nm, p, nl)) {
		nm->style = "srr";
		strip_mate(p, nl, &nm->mate);
		nm->illumina = illumina_name(nm, c, token(c, cl), &style);
		return;
	}
	nm->illumina = illumina_name(nm, p, nl, &style);
	nm->style = style;
	if (!strcmp(style, "casava1.8"))
		casava_comment(nm, c, cl);
	else if (!nm->illumina)
		strip_mate(p, nl, &nm->mate);
}

/* ---- records ---- */

static int bad_at(fq_ctx *c, uint64_t off, const char *what)
{
	return strata_error_set(
	    STRATA_ECORRUPT, "'%s': record %" PRIu64 ", %sbyte %" PRIu64 ": %s",
	    c->src.path, c->records + 1, c->src.gz ? "decompressed " : "", off,
	    what);
}

/* A bad line: names the record and where the line starts. */
static int bad(fq_ctx *c, const char *what)
{
	return bad_at(c, c->off, what);
}

static void base_stats(fq_ctx *c, const uint8_t *p, size_t n)
{
	uint64_t gc = 0, at = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned b = p[i] | 0x20; /* lower case */
		gc += b == 'g' || b == 'c';
		at += b == 'a' || b == 't';
	}
	c->gc += gc;
	c->acgt += gc + at;
}

static int qual_stats(fq_ctx *c, const uint8_t *p, size_t n)
{
	unsigned lo = c->qmin, hi = c->qmax;
	for (size_t i = 0; i < n; i++) {
		lo = p[i] < lo ? p[i] : lo;
		hi = p[i] > hi ? p[i] : hi;
	}
	if (n && (lo < 33 || hi > 126))
		return bad(c, "quality character outside '!'..'~'");
	c->qmin = lo;
	c->qmax = hi;
	return 0;
}

static int header_line(fq_ctx *c, const uint8_t *p, size_t n)
{
	if (n == 0) { /* blank lines are allowed only at the end */
		c->blank_tail = true;
		return 1;
	}
	if (c->blank_tail)
		return bad(c, "blank line inside the file");
	if (p[0] != '@')
		return bad(c, "header line does not start with '@'");
	if (c->records == 0)
		parse_header(&c->name, (const char *)p + 1, n - 1);
	c->rec_off = c->off;
	c->in_stats = c->off < FQ_SAMPLE;
	return 0;
}

static int end_record(fq_ctx *c, size_t n)
{
	if (n != c->seq_len)
		return bad(c, "quality and sequence lengths differ");
	if (c->records == 0)
		c->first_len = c->min_len = c->max_len = n;
	c->min_len = n < c->min_len ? n : c->min_len;
	c->max_len = n > c->max_len ? n : c->max_len;
	c->records++;
	return 0;
}

/* One line without its newline; returns 0 or an error. */
static int fq_line(fq_ctx *c, const uint8_t *p, size_t n)
{
	int rc = 0;
	if (n && p[n - 1] == '\r')
		n--;
	if (n > FQ_LINE_MAX)
		return bad(c, "line longer than 1 MiB");
	switch (c->line) {
	case 0:
		if ((rc = header_line(c, p, n)))
			return rc < 0 ? rc : 0;
		break;
	case 1:
		c->seq_len = n;
		if (c->in_stats)
			base_stats(c, p, n);
		break;
	case 2:
		if (n == 0 || p[0] != '+')
			return bad(c, "separator line does not start with '+'");
		break;
	default:
		if (c->in_stats && (rc = qual_stats(c, p, n)))
			return rc;
		if ((rc = end_record(c, n)))
			return rc;
	}
	c->line = (c->line + 1) & 3;
	return 0;
}

/* Feed the complete lines of buf[0..len) to fq_line; *used says how much
 * was consumed. Stops early at a record boundary past stop_at. */
static int scan(fq_ctx *c, const uint8_t *buf, size_t len, size_t *used)
{
	size_t pos = 0;
	const uint8_t *nl;
	int rc;
	while ((nl = memchr(buf + pos, '\n', len - pos))) {
		size_t n = (size_t)(nl - (buf + pos));
		if ((rc = fq_line(c, buf + pos, n)))
			return rc;
		c->off += n + 1;
		pos += n + 1;
		if (c->line == 0 && c->off >= c->stop_at) {
			c->stopped = true;
			break;
		}
	}
	*used = pos;
	return 0;
}

/* Room for a partial line that fills over half the buffer. */
static int grow(fq_ctx *c, size_t len)
{
	if (len <= c->cap / 2 || c->cap >= FQ_BUF)
		return 0;
	uint8_t *nb = strata_realloc(c->buf, c->cap * 2);
	if (!nb)
		return strata_error_set(STRATA_ENOMEM, "'%s': out of memory",
					c->src.path);
	c->buf = nb;
	c->cap *= 2;
	return 0;
}

static int read_records(fq_ctx *c)
{
	size_t len = 0, got, used;
	int rc;
	for (;;) {
		if ((rc = src_fill(&c->src, c->buf + len, c->cap - len, &got)))
			return rc;
		len += got;
		if ((rc = scan(c, c->buf, len, &used)))
			return rc;
		if (c->stopped)
			return 0;
		len -= used;
		if (c->src.done)
			break;
		if (len > FQ_LINE_MAX)
			return bad(c, "line longer than 1 MiB");
		memmove(c->buf, c->buf + used, len);
		if ((rc = grow(c, len)))
			return rc;
	}
	if (len && (rc = fq_line(c, c->buf + used, len)))
		return rc;
	c->off += len;
	if (c->line != 0)
		return bad_at(c, c->rec_off, "file ends inside the record");
	return 0;
}

static size_t clamp(uint64_t v, size_t lo, size_t hi)
{
	return v < lo ? lo : v > hi ? hi : (size_t)v;
}

/* ---- publishing ---- */

static uint64_t exact_max(void)
{
	const char *e = getenv(FQ_ENV_EXACT);
	uint64_t v;
	return e && !strata_parse_u64(e, &v) ? v : FQ_EXACT_MAX;
}

static int set_s(strata_attrs *out, const char *key, const char *v)
{
	return v && v[0] ? strata_attrs_set_str(out, key, v, strlen(v)) : 0;
}

/* Read count: exact, or records per decompressed byte times the
 * decompressed size the compression ratio so far predicts. */
static int put_count(fq_ctx *c, strata_attrs *out)
{
	char how[96];
	int rc;
	if (!c->stopped) {
		if ((rc = strata_attrs_set_int(out, "seq.read_count",
					       (int64_t)c->records)))
			return rc;
		return set_s(out, "seq.read_count_method", "exact");
	}
	double total = (double)c->file_size, seen = (double)c->off;
	if (c->src.gz && src_zin(&c->src))
		total *= (double)src_zout(&c->src) / (double)src_zin(&c->src);
	double est = seen > 0 ? (double)c->records * total / seen : 0;
	double part = c->src.gz ? (double)src_zin(&c->src) : seen;
	snprintf(how, sizeof(how),
		 "estimated from first %.0f MiB (%.1f%% of file)",
		 seen / (1 << 20),
		 c->file_size ? 100.0 * part / (double)c->file_size : 100.0);
	if (est < (double)c->records)
		est = (double)c->records;
	if ((rc = strata_attrs_set_int(out, "seq.read_count",
				       (int64_t)(est + 0.5))))
		return rc;
	return set_s(out, "seq.read_count_method", how);
}

/* Phred+64 and Solexa+64 only when the characters rule out Phred+33:
 * nothing below ';' (59) and something at 'L' (76, Phred+33 Q43) or
 * above; Solexa when the lowest is below '@' (64). */
static const char *qual_encoding(unsigned lo, unsigned hi)
{
	if (lo < ';' || hi < 'L')
		return "phred33";
	return lo < '@' ? "solexa64" : "phred64";
}

static int put_lengths(fq_ctx *c, strata_attrs *out)
{
	int rc;
	if (!c->records)
		return 0;
	if ((rc = strata_attrs_set_int(out, "seq.read_length",
				       (int64_t)c->first_len)) ||
	    (rc = strata_attrs_set_int(out, "seq.read_length_min",
				       (int64_t)c->min_len)) ||
	    (rc = strata_attrs_set_int(out, "seq.read_length_max",
				       (int64_t)c->max_len)))
		return rc;
	if (c->qmax &&
	    ((rc = set_s(out, "seq.quality_encoding",
			 qual_encoding(c->qmin, c->qmax))) ||
	     (rc = strata_attrs_set_int(out, "seq.quality_min", c->qmin)) ||
	     (rc = strata_attrs_set_int(out, "seq.quality_max", c->qmax))))
		return rc;
	if (c->acgt)
		return strata_attrs_set_real(out, "seq.gc_percent",
					     100.0 * (double)c->gc /
						 (double)c->acgt);
	return 0;
}

/* _R1/_R2 followed by '_' or '.', or _1/_2 before ".f" (fastq, fq). */
static int mate_from_file_name(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (const char *p = base; (p = strchr(p, '_')); p++) {
		const char *d = p[1] == 'R' ? p + 2 : p + 1;
		if (d[0] != '1' && d[0] != '2')
			continue;
		if (d == p + 1 ? d[1] == '.' && d[2] == 'f' /* _1.fq */
			       : d[1] == '.' || d[1] == '_')
			return d[0] - '0';
	}
	return 0;
}

static int put_mate(fq_ctx *c, strata_attrs *out)
{
	int rc, mate = c->name.mate;
	const char *src = "header";
	if (!mate) {
		mate = mate_from_file_name(c->src.path);
		src = "file name";
	}
	if (!mate)
		return 0;
	if ((rc = strata_attrs_set_int(out, "seq.mate", mate)))
		return rc;
	return set_s(out, "seq.mate_source", src);
}

static int put_name(fq_ctx *c, strata_attrs *out)
{
	const fq_name *nm = &c->name;
	int rc;
	if (!c->records)
		return 0;
	if ((rc = set_s(out, "seq.read_name_style", nm->style)) ||
	    (rc = set_s(out, "seq.platform", nm->illumina ? "ILLUMINA" : "")) ||
	    (rc = set_s(out, "seq.instrument", nm->instrument)) ||
	    (rc = set_s(out, "seq.flowcell", nm->flowcell)) ||
	    (rc = set_s(out, "seq.index", nm->index)) ||
	    (rc = set_s(out, "seq.accession", nm->accession)))
		return rc;
	if (nm->run >= 0 &&
	    (rc = strata_attrs_set_int(out, "seq.run", nm->run)))
		return rc;
	if (nm->lane >= 0 &&
	    (rc = strata_attrs_set_int(out, "seq.lane", nm->lane)))
		return rc;
	if (nm->read_number && (rc = strata_attrs_set_int(
				    out, "seq.read_number", nm->read_number)))
		return rc;
	return put_mate(c, out);
}

static int publish(fq_ctx *c, strata_attrs *out, const char *compression)
{
	int rc;
	if ((rc = set_s(out, "seq.compression", compression)) ||
	    (rc = put_name(c, out)) || (rc = put_lengths(c, out)))
		return rc;
	return put_count(c, out);
}

/* ---- setup ---- */

/* BGZF: gzip with FEXTRA whose first subfield is "BC". */
static const char *sniff_compression(const uint8_t *h, size_t n)
{
	if (n < 2 || h[0] != 0x1f || h[1] != 0x8b)
		return "none";
	if (n >= 14 && (h[3] & 4) && h[12] == 'B' && h[13] == 'C')
		return "bgzf";
	return "gzip";
}

static int open_src(fq_ctx *c, const char *path, const char **compression)
{
	uint8_t head[16];
	struct stat st;
	size_t n;
	int rc;
	c->src.path = path;
	c->src.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->src.fd < 0)
		return strata_error_set(strata_errno_code(errno),
					"'%s': cannot open: %s", path,
					strerror(errno));
	if (fstat(c->src.fd, &st) || !S_ISREG(st.st_mode))
		return strata_error_set(STRATA_EINVAL,
					"'%s': not a regular file", path);
	c->file_size = (uint64_t)st.st_size;
	(void)posix_fadvise(c->src.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if ((rc = read_some(&c->src, head, sizeof(head), &n)))
		return rc;
	*compression = sniff_compression(head, n);
	c->src.gz = strcmp(*compression, "none") != 0;
	if (lseek(c->src.fd, 0, SEEK_SET) != 0)
		return strata_error_set(STRATA_EIO, "'%s': cannot seek", path);
	if (!c->src.gz)
		return 0;
	c->src.in_cap = clamp(c->file_size, 4096, FQ_IN);
	if (!(c->src.in = strata_malloc(c->src.in_cap)))
		return strata_error_set(STRATA_ENOMEM, "'%s': out of memory",
					path);
	if (inflateInit2(&c->src.z, 15 + 16) != Z_OK)
		return strata_error_set(STRATA_ENOMEM, "'%s': out of memory",
					path);
	c->src.zinit = true;
	return 0;
}

static void close_src(fq_src *s)
{
	if (s->zinit)
		inflateEnd(&s->z);
	if (s->fd >= 0)
		close(s->fd);
	strata_free(s->in);
}

int strata_fastq_read(const char *path, strata_attrs *out)
{
	fq_ctx *c = strata_calloc(1, sizeof(*c));
	const char *compression = "none";
	int rc;
	if (!c)
		return strata_error_set(STRATA_ENOMEM, "'%s': out of memory",
					path);
	c->src.fd = -1;
	c->qmin = 255;
	c->name.run = c->name.lane = -1;
	if ((rc = open_src(c, path, &compression)))
		goto out;
	c->stop_at = c->file_size > exact_max() ? FQ_SAMPLE : FQ_DECOMP_MAX;
	/* FASTQ gzips about fourfold */
	uint64_t want = c->file_size < FQ_BUF ? c->file_size + 1 : FQ_BUF;
	c->cap = clamp(c->src.gz ? want * 4 : want, FQ_BUF_MIN, FQ_BUF);
	if (!(c->buf = strata_malloc(c->cap))) {
		rc = strata_error_set(STRATA_ENOMEM, "'%s': out of memory",
				      path);
		goto out;
	}
	if ((rc = read_records(c)) || (rc = publish(c, out, compression)))
		goto out;
out:
	close_src(&c->src);
	strata_free(c->buf);
	strata_free(c);
	return rc;
}
