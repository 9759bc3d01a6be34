/*
 * verify.c - the audit log readers: scan (filtered records, in order) and
 * verify (the whole chain and every checkpoint signature). Both read a
 * snapshot: segment and checkpoint lengths taken under a shared flock, so
 * commits go on meanwhile and only ever add bytes past the snapshot.
 */
#include "audit/audit_int.h"

#define RD_BUF (2 * STRATA_AUDIT_MAX_LINE + 4096)

/* Buffered line reader over a list of files cut at snapshot lengths. */
typedef struct lines {
	const char *dir;
	uint32_t *segs;
	uint64_t *sizes;
	size_t nseg, cur;
	int fd;
	uint64_t left; /* snapshot bytes of the current file not yet read */
	uint8_t *buf;
	size_t bufcap, start, end;
	uint64_t lineno; /* line number within the current file */
	char name[32];	 /* current file name, for messages */
	size_t maxline;
} lines;

enum { L_LINE = 0, L_EOF = 1, L_TORN = 2, L_LONG = 3 };

static int open_cur(lines *r)
{
	char path[PATH_MAX];
	int rc;
	if (r->segs) {
		snprintf(r->name, sizeof(r->name), "log-%06" PRIu32 ".jsonl",
			 r->segs[r->cur]);
		rc = audit__seg_path(path, sizeof(path), r->dir,
				     r->segs[r->cur]);
	} else {
		snprintf(r->name, sizeof(r->name), "%s", AUDIT_CHECKPOINTS);
		rc = audit__path(path, sizeof(path), r->dir, AUDIT_CHECKPOINTS);
	}
	if (rc)
		return rc;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return strata_error_set(strata_errno_code(errno),
					"cannot open audit file '%s': %s", path,
					strerror(errno));
	r->left = r->sizes[r->cur];
	r->start = r->end = 0;
	r->lineno = 0;
	return 0;
}

/* Refill: keep the unread part, read more of the snapshot. */
static int refill(lines *r)
{
	memmove(r->buf, r->buf + r->start, r->end - r->start);
	r->end -= r->start;
	r->start = 0;
	size_t room = r->bufcap - r->end;
	size_t want = r->left < room ? (size_t)r->left : room;
	while (want) {
		ssize_t k = read(r->fd, r->buf + r->end, want);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return strata_error_set(strata_errno_code(errno),
						"cannot read audit file '%s': "
						"%s",
						r->name, strerror(errno));
		if (k == 0) { /* cut shorter than the snapshot: stop there */
			r->left = 0;
			break;
		}
		r->end += (size_t)k;
		r->left -= (uint64_t)k;
		want -= (size_t)k;
	}
	return 0;
}

/*
 * Next line of the current file into (*p, *n) without its '\n'. Returns
 * L_LINE, L_EOF (all files done), L_TORN (the file ends without '\n'; the
 * partial line is returned), L_LONG (no '\n' within maxline), or < 0.
 * After L_TORN the next call moves on to the next file.
 */
static int next_line(lines *r, const char **p, size_t *n)
{
	for (;;) {
		if (r->fd < 0) {
			if (r->cur >= r->nseg)
				return L_EOF;
			if (r->sizes[r->cur] == 0) { /* absent or empty */
				r->cur++;
				continue;
			}
			int rc = open_cur(r);
			if (rc)
				return rc;
		}
		uint8_t *s = r->buf + r->start;
		uint8_t *e = memchr(s, '\n', r->end - r->start);
		if (e && (size_t)(e - s) <= r->maxline) {
			*p = (const char *)s;
			*n = (size_t)(e - s);
			r->start += *n + 1;
			r->lineno++;
			return L_LINE;
		}
		if (e || r->end - r->start > r->maxline) {
			r->lineno++;
			return L_LONG;
		}
		if (r->left) {
			int rc = refill(r);
			if (rc)
				return rc;
			continue;
		}
		close(r->fd);
		r->fd = -1;
		r->cur++;
		if (r->end > r->start) {
			*p = (const char *)s;
			*n = r->end - r->start;
			r->start = r->end;
			r->lineno++;
			return L_TORN;
		}
	}
}

static void lines_release(lines *r)
{
	if (r->fd >= 0)
		close(r->fd);
	strata_free(r->buf);
	strata_free(r->segs);
	strata_free(r->sizes);
	r->fd = -1;
	r->buf = NULL;
	r->segs = NULL;
	r->sizes = NULL;
}

