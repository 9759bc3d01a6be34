/*
 * audit.c - the audit log writer: records are queued in memory by append
 * and made durable by commit, which under an exclusive flock finds the
 * tail, chains and appends the batch, and signs a checkpoint for the new
 * head. A commit is all or nothing: a failure truncates both files back.
 */
#include "audit/audit_int.h"

struct strata_audit {
	char *dir, *origin;
	uint8_t pk[32], sk[64];
	strata_buf body; /* queued record bodies, concatenated */
	size_t *ends;	 /* end offset of each queued body */
	size_t nends, cap;
	uint64_t segsize;
	strata_sha256_ctx *sha;
	strata_buf out; /* the encoded batch, reused */
};

/* What commit learns about the files under the lock. */
typedef struct wstate {
	int lockfd, segfd, ckfd;
	uint32_t seg;		    /* segment written to */
	uint64_t segend, ckend;	    /* end of complete lines: writes go here */
	uint64_t segsize0, cksize0; /* lengths found (with any torn bytes) */
	uint64_t seq;		    /* the tail record */
	uint8_t hash[32];
	char segpath[PATH_MAX], ckpath[PATH_MAX];
} wstate;

void strata_audit_keypair(const uint8_t seed[32], uint8_t pk[32],
			  uint8_t sk[64])
{
	crypto_sign_seed_keypair(pk, sk, seed);
}

int strata_audit_open(strata_audit **out, const char *dir, const char *origin,
		      const uint8_t seed[32])
{
	if (!dir || !*dir || !origin || strchr(origin, '\n'))
		return strata_error_set(STRATA_EINVAL,
					"audit log: bad directory or origin");
	if (sodium_init() < 0)
		return strata_error_set(STRATA_EIO,
					"libsodium failed to start");
	int rc = strata_mkdir_p(dir, 0700);
	if (rc)
		return rc;
	strata_audit *a = strata_calloc(1, sizeof(*a));
	if (!a)
		return STRATA_ENOMEM;
	a->dir = strata_strdup(dir);
	a->origin = strata_strdup(origin);
	if (!a->dir || !a->origin || strata_sha256_new(&a->sha)) {
		strata_audit_close(a);
		return STRATA_ENOMEM;
	}
	a->segsize = STRATA_AUDIT_SEGMENT_SIZE;
	strata_audit_keypair(seed, a->pk, a->sk);
	*out = a;
	return 0;
}

void strata_audit_close(strata_audit *a)
{
	if (!a)
		return;
	strata_wipe(a->sk, sizeof(a->sk));
	strata_free(a->dir);
	strata_free(a->origin);
	strata_buf_release(&a->body);
	strata_buf_release(&a->out);
	strata_free(a->ends);
	strata_sha256_free(a->sha);
	strata_free(a);
}

void strata_audit_set_segment_size(strata_audit *a, uint64_t bytes)
{
	a->segsize = bytes ? bytes : STRATA_AUDIT_SEGMENT_SIZE;
}

size_t strata_audit_pending(const strata_audit *a)
{
	return a->nends;
}

/* Room left in a line for "{"seq":N," ",prev":..." ",hash":...}\n". */
#define LINE_OVERHEAD 192

int strata_audit_append(strata_audit *a, const strata_audit_rec *r)
{
	if (!r->actor || !r->action || !*r->action)
		return strata_error_set(STRATA_EINVAL,
					"audit record without actor or action");
	for (size_t i = 0; i < r->nsubjects; i++)
		if (!r->subjects[i])
			return strata_error_set(STRATA_EINVAL,
						"audit record: null subject");
	size_t start = a->body.len;
	int64_t t = r->time_ns ? r->time_ns : (int64_t)strata_now_ns();
	int rc = strata_grow(&a->ends, &a->cap, a->nends, sizeof(size_t));
	rc = rc ? rc : audit__encode_body(&a->body, r, t);
	if (!rc && a->body.len - start > STRATA_AUDIT_MAX_LINE - LINE_OVERHEAD)
		rc = strata_error_set(STRATA_EINVAL,
				      "audit record of action '%s' is larger "
				      "than %zu bytes",
				      r->action, STRATA_AUDIT_MAX_LINE);
	if (rc) {
		a->body.len = start;
		return rc;
	}
	a->ends[a->nends++] = a->body.len;
	return 0;
}