static int file_size(const char *dir, const char *name, uint64_t *out)
{
	char path[PATH_MAX];
	struct stat st;
	int rc = audit__path(path, sizeof(path), dir, name);
	if (rc)
		return rc;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT) {
			*out = 0;
			return 0;
		}
		return strata_error_set(strata_errno_code(errno),
					"cannot stat audit file '%s': %s", path,
					strerror(errno));
	}
	*out = (uint64_t)st.st_size;
	return 0;
}

/*
 * Take the snapshot: segments and their lengths, and the checkpoint file's
 * length, under a shared lock so no commit is half-way through.
 */
static int snapshot(const char *dir, lines *log, lines *ck)
{
	char path[PATH_MAX];
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return strata_error_set(STRATA_ENOTFOUND,
					"no audit log in '%s'", dir);
	int rc = audit__path(path, sizeof(path), dir, AUDIT_LOCK);
	if (rc)
		return rc;
	int lk = open(path, O_RDONLY | O_CLOEXEC);
	if (lk >= 0)
		while (flock(lk, LOCK_SH) != 0 && errno == EINTR)
			;
	rc = audit__segments(dir, &log->segs, &log->nseg);
	if (!rc && log->nseg &&
	    !(log->sizes = strata_calloc(log->nseg, sizeof(uint64_t))))
		rc = STRATA_ENOMEM;
	for (size_t i = 0; !rc && i < log->nseg; i++) {
		char name[32];
		snprintf(name, sizeof(name), "log-%06" PRIu32 ".jsonl",
			 log->segs[i]);
		rc = file_size(dir, name, &log->sizes[i]);
	}
	if (!rc && ck) {
		ck->nseg = 1;
		ck->sizes = strata_calloc(1, sizeof(uint64_t));
		rc = ck->sizes ? file_size(dir, AUDIT_CHECKPOINTS, ck->sizes)
			       : STRATA_ENOMEM;
	}
	if (lk >= 0)
		close(lk);
	return rc;
}

static int lines_alloc(lines *r, const char *dir, size_t maxline)
{
	r->dir = dir;
	r->maxline = maxline;
	r->bufcap = 2 * maxline + 4096;
	r->buf = strata_malloc(r->bufcap);
	return r->buf ? 0 : STRATA_ENOMEM;
}

/* ---- scan ---- */

static bool match(const strata_audit_filter *f, const strata_audit_rec *r)
{
	if (!f)
		return true;
	if (f->actor && strcmp(f->actor, r->actor) != 0)
		return false;
	if (f->since_ns && r->time_ns < f->since_ns)
		return false;
	if (f->action_prefix) {
		size_t k = strlen(f->action_prefix);
		if (strncmp(r->action, f->action_prefix, k) != 0 ||
		    (r->action[k] != 0 && r->action[k] != '.'))
			return false;
	}
	if (f->subject) {
		size_t i = 0;
		while (i < r->nsubjects && strcmp(r->subjects[i], f->subject))
			i++;
		if (i == r->nsubjects)
			return false;
	}
	return true;
}

int strata_audit_scan(const char *dir, const strata_audit_filter *f,
		      strata_audit_cb cb, void *payload)
{
	lines log = {.fd = -1};
	audit__line l = {0};
	const char *p, *why;
	size_t n;
	int rc = snapshot(dir, &log, NULL);
	rc = rc ? rc : lines_alloc(&log, dir, STRATA_AUDIT_MAX_LINE);
	while (!rc) {
		int k = next_line(&log, &p, &n);
		if (k < 0 || k == L_EOF) {
			rc = k < 0 ? k : 0;
			break;
		}
		if (k == L_TORN && log.cur == log.nseg)
			break; /* an interrupted write at the end: not a record
				*/
		if (k != L_LINE || audit__parse(&l, p, n, &why)) {
			rc = strata_error_set(
			    STRATA_ECORRUPT,
			    "audit log '%s': %s line %" PRIu64
			    " is garbled; run 'strata audit verify'",
			    dir, log.name, log.lineno);
			break;
		}
		if (match(f, &l.rec))
			rc = cb(&l.rec, payload);
	}
	audit__line_release(&l);
	lines_release(&log);
	return rc;
}

/* ---- verify ---- */

typedef struct vstate {
	const char *origin;
	const uint8_t *pk;
	strata_audit_report *rep;
	lines log, ck;
	audit__line l;
	strata_sha256_ctx *sha;
	strata_buf msg;
	uint64_t expected; /* seq the next record must have */
	uint8_t prev[32];  /* hash of the last good record */
	/* the next checkpoint, not yet matched to a record */
	bool have_ck;
	uint64_t ck_no, ck_seq, ck_last_seq;
	char ck_hex[65];
	uint8_t ck_sig[64];
} vstate;

static int bad(vstate *v, uint64_t first, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(vstate *v, uint64_t first, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->rep->what, sizeof(v->rep->what), fmt, ap);
	va_end(ap);
	v->rep->first_bad = first ? first : 1;
	return strata_error_set(STRATA_ECORRUPT, "audit log: %s", v->rep->what);
}

/* Read the next checkpoint line; sets have_ck. Signatures are checked
 * when the checkpoint is reached, so the first problem in log order wins. */
static int next_ck(vstate *v)
{
	const char *p;
	size_t n;
	uint64_t seq;
	int k = next_line(&v->ck, &p, &n);
	v->have_ck = false;
	if (k < 0 || k == L_EOF)
		return k < 0 ? k : 0;
	v->ck_no++;
	if (k == L_TORN && v->ck.cur == v->ck.nseg)
		return 0; /* a torn final checkpoint signs nothing */
	if (k != L_LINE ||
	    audit__ck_parse(p, n, &seq, v->ck_hex, v->ck_sig) != 0)
		return bad(v, v->ck_last_seq + 1,
			   "checkpoint %" PRIu64
			   " is garbled (checkpoints line %" PRIu64 ")",
			   v->ck_no, v->ck.lineno);
	if (seq <= v->ck_last_seq)
		return bad(v, seq,
			   "checkpoint %" PRIu64 " is out of order "
			   "(it signs record %" PRIu64 ", checkpoint %" PRIu64
			   " signed record %" PRIu64 ")",
			   v->ck_no, seq, v->ck_no - 1, v->ck_last_seq);
	v->ck_seq = seq;
	v->have_ck = true;
	return 0;
}

static int ck_signature(vstate *v)
{
	int rc = audit__ck_message(&v->msg, v->origin, v->ck_seq, v->ck_hex);
	if (rc)
		return rc;
	if (crypto_sign_verify_detached(v->ck_sig, v->msg.ptr, v->msg.len,
					v->pk) != 0)
		return bad(v, v->ck_last_seq + 1,
			   "checkpoint %" PRIu64 " has a bad signature "
			   "(records %" PRIu64 "..%" PRIu64 " are not "
			   "authenticated)",
			   v->ck_no, v->ck_last_seq + 1, v->ck_seq);
	return 0;
}

/* Record `seq` (hash h) was just accepted: settle checkpoints signing it. */
static int match_ck(vstate *v, uint64_t seq, const uint8_t h[32])
{
	while (v->have_ck && v->ck_seq == seq) {
		char hex[65];
		int rc = ck_signature(v);
		if (rc)
			return rc;
		strata_hex(hex, h, 32);
		if (strcmp(hex, v->ck_hex) != 0)
			return bad(v, v->ck_last_seq + 1,
				   "checkpoint %" PRIu64 " does not match the "
				   "log: records %" PRIu64 "..%" PRIu64
				   " were rewritten",
				   v->ck_no, v->ck_last_seq + 1, seq);
		v->ck_last_seq = seq;
		v->rep->checkpoints++;
		v->rep->head_seq = seq;
		memcpy(v->rep->head_hash, hex, 65);
		rc = next_ck(v);
		if (rc)
			return rc;
	}
	return 0;
}