/* ---- file helpers ---- */

static int io_fail(const char *what, const char *path)
{
	return strata_error_set(strata_errno_code(errno),
				"cannot %s audit file '%s': %s", what, path,
				strerror(errno));
}

static int pread_full(int fd, void *p, size_t n, uint64_t off)
{
	uint8_t *q = p;
	while (n) {
		ssize_t k = pread(fd, q, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO; /* shrank under us */
			return -1;
		}
		q += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

static const uint8_t *rlast(const uint8_t *p, size_t n)
{
	while (n--)
		if (p[n] == '\n')
			return p + n;
	return NULL;
}

/*
 * The last complete line of a file of `size` bytes, read backwards in a
 * growing window so a commit costs O(line), not O(log). *end is where the
 * complete lines end (size, or less when a crash left a torn line);
 * line->len is 0 if the file holds no complete line.
 */
static int last_line(int fd, const char *path, uint64_t size, size_t maxline,
		     strata_buf *line, uint64_t *end)
{
	size_t win = 65536;
	for (;;) {
		size_t w = size < win ? (size_t)size : win;
		uint64_t start = size - w;
		strata_buf_reset(line);
		if (strata_buf_reserve(line, w + 1))
			return STRATA_ENOMEM;
		if (pread_full(fd, line->ptr, w, start))
			return io_fail("read", path);
		const uint8_t *e = rlast(line->ptr, w);
		const uint8_t *s =
		    e ? rlast(line->ptr, (size_t)(e - line->ptr)) : NULL;
		if ((!e || !s) && start > 0) {
			if (w > 2 * maxline + 2)
				return strata_error_set(
				    STRATA_ECORRUPT,
				    "audit file '%s' ends in a line longer "
				    "than %zu bytes; run 'strata audit verify'",
				    path, maxline);
			win *= 2;
			continue;
		}
		if (!e) {
			*end = 0;
			return 0;
		}
		size_t from = s ? (size_t)(s - line->ptr) + 1 : 0;
		size_t len = (size_t)(e - line->ptr) - from;
		*end = start + (uint64_t)(e - line->ptr) + 1;
		memmove(line->ptr, line->ptr + from, len);
		line->len = len;
		return 0;
	}
}

/* ---- commit ---- */

static int lock_dir(strata_audit *a, wstate *w)
{
	char path[PATH_MAX];
	int rc = audit__path(path, sizeof(path), a->dir, AUDIT_LOCK);
	if (rc)
		return rc;
	w->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (w->lockfd < 0)
		return io_fail("open", path);
	while (flock(w->lockfd, LOCK_EX) != 0)
		if (errno != EINTR)
			return io_fail("lock", path);
	return 0;
}

static int tail_corrupt(strata_audit *a, const char *why)
{
	return strata_error_set(STRATA_ECORRUPT,
				"audit log '%s': %s; refusing to append; run "
				"'strata audit verify'",
				a->dir, why);
}

/* Parse the tail line and check that it hashes to its own hash field. */
static int tail_record(strata_audit *a, wstate *w, const strata_buf *line)
{
	audit__line l = {0};
	const char *why;
	uint8_t h[32];
	int rc = audit__parse(&l, (const char *)line->ptr, line->len, &why);
	if (rc == 0) {
		strata_sha256_update(a->sha, line->ptr, l.hashed);
		strata_sha256_final(a->sha, h);
		w->seq = l.rec.seq;
		memcpy(w->hash, l.hash, 32);
		if (memcmp(h, l.hash, 32) != 0)
			rc = tail_corrupt(a, "the last record was edited");
	} else if (rc == STRATA_ECORRUPT) {
		rc = tail_corrupt(a, "the last record is garbled");
	}
	audit__line_release(&l);
	return rc;
}

/* Find the tail record, walking back over empty segments; keep the last
 * segment open for writing. */
static int find_tail(strata_audit *a, wstate *w, strata_buf *line)
{
	uint32_t *segs = NULL;
	size_t n = 0;
	int rc = audit__segments(a->dir, &segs, &n);
	if (rc)
		return rc;
	w->seq = 0;
	memset(w->hash, 0, 32);
	w->seg = n ? segs[n - 1] : 0;
	for (size_t i = n; i-- > 0 && !rc;) {
		char path[PATH_MAX];
		bool last = i == n - 1;
		struct stat st;
		uint64_t end = 0;
		rc = audit__seg_path(path, sizeof(path), a->dir, segs[i]);
		int fd = rc ? -1 : open(path, O_RDWR | O_CLOEXEC);
		if (!rc && (fd < 0 || fstat(fd, &st)))
			rc = io_fail("open", path);
		if (!rc)
			rc = last_line(fd, path, (uint64_t)st.st_size,
				       STRATA_AUDIT_MAX_LINE, line, &end);
		if (!rc && last) {
			memcpy(w->segpath, path, sizeof(path));
			w->segfd = fd;
			w->segend = end;
			w->segsize0 = (uint64_t)st.st_size;
			fd = -1;
		}
		if (fd >= 0)
			close(fd);
		if (!rc && !last && end != (uint64_t)st.st_size)
			rc = tail_corrupt(a, "a segment ends in a torn line");
		if (!rc && line->len) {
			rc = tail_record(a, w, line);
			break;
		}
	}
	strata_free(segs);
	return rc;
}

/* The last checkpoint must be validly signed and agree with the tail. */
static int check_ck(strata_audit *a, wstate *w, strata_buf *line)
{
	struct stat st;
	uint64_t seq;
	char hex[65], mine[65];
	uint8_t sig[64];
	int rc = audit__path(w->ckpath, sizeof(w->ckpath), a->dir,
			     AUDIT_CHECKPOINTS);
	if (rc)
		return rc;
	w->ckfd = open(w->ckpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (w->ckfd < 0 || fstat(w->ckfd, &st))
		return io_fail("open", w->ckpath);
	w->cksize0 = (uint64_t)st.st_size;
	rc = last_line(w->ckfd, w->ckpath, w->cksize0, AUDIT_CK_MAX_LINE, line,
		       &w->ckend);
	if (rc || line->len == 0)
		return rc;
	if (audit__ck_parse((const char *)line->ptr, line->len, &seq, hex, sig))
		return tail_corrupt(a, "the last checkpoint is garbled");
	strata_buf msg = STRATA_BUF_INIT;
	rc = audit__ck_message(&msg, a->origin, seq, hex);
	if (!rc && crypto_sign_verify_detached(sig, msg.ptr, msg.len, a->pk))
		rc = tail_corrupt(a, "the last checkpoint has a bad signature");
	strata_buf_release(&msg);
	if (rc)
		return rc;
	strata_hex(mine, w->hash, 32);
	if (seq > w->seq)
		return strata_error_set(
		    STRATA_ECORRUPT,
		    "audit log '%s' is truncated: checkpoint signs %" PRIu64
		    " records, the log holds %" PRIu64
		    "; refusing to append; run 'strata audit verify'",
		    a->dir, seq, w->seq);
	if (seq == w->seq && strcmp(hex, mine) != 0)
		return tail_corrupt(a, "the last record does not match the "
				       "last checkpoint");
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return io_fail("open", dir);
	int rc = fsync(fd) ? io_fail("sync", dir) : 0;
	close(fd);
	return rc;
}

/* Cut torn bytes a crash left, and start a new segment when due. */
static int prepare_segment(strata_audit *a, wstate *w)
{
	if (w->segfd >= 0 && w->segsize0 > w->segend) {
		strata_warn("audit log '%s': cutting %" PRIu64
			    " bytes of an interrupted write",
			    w->segpath, w->segsize0 - w->segend);
		if (ftruncate(w->segfd, (off_t)w->segend))
			return io_fail("truncate", w->segpath);
		w->segsize0 = w->segend;
	}
	if (w->cksize0 > w->ckend) {
		if (ftruncate(w->ckfd, (off_t)w->ckend))
			return io_fail("truncate", w->ckpath);
		w->cksize0 = w->ckend;
	}
	if (w->segfd >= 0 && w->segend < a->segsize)
		return 0;
	if (w->segfd >= 0)
		close(w->segfd);
	w->segfd = -1;
	w->seg++;
	w->segend = w->segsize0 = 0;
	int rc =
	    audit__seg_path(w->segpath, sizeof(w->segpath), a->dir, w->seg);
	if (rc)
		return rc;
	w->segfd =
	    open(w->segpath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->segfd < 0)
		return io_fail("create", w->segpath);
	return fsync_dir(a->dir);
}

static int encode_batch(strata_audit *a, wstate *w, uint8_t head[32])
{
	uint8_t prev[32];
	memcpy(prev, w->hash, 32);
	strata_buf_reset(&a->out);
	for (size_t i = 0; i < a->nends; i++) {
		size_t from = i ? a->ends[i - 1] : 0;
		int rc = audit__encode_line(&a->out, a->sha, w->seq + 1 + i,
					    (const char *)a->body.ptr + from,
					    a->ends[i] - from, prev, prev);
		if (rc)
			return rc;
	}
	memcpy(head, prev, 32);
	return 0;
}

static int write_ck(strata_audit *a, wstate *w, uint64_t seq,
		    const uint8_t head[32])
{
	char hex[65], b64[AUDIT_SIG_B64 + 1], line[256];
	uint8_t sig[64];
	strata_buf msg = STRATA_BUF_INIT;
	strata_hex(hex, head, 32);
	int rc = audit__ck_message(&msg, a->origin, seq, hex);
	if (rc)
		return rc;
	crypto_sign_detached(sig, NULL, msg.ptr, msg.len, a->sk);
	strata_buf_release(&msg);
	sodium_bin2base64(b64, sizeof(b64), sig, 64,
			  sodium_base64_VARIANT_ORIGINAL);
	int k =
	    snprintf(line, sizeof(line), "%" PRIu64 " %s %s\n", seq, hex, b64);
	if (strata_pwrite_all(w->ckfd, line, (size_t)k, w->ckend))
		return io_fail("write", w->ckpath);
	if (fsync(w->ckfd))
		return io_fail("sync", w->ckpath);
	return 0;
}

/* Undo a failed append so the log stays verifiable. */
static void rollback(wstate *w)
{
	int e = errno;
	if (w->segfd >= 0 && ftruncate(w->segfd, (off_t)w->segend) == 0)
		(void)fsync(w->segfd);
	if (w->ckfd >= 0 && ftruncate(w->ckfd, (off_t)w->ckend) == 0)
		(void)fsync(w->ckfd);
	errno = e;
}

static int commit_locked(strata_audit *a, wstate *w)
{
	uint8_t head[32];
	strata_buf line = STRATA_BUF_INIT;
	int rc = find_tail(a, w, &line);
	rc = rc ? rc : check_ck(a, w, &line);
	strata_buf_release(&line);
	rc = rc ? rc : prepare_segment(a, w);
	rc = rc ? rc : encode_batch(a, w, head);
	if (rc)
		return rc;
	if (strata_pwrite_all(w->segfd, a->out.ptr, a->out.len, w->segend))
		rc = io_fail("write", w->segpath);
	else if (fsync(w->segfd))
		rc = io_fail("sync", w->segpath);
	else
		rc = write_ck(a, w, w->seq + a->nends, head);
	if (rc)
		rollback(w);
	return rc;
}

int strata_audit_commit(strata_audit *a)
{
	if (a->nends == 0)
		return 0;
	wstate w = {.lockfd = -1, .segfd = -1, .ckfd = -1};
	int rc = lock_dir(a, &w);
	rc = rc ? rc : commit_locked(a, &w);
	if (w.segfd >= 0)
		close(w.segfd);
	if (w.ckfd >= 0)
		close(w.ckfd);
	if (w.lockfd >= 0)
		close(w.lockfd); /* releases the flock */
	if (rc)
		return strata_error_prefix(rc, "audit commit: ");
	strata_buf_reset(&a->body);
	a->nends = 0;
	return 0;
}