/* The record at the expected position has another seq: say how. */
static int misplaced(vstate *v, uint64_t seq)
{
	uint64_t e = v->expected;
	const char *p, *why;
	size_t n;
	if (seq == e + 1) { /* missing, or swapped with the next one? */
		int k = next_line(&v->log, &p, &n);
		if (k == L_LINE && audit__parse(&v->l, p, n, &why) == 0 &&
		    v->l.rec.seq == e)
			return bad(v, e,
				   "records %" PRIu64 " and %" PRIu64
				   " are out of order",
				   e, e + 1);
	}
	if (seq > e && e == 1)
		return bad(v, e,
			   "the log starts at record %" PRIu64
			   ", not 1: records before it are missing",
			   seq);
	if (seq == e + 1)
		return bad(v, e,
			   "record %" PRIu64 " is missing (%" PRIu64
			   " is followed by %" PRIu64 ")",
			   e, e - 1, seq);
	if (seq > e)
		return bad(v, e,
			   "records %" PRIu64 "..%" PRIu64
			   " are missing (%" PRIu64 " is followed by %" PRIu64
			   ")",
			   e, seq - 1, e - 1, seq);
	return bad(v, e,
		   "record %" PRIu64 " is out of order (%" PRIu64
		   " is followed by %" PRIu64 ")",
		   seq, e - 1, seq);
}

static int one_record(vstate *v, const char *p, size_t n)
{
	const char *why;
	uint8_t h[32];
	uint64_t e = v->expected;
	int rc = audit__parse(&v->l, p, n, &why);
	if (rc == STRATA_ENOMEM)
		return rc;
	if (rc)
		return bad(v, e,
			   "record %" PRIu64 " is garbled (%s line %" PRIu64
			   ": %s)",
			   e, v->log.name, v->log.lineno, why);
	if (v->l.rec.seq != e)
		return misplaced(v, v->l.rec.seq);
	strata_sha256_update(v->sha, p, v->l.hashed);
	strata_sha256_final(v->sha, h);
	if (memcmp(h, v->l.hash, 32) != 0)
		return bad(v, e,
			   "record %" PRIu64 " was edited (hash does not "
			   "match)",
			   e);
	if (memcmp(v->prev, v->l.prev, 32) != 0)
		return bad(v, e > 1 ? e - 1 : 1,
			   "records %" PRIu64 " and %" PRIu64
			   " do not chain (prev of %" PRIu64 " is not the hash "
			   "of %" PRIu64 "): one was rewritten",
			   e - 1, e, e, e - 1);
	memcpy(v->prev, h, 32);
	v->rep->records++;
	v->expected++;
	return match_ck(v, e, h);
}

static int walk(vstate *v)
{
	const char *p;
	size_t n;
	int rc = next_ck(v);
	while (!rc) {
		int k = next_line(&v->log, &p, &n);
		if (k < 0)
			return k;
		if (k == L_EOF)
			break;
		if (k == L_TORN && v->log.cur == v->log.nseg) {
			v->rep->torn_bytes = n;
			break;
		}
		if (k != L_LINE)
			return bad(v, v->expected,
				   "record %" PRIu64
				   " is garbled (%s line %" PRIu64 ": %s)",
				   v->expected, v->log.name, v->log.lineno,
				   k == L_TORN ? "segment ends mid-line"
					       : "line too long");
		rc = one_record(v, p, n);
	}
	if (rc || !v->have_ck)
		return rc;
	/* a checkpoint signs records the log no longer holds */
	rc = ck_signature(v);
	if (rc)
		return rc;
	return bad(v, v->rep->records + 1,
		   "log truncated: checkpoint %" PRIu64 " signs %" PRIu64
		   " records, the log holds %" PRIu64,
		   v->ck_no, v->ck_seq, v->rep->records);
}

int strata_audit_verify(const char *dir, const char *origin,
			const uint8_t pk[32], strata_audit_report *rep)
{
	vstate v = {.origin = origin, .pk = pk, .rep = rep, .expected = 1};
	memset(rep, 0, sizeof(*rep));
	v.log.fd = v.ck.fd = -1;
	if (sodium_init() < 0)
		return strata_error_set(STRATA_EIO,
					"libsodium failed to start");
	int rc = snapshot(dir, &v.log, &v.ck);
	rc = rc ? rc : lines_alloc(&v.log, dir, STRATA_AUDIT_MAX_LINE);
	rc = rc ? rc : lines_alloc(&v.ck, dir, AUDIT_CK_MAX_LINE);
	rc = rc ? rc : strata_sha256_new(&v.sha);
	rc = rc ? rc : walk(&v);
	if (!rc)
		rep->unsigned_records = rep->records - v.ck_last_seq;
	strata_sha256_free(v.sha);
	strata_buf_release(&v.msg);
	audit__line_release(&v.l);
	lines_release(&v.log);
	lines_release(&v.ck);
	return rc;
}
