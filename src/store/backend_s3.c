/*
 * backend_s3.c - the S3 backend: repository objects are keys under
 * "prefix/" in a bucket on AWS S3 or a compatible service (Ceph RGW,
 * MinIO). libcurl signs with its built-in SigV4; we send the payload hash
 * ourselves. Transient failures are retried with exponential backoff and
 * jitter. Every operation is thread-safe: each takes an easy handle (with
 * its own connection cache, so connections are reused) from a small pool.
 */
#include <curl/curl.h>

#include "common/common.h"
#include "store/s3_int.h"
#include "strata/backend.h"

#define EMPTY_SHA256                                                           \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* objects above MULTIPART_MIN go up in PART_SIZE parts; packs are 16 MiB */
#define MULTIPART_MIN ((size_t)16 << 20)
#define PART_SIZE ((size_t)8 << 20)
#define KEY_MAX 1024 /* S3's limit on a key, in bytes */
#define POOL_MAX 16
#define LIST_MAX ((size_t)32 << 20) /* one ListObjectsV2 page */
#define SMALL_MAX ((size_t)1 << 20) /* other XML answers */

typedef struct s3 {
	strata_backend be;
	char *endpoint; /* scheme://host[:port] */
	char *base;	/* URL of the bucket, ending in '/' */
	char *bucket;
	char *prefix; /* "" or "dir/" */
	char *region;
	char *sigv4; /* "aws:amz:REGION:s3" */
	char *access, *secret;
	char *token; /* "x-amz-security-token: ..." or NULL */
	char *cache;
	int attempts;
	pthread_mutex_t lock;
	CURL *pool[POOL_MAX];
	size_t npool;
} s3;

typedef struct req {
	const char *method; /* GET HEAD PUT POST DELETE */
	const char *name;   /* object below the prefix; NULL: the bucket */
	const char *query;  /* canonical: sorted, encoded; or NULL */
	const void *body;   /* PUT and POST only */
	size_t bodylen;
	const char *range; /* "bytes=a-b" or NULL */
} req;

typedef struct resp {
	long status;
	uint8_t *body; /* 2xx body: ours (malloc'd) unless `fixed` */
	size_t len, cap, limit;
	bool fixed, head;
	bool too_big, nomem;
	uint64_t clen; /* Content-Length, when has_clen */
	bool has_clen;
	char etag[128];
	char err[4096]; /* non-2xx body (an XML <Error>), truncated */
	size_t errlen;
	char curlerr[CURL_ERROR_SIZE];
	int attempts;
} resp;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- responses ---- */

static void resp_init(resp *r, size_t limit)
{
	memset(r, 0, sizeof(*r));
	r->limit = limit;
}

static void resp_release(resp *r)
{
	if (!r->fixed)
		strata_free(r->body);
	r->body = NULL;
}

/* Forget a failed attempt's answer before the next one. */
static void resp_rewind(resp *r)
{
	r->status = 0;
	r->len = 0;
	r->too_big = r->nomem = r->has_clen = false;
	r->etag[0] = 0;
	r->err[0] = 0;
	r->errlen = 0;
	r->curlerr[0] = 0;
}

static int grow_body(resp *r, size_t need)
{
	if (r->fixed || need <= r->cap)
		return 0;
	size_t cap = r->cap ? r->cap : 16384;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > r->limit && need <= r->limit)
		cap = r->limit;
	uint8_t *q = strata_realloc(r->body, cap ? cap : 1);
	if (!q)
		return -1;
	r->body = q;
	r->cap = cap;
	return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	resp *r = ud;
	size_t k = sz * n;
	if (r->status < 200 || r->status > 299) {
		size_t room = sizeof(r->err) - 1 - r->errlen;
		size_t c = k < room ? k : room;
		memcpy(r->err + r->errlen, p, c);
		r->errlen += c;
		r->err[r->errlen] = 0;
		return k;
	}
	if (k > r->limit - r->len || (r->fixed && k > r->cap - r->len)) {
		r->too_big = true;
		return 0;
	}
	if (grow_body(r, r->len + k)) {
		r->nomem = true;
		return 0;
	}
	memcpy(r->body + r->len, p, k);
	r->len += k;
	return k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	resp *r = ud;
	size_t k = sz * n;
	char line[512];
	size_t l = k < sizeof(line) - 1 ? k : sizeof(line) - 1;
	memcpy(line, p, l);
	while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
		l--;
	line[l] = 0;
	if (!strncmp(line, "HTTP/", 5)) { /* a new answer (after a 100) */
		char *sp = strchr(line, ' ');
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->has_clen = false;
		r->etag[0] = 0;
		return k;
	}
	char *colon = strchr(line, ':');
	if (!colon)
		return k;
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (!strncasecmp(line, "etag:", 5)) {
		snprintf(r->etag, sizeof(r->etag), "%s", v);
	} else if (!strncasecmp(line, "content-length:", 15) &&
		   !strata_parse_u64(v, &r->clen)) {
		r->has_clen = true;
		if (r->head || r->status < 200 || r->status > 299)
			return k;
		if (r->clen > r->limit) {
			r->too_big = true;
			return 0;
		}
		if (grow_body(r, (size_t)r->clen)) {
			r->nomem = true;
			return 0;
		}
	}
	return k;
}

/* ---- requests ---- */

static CURL *take(s3 *s)
{
	CURL *h = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->npool)
		h = s->pool[--s->npool];
	pthread_mutex_unlock(&s->lock);
	if (h) {
		curl_easy_reset(h); /* keeps the connection cache */
		return h;
	}
	return curl_easy_init();
}

static void give(s3 *s, CURL *h)
{
	pthread_mutex_lock(&s->lock);
	if (s->npool < POOL_MAX) {
		s->pool[s->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (h)
		curl_easy_cleanup(h);
}

static int check_name(s3 *s, const char *name)
{
	if (strstr(name, "..") || name[0] == '/' || !name[0])
		return strata_error_set(STRATA_EINVAL, "bad object name '%s'",
					name);
	if (strlen(s->prefix) + strlen(name) > KEY_MAX)
		return strata_error_set(
		    STRATA_EINVAL, "object name too long '%.64s...'", name);
	return 0;
}

static int build_url(s3 *s, const req *q, strata_buf *url)
{
	int rc = strata_buf_puts(url, s->base);
	if (!rc && q->name) {
		rc = s3__uri_encode(url, s->prefix, true);
		if (!rc)
			rc = s3__uri_encode(url, q->name, true);
	}
	if (!rc && q->query)
		rc = strata_buf_printf(url, "?%s", q->query);
	return rc ? rc : strata_buf_cstr(url);
}

static int build_headers(s3 *s, const req *q, struct curl_slist **out)
{
	char line[128], hex[65];
	uint8_t hash[32];
	struct curl_slist *l = NULL, *t;
	if (q->body) {
		strata_sha256(hash, q->body, q->bodylen);
		strata_hex(hex, hash, sizeof(hash));
	}
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s",
		 q->body ? hex : EMPTY_SHA256);
	/* every header here is signed; an empty "Expect:" would be signed
	 * but not sent, so curl's Expect: 100-continue stays */
	const char *h[] = {
	    line, s->token,
	    q->body ? "Content-Type: application/octet-stream" : NULL, NULL};
	char range[80];
	if (q->range) {
		snprintf(range, sizeof(range), "Range: %s", q->range);
		h[3] = range;
	}
	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		if (!h[i])
			continue;
		if (!(t = curl_slist_append(l, h[i]))) {
			curl_slist_free_all(l);
			return strata_error_set(STRATA_ENOMEM, "out of memory");
		}
		l = t;
	}
	*out = l;
	return 0;
}

static void setup(s3 *s, CURL *h, const req *q, resp *r, const char *url,
		  struct curl_slist *hdrs)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->access);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	/* a stalled connection: under 1 KiB/s for 30 s */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->curlerr);
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (q->body) {
		/* postfields, not a read callback: libcurl versions that
		 * ignore our x-amz-content-sha256 then hash the same bytes */
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)q->bodylen);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	} else if (strcmp(q->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	}
}

static bool retryable(CURLcode cc, const resp *r)
{
	switch (cc) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
	if (r->status >= 500 || r->status == 429 || r->status == 408)
		return true;
	/* S3 answers 400 RequestTimeout when an upload stalled on our side */
	return r->status == 400 && strstr(r->err, "<Code>RequestTimeout<");
}

/* Sleep before attempt `n + 1`: 200 ms doubling, capped at 5 s, with the
 * lower half randomized so that many clients do not retry in step. */
static void backoff(int n)
{
	uint32_t ms = 200u << (n < 5 ? n - 1 : 4), jitter;
	if (ms > 5000)
		ms = 5000;
	strata_random(&jitter, sizeof(jitter));
	ms = ms / 2 + jitter % (ms / 2 + 1);
	struct timespec ts = {(time_t)(ms / 1000),
			      (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * perform - send `q` until it gets an answer that is not transient, or
 * the attempts run out. Returns 0 with r->status set to the last HTTP
 * status (the caller judges it), or an error when no answer came.
 */
static int perform(s3 *s, const req *q, resp *r)
{
	strata_buf url = STRATA_BUF_INIT;
	struct curl_slist *hdrs = NULL;
	CURLcode cc = CURLE_OK;
	int rc = build_url(s, q, &url);
	if (rc || (rc = build_headers(s, q, &hdrs)))
		goto out;
	r->head = !strcmp(q->method, "HEAD");
	CURL *h = take(s);
	if (!h) {
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
		goto out;
	}
	for (r->attempts = 1;; r->attempts++) {
		resp_rewind(r);
		setup(s, h, q, r, (const char *)url.ptr, hdrs);
		cc = curl_easy_perform(h);
		if (r->too_big || r->nomem || !retryable(cc, r) ||
		    r->attempts >= s->attempts)
			break;
		backoff(r->attempts);
	}
	give(s, h);
	if (r->nomem)
		rc = strata_error_set(STRATA_ENOMEM,
				      "out of memory reading from s3 '%s'",
				      s->bucket);
	else if (cc != CURLE_OK && !r->too_big)
		rc = strata_error_set(
		    STRATA_EIO,
		    "s3 '%s': %s endpoint '%s' (%s) after %d attempt%s: check "
		    "AWS_ENDPOINT_URL and that the service is up",
		    s->bucket,
		    cc == CURLE_COULDNT_CONNECT ||
			    cc == CURLE_COULDNT_RESOLVE_HOST
			? "cannot reach"
			: "lost the connection to",
		    s->endpoint,
		    r->curlerr[0] ? r->curlerr : curl_easy_strerror(cc),
		    r->attempts, r->attempts == 1 ? "" : "s");
out:
	curl_slist_free_all(hdrs);
	strata_buf_release(&url);
	return rc;
}

static bool ok(const resp *r)
{
	return r->status >= 200 && r->status <= 299;
}

/* Turn a non-2xx answer into an error code and message. */
static int fail(s3 *s, const resp *r, const char *op, const char *name)
{
	char code[64] = "", msg[256] = "";
	s3__xml_text(r->err, r->errlen, "Code", code, sizeof(code));
	s3__xml_text(r->err, r->errlen, "Message", msg, sizeof(msg));
	if (!strcmp(code, "NoSuchBucket"))
		return strata_error_set(
		    STRATA_ENOTFOUND,
		    "s3 bucket '%s' does not exist at '%s': create it (e.g. "
		    "'aws s3 mb s3://%s'), or let 'strata init' create it",
		    s->bucket, s->endpoint, s->bucket);
	if (!strcmp(code, "InvalidAccessKeyId") ||
	    !strcmp(code, "SignatureDoesNotMatch") ||
	    (r->status == 403 && !code[0]))
		return strata_error_set(
		    STRATA_EAUTH,
		    "s3 '%s': access denied (%s): check "
		    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
		    s->bucket, code[0] ? code : "HTTP 403");
	if (!strcmp(code, "RequestTimeTooSkewed"))
		return strata_error_set(STRATA_EAUTH,
					"s3 '%s': request time too skewed: "
					"check this machine's clock",
					s->bucket);
	if (r->status == 403)
		return strata_error_set(
		    STRATA_EDENIED,
		    "s3 '%s': access denied (%s) to %s '%s': the credentials "
		    "lack permission on the bucket",
		    s->bucket, code, op, name);
	if (r->status == 404 && name &&
	    (!code[0] || !strcmp(code, "NoSuchKey")))
		return strata_error_set(STRATA_ENOTFOUND,
					"object '%s' is missing", name);
	return strata_error_set(STRATA_EIO,
				"s3 '%s': %s '%s' failed: HTTP %ld%s%s%s%s "
				"(after %d attempt%s)",
				s->bucket, op, name ? name : "", r->status,
				code[0] ? " " : "", code, msg[0] ? ": " : "",
				msg, r->attempts, r->attempts == 1 ? "" : "s");
}

/* One request whose answer must be 2xx; its body is left in r. */
static int call(s3 *s, const req *q, resp *r, const char *op)
{
	int rc = perform(s, q, r);
	if (!rc && !ok(r))
		rc = fail(s, r, op, q->name);
	return rc;
}

/* ---- put ---- */

/* Best-effort abort, keeping the error that caused it. */
static void abort_upload(s3 *s, const char *name, const char *upload)
{
	char saved[1024];
	snprintf(saved, sizeof(saved), "%s", strata_error_msg());
	req q = {"DELETE", name, upload, NULL, 0, NULL};
	resp r;
	resp_init(&r, SMALL_MAX);
	perform(s, &q, &r);
	resp_release(&r);
	strata_error_set(STRATA_EIO, "%s", saved); /* the code is ours */
}

static int upload_parts(s3 *s, const char *name, const char *upload,
			const uint8_t *p, size_t len, strata_buf *xml)
{
	char query[1200];
	int rc = strata_buf_puts(xml, "<CompleteMultipartUpload>");
	for (size_t off = 0, part = 1; !rc && off < len; off += PART_SIZE) {
		size_t n = len - off < PART_SIZE ? len - off : PART_SIZE;
		snprintf(query, sizeof(query), "partNumber=%zu&%s", part,
			 upload);
		req q = {"PUT", name, query, p + off, n, NULL};
		resp r;
		resp_init(&r, SMALL_MAX);
		rc = call(s, &q, &r, "upload a part of");
		if (!rc && !r.etag[0])
			rc = strata_error_set(STRATA_EIO,
					      "s3 '%s': no ETag for part %zu "
					      "of '%s'",
					      s->bucket, part, name);
		if (!rc)
			rc = strata_buf_printf(xml,
					       "<Part><PartNumber>%zu</"
					       "PartNumber><ETag>%s</ETag></"
					       "Part>",
					       part, r.etag);
		resp_release(&r);
		part++;
	}
	return rc ? rc : strata_buf_puts(xml, "</CompleteMultipartUpload>");
}

/* A lost answer to a retried Complete looks like NoSuchUpload: the object
 * is then there, whole, if its size is right. */
static int completed_anyway(s3 *s, const resp *r, const char *name, size_t len)
{
	uint64_t size = 0;
	if (r->status != 404 || r->attempts < 2 ||
	    !strstr(r->err, "<Code>NoSuchUpload<"))
		return 0;
	return !s->be.ops->exists(&s->be, name, &size) && size == len;
}

static int complete(s3 *s, const char *name, const char *upload,
		    const strata_buf *xml, size_t len)
{
	req q = {"POST", name, upload, xml->ptr, xml->len, NULL};
	resp r;
	resp_init(&r, SMALL_MAX);
	int rc = perform(s, &q, &r);
	if (!rc && !ok(&r) && !completed_anyway(s, &r, name, len))
		rc = fail(s, &r, "complete the upload of", name);
	/* Complete can fail after its 200 header: the error is in the body */
	if (!rc && ok(&r) && r.len) {
		char code[64];
		if (!s3__xml_text((const char *)r.body, r.len, "Code", code,
				  sizeof(code)))
			rc = strata_error_set(STRATA_EIO,
					      "s3 '%s': cannot complete the "
					      "upload of '%s': %s",
					      s->bucket, name, code);
	}
	resp_release(&r);
	return rc;
}

static int put_multipart(s3 *s, const char *name, const uint8_t *p, size_t len)
{
	char id[1024];
	strata_buf upload = STRATA_BUF_INIT, xml = STRATA_BUF_INIT;
	req q = {"POST", name, "uploads=", "", 0, NULL};
	resp r;
	resp_init(&r, SMALL_MAX);
	int rc = call(s, &q, &r, "start the upload of");
	if (!rc && s3__xml_text((const char *)r.body, r.len, "UploadId", id,
				sizeof(id)))
		rc = strata_error_set(STRATA_EIO,
				      "s3 '%s': no UploadId in the answer to "
				      "starting the upload of '%s'",
				      s->bucket, name);
	resp_release(&r);
	if (rc)
		return rc;
	if ((rc = strata_buf_puts(&upload, "uploadId=")) ||
	    (rc = s3__uri_encode(&upload, id, false)) ||
	    (rc = strata_buf_cstr(&upload)))
		goto out;
	rc = upload_parts(s, name, (const char *)upload.ptr, p, len, &xml);
	if (!rc)
		rc = complete(s, name, (const char *)upload.ptr, &xml, len);
	if (rc)
		abort_upload(s, name, (const char *)upload.ptr);
out:
	strata_buf_release(&upload);
	strata_buf_release(&xml);
	return rc;
}

/* S3 PUT is atomic (a reader sees the old object or the whole new one)
 * and durable on success, so put_deferred needs nothing more. */
static int s_put(strata_backend *be, const char *name, const void *p,
		 size_t len)
{
	s3 *s = (s3 *)be;
	int rc = check_name(s, name);
	if (rc)
		return rc;
	if (len > MULTIPART_MIN)
		return put_multipart(s, name, p, len);
	req q = {"PUT", name, NULL, len ? p : "", len, NULL};
	resp r;
	resp_init(&r, SMALL_MAX);
	rc = call(s, &q, &r, "put");
	resp_release(&r);
	return rc;
}

static int s_sync(strata_backend *be)
{
	(void)be;
	return 0;
}

/* ---- get ---- */

static int s_get(strata_backend *be, const char *name, size_t limit,
		 uint8_t **out, size_t *outlen)
{
	s3 *s = (s3 *)be;
	req q = {"GET", name, NULL, NULL, 0, NULL};
	resp r;
	int rc = check_name(s, name);
	if (rc)
		return rc;
	resp_init(&r, limit);
	rc = call(s, &q, &r, "get");
	if (!rc && r.too_big && r.has_clen)
		rc = strata_error_set(STRATA_ECORRUPT,
				      "object '%s' is %" PRIu64
				      " bytes, more than the %zu allowed",
				      name, r.clen, limit);
	else if (!rc && r.too_big)
		rc = strata_error_set(STRATA_ECORRUPT,
				      "object '%s' is more than the %zu "
				      "bytes allowed",
				      name, limit);
	else if (!rc && !r.body && !(r.body = strata_malloc(1)))
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
	if (rc) {
		resp_release(&r);
		return rc;
	}
	*out = r.body;
	*outlen = r.len;
	return 0;
}

static int s_exists(strata_backend *be, const char *name, uint64_t *size);

static int s_get_range(strata_backend *be, const char *name, uint64_t off,
		       size_t len, void *out)
{
	s3 *s = (s3 *)be;
	char range[64];
	int rc = check_name(s, name);
	if (rc)
		return rc;
	if (!len) {
		rc = s_exists(be, name, NULL);
		return rc == STRATA_ENOTFOUND
			   ? strata_error_set(rc, "object '%s' is missing",
					      name)
			   : rc;
	}
	if (off > UINT64_MAX - len)
		return strata_error_set(STRATA_EINVAL, "bad range of '%s'",
					name);
	snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	req q = {"GET", name, NULL, NULL, 0, range};
	resp r;
	resp_init(&r, len);
	r.fixed = true;
	r.body = out;
	r.cap = len;
	rc = perform(s, &q, &r);
	if (rc)
		return rc;
	if (r.status == 416 || (r.status == 206 && r.len != len) ||
	    (r.status == 200 && off == 0 && r.len < len))
		return strata_error_set(STRATA_ECORRUPT,
					"object '%s' is truncated (wanted "
					"%zu bytes at %" PRIu64 ")",
					name, len, off);
	if (r.status == 200 && (off || r.too_big))
		return strata_error_set(STRATA_EIO,
					"s3 '%s': the server ignored the "
					"range asked for '%s'",
					s->bucket, name);
	return ok(&r) ? 0 : fail(s, &r, "get", name);
}

/* ---- list ---- */

typedef struct entry {
	char *name;
	uint64_t size;
} entry;

typedef struct page {
	entry *e;
	size_t n, cap;
	char token[1024]; /* NextContinuationToken, "" on the last page */
} page;

static void page_reset(page *pg)
{
	for (size_t i = 0; i < pg->n; i++)
		strata_free(pg->e[i].name);
	pg->n = 0;
}

static int parse_entry(s3 *s, const char *v, size_t vlen, page *pg)
{
	char key[KEY_MAX * 4 + 1], size[32];
	uint64_t sz;
	size_t pl = strlen(s->prefix);
	if (s3__xml_text(v, vlen, "Key", key, sizeof(key)) ||
	    s3__xml_text(v, vlen, "Size", size, sizeof(size)) ||
	    strata_parse_u64(size, &sz))
		return strata_error_set(STRATA_ECORRUPT,
					"s3 '%s': bad entry in a listing",
					s->bucket);
	if (strncmp(key, s->prefix, pl))
		return 0; /* not ours: the server ignored the prefix */
	int rc = strata_grow(&pg->e, &pg->cap, pg->n, sizeof(*pg->e));
	if (rc)
		return rc;
	if (!(pg->e[pg->n].name = strata_strdup(key + pl)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	pg->e[pg->n++].size = sz;
	return 0;
}

static int parse_page(s3 *s, const char *xml, size_t len, page *pg)
{
	const char *v;
	size_t vlen, pos = 0;
	char trunc[16] = "";
	int rc = 0;
	while (!rc && !s3__xml_next(xml, len, &pos, "Contents", &v, &vlen))
		rc = parse_entry(s, v, vlen, pg);
	pg->token[0] = 0;
	if (rc || s3__xml_text(xml, len, "IsTruncated", trunc, sizeof(trunc)) ||
	    strcmp(trunc, "true"))
		return rc;
	if (s3__xml_text(xml, len, "NextContinuationToken", pg->token,
			 sizeof(pg->token)) ||
	    !pg->token[0])
		return strata_error_set(STRATA_ECORRUPT,
					"s3 '%s': a truncated listing without "
					"a continuation token",
					s->bucket);
	return 0;
}

/* Fetch one page of up to `max` keys starting with prefix+`start`. */
static int list_page(s3 *s, const char *start, unsigned max, page *pg)
{
	strata_buf query = STRATA_BUF_INIT, full = STRATA_BUF_INIT;
	int rc = 0;
	if (pg->token[0] &&
	    ((rc = strata_buf_puts(&query, "continuation-token=")) ||
	     (rc = s3__uri_encode(&query, pg->token, false)) ||
	     (rc = strata_buf_puts(&query, "&"))))
		goto out;
	if ((rc = strata_buf_printf(&query,
				    "list-type=2&max-keys=%u&prefix=", max)) ||
	    (rc = strata_buf_printf(&full, "%s%s", s->prefix, start)) ||
	    (rc = strata_buf_cstr(&full)) ||
	    (rc = s3__uri_encode(&query, (const char *)full.ptr, false)) ||
	    (rc = strata_buf_cstr(&query)))
		goto out;
	req q = {"GET", NULL, (const char *)query.ptr, NULL, 0, NULL};
	resp r;
	resp_init(&r, LIST_MAX);
	if (!(rc = call(s, &q, &r, "list")))
		rc = parse_page(s, (const char *)r.body, r.len, pg);
	resp_release(&r);
out:
	strata_buf_release(&query);
	strata_buf_release(&full);
	return rc;
}

static int s_list(strata_backend *be, const char *prefix,
		  strata_backend_list_cb cb, void *payload)
{
	s3 *s = (s3 *)be;
	page pg;
	int rc = 0;
	memset(&pg, 0, sizeof(pg));
	do {
		/* the callback runs with no handle taken: it may call us */
		if (!(rc = list_page(s, prefix, 1000, &pg)))
			for (size_t i = 0; !rc && i < pg.n; i++)
				rc = cb(pg.e[i].name, pg.e[i].size, payload);
		page_reset(&pg);
	} while (!rc && pg.token[0]);
	strata_free(pg.e);
	return rc;
}

/* ---- del, exists, the rest ---- */

static int s_del(strata_backend *be, const char *name)
{
	s3 *s = (s3 *)be;
	req q = {"DELETE", name, NULL, NULL, 0, NULL};
	resp r;
	int rc = check_name(s, name);
	if (rc)
		return rc;
	resp_init(&r, SMALL_MAX);
	rc = perform(s, &q, &r);
	if (!rc && !ok(&r) &&
	    !(r.status == 404 && !strstr(r.err, "NoSuchBucket")))
		rc = fail(s, &r, "delete", name);
	resp_release(&r);
	return rc;
}

static int s_exists(strata_backend *be, const char *name, uint64_t *size)
{
	s3 *s = (s3 *)be;
	req q = {"HEAD", name, NULL, NULL, 0, NULL};
	resp r;
	int rc = check_name(s, name);
	if (rc)
		return rc;
	resp_init(&r, SIZE_MAX);
	rc = perform(s, &q, &r);
	if (!rc && r.status == 404)
		rc = STRATA_ENOTFOUND;
	else if (!rc && !ok(&r))
		rc = fail(s, &r, "stat", name);
	else if (!rc && size)
		*size = r.clen;
	resp_release(&r);
	return rc;
}

static const char *s_local_dir(strata_backend *be)
{
	return ((s3 *)be)->cache;
}

static void s_close(strata_backend *be)
{
	s3 *s = (s3 *)be;
	for (size_t i = 0; i < s->npool; i++)
		curl_easy_cleanup(s->pool[i]);
	pthread_mutex_destroy(&s->lock);
	strata_free(s->endpoint);
	strata_free(s->base);
	strata_free(s->bucket);
	strata_free(s->prefix);
	strata_free(s->region);
	strata_free(s->sigv4);
	strata_free(s->access);
	if (s->secret)
		strata_wipe(s->secret, strlen(s->secret));
	strata_free(s->secret);
	strata_free(s->token);
	strata_free(s->cache);
	strata_free(be->location);
	strata_free(s);
}

static const struct strata_backend_ops s3_ops = {
    s_put, s_put,    s_sync,	  s_get,   s_get_range, s_list,
    s_del, s_exists, s_local_dir, s_close, NULL};

/* ---- open ---- */

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *dupf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *p = n < 0 ? NULL : strata_malloc((size_t)n + 1);
	if (p) {
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	return p;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* "s3://bucket/some/prefix/" -> bucket, "some/prefix/" */
static int parse_url(s3 *s, const char *url)
{
	const char *b = url + 5, *slash = strchr(b, '/');
	size_t bl = slash ? (size_t)(slash - b) : strlen(b);
	if (strncmp(url, "s3://", 5) || bl == 0 || bl > 255 ||
	    strspn(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789.-_") < bl)
		return strata_error_set(STRATA_EINVAL,
					"bad s3 location '%s': use "
					"s3://bucket[/prefix]",
					url);
	const char *p = slash ? slash : b + bl;
	while (*p == '/')
		p++;
	size_t pl = strlen(p);
	while (pl && p[pl - 1] == '/')
		pl--;
	if (strstr(p, "//") || strstr(p, "..") || pl > KEY_MAX / 2)
		return strata_error_set(STRATA_EINVAL,
					"bad prefix in s3 location '%s'", url);
	s->bucket = strata_strndup(b, bl);
	s->prefix = dupf("%.*s%s", (int)pl, p, pl ? "/" : "");
	s->be.location =
	    dupf("s3://%.*s%s%.*s", (int)bl, b, pl ? "/" : "", (int)pl, p);
	if (!s->bucket || !s->prefix || !s->be.location)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	return 0;
}

static int parse_env(s3 *s)
{
	const char *ak = env("AWS_ACCESS_KEY_ID"),
		   *sk = env("AWS_SECRET_ACCESS_KEY"),
		   *token = env("AWS_SESSION_TOKEN"),
		   *region = env("AWS_REGION"),
		   *ep = env("AWS_ENDPOINT_URL_S3"),
		   *mode = env("STRATA_S3_ADDRESSING"),
		   *tries = env("STRATA_S3_RETRIES");
	if (!region)
		region = env("AWS_DEFAULT_REGION");
	if (!region)
		region = "us-east-1";
	if (!ep)
		ep = env("AWS_ENDPOINT_URL");
	if (!ak || !sk)
		return strata_error_set(STRATA_EAUTH,
					"s3 '%s': no credentials: set "
					"AWS_ACCESS_KEY_ID and "
					"AWS_SECRET_ACCESS_KEY",
					s->bucket);
	bool virt = !ep;
	if (mode && (!strcmp(mode, "virtual") || !strcmp(mode, "path")))
		virt = !strcmp(mode, "virtual");
	else if (mode)
		return strata_error_set(STRATA_EINVAL,
					"STRATA_S3_ADDRESSING is '%s': use "
					"'path' or 'virtual'",
					mode);
	uint64_t n = 5;
	if (tries && (strata_parse_u64(tries, &n) || n < 1 || n > 20))
		return strata_error_set(STRATA_EINVAL,
					"STRATA_S3_RETRIES is '%s': use 1 to "
					"20 attempts",
					tries);
	s->attempts = (int)n;
	s->endpoint =
	    ep ? dupf("%s", ep) : dupf("https://s3.%s.amazonaws.com", region);
	if (!s->endpoint)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	size_t el = strlen(s->endpoint);
	while (el && s->endpoint[el - 1] == '/')
		s->endpoint[--el] = 0;
	const char *host = strstr(s->endpoint, "://");
	if (!host || strchr(host + 3, '/') || !host[3] ||
	    (strncmp(s->endpoint, "http://", 7) &&
	     strncmp(s->endpoint, "https://", 8)))
		return strata_error_set(STRATA_EINVAL,
					"bad s3 endpoint '%s': use "
					"http[s]://host[:port]",
					s->endpoint);
	s->base = virt ? dupf("%.*s%s.%s/", (int)(host + 3 - s->endpoint),
			      s->endpoint, s->bucket, host + 3)
		       : dupf("%s/%s/", s->endpoint, s->bucket);
	s->region = dupf("%s", region);
	s->sigv4 = dupf("aws:amz:%s:s3", region);
	s->access = dupf("%s", ak);
	s->secret = dupf("%s", sk);
	s->token = token ? dupf("x-amz-security-token: %s", token) : NULL;
	if (!s->base || !s->region || !s->sigv4 || !s->access || !s->secret ||
	    (token && !s->token))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	return 0;
}

/* $STRATA_CACHE_DIR, $XDG_CACHE_HOME/strata or ~/.cache/strata, then one
 * directory per repository, named by a hash of where it lives. */
static int make_cache(s3 *s)
{
	const char *dir = env("STRATA_CACHE_DIR"), *xdg = env("XDG_CACHE_HOME"),
		   *home = env("HOME");
	uint8_t h[32];
	char hex[33],
	    *id = dupf("%s\n%s\n%s", s->endpoint, s->bucket, s->prefix);
	if (!id)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	strata_sha256(h, id, strlen(id));
	strata_free(id);
	strata_hex(hex, h, 16);
	if (dir)
		s->cache = dupf("%s/%s", dir, hex);
	else if (xdg)
		s->cache = dupf("%s/strata/%s", xdg, hex);
	else if (home)
		s->cache = dupf("%s/.cache/strata/%s", home, hex);
	else
		return strata_error_set(STRATA_EINVAL,
					"no cache directory for '%s': set "
					"STRATA_CACHE_DIR or HOME",
					s->be.location);
	if (!s->cache)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	return strata_mkdir_p(s->cache, 0700);
}

static int create_bucket(s3 *s)
{
	char *body = NULL;
	int rc = 0;
	/* us-east-1 is the one region named by no constraint at all */
	if (strcmp(s->region, "us-east-1") &&
	    !(body = dupf("<CreateBucketConfiguration xmlns=\"http://"
			  "s3.amazonaws.com/doc/2006-03-01/\">"
			  "<LocationConstraint>%s</LocationConstraint>"
			  "</CreateBucketConfiguration>",
			  s->region)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	req q = {"PUT", NULL, NULL, body ? body : "", body ? strlen(body) : 0,
		 NULL};
	resp r;
	resp_init(&r, SMALL_MAX);
	rc = perform(s, &q, &r);
	if (!rc && !ok(&r) && !strstr(r.err, "BucketAlreadyOwnedByYou"))
		rc = strstr(r.err, "BucketAlreadyExists")
			 ? strata_error_set(STRATA_EEXIST,
					    "s3 bucket '%s' belongs to "
					    "someone else: pick another name",
					    s->bucket)
			 : fail(s, &r, "create bucket", s->bucket);
	resp_release(&r);
	strata_free(body);
	return rc;
}

/* Check the bucket and the credentials with one listing, which also says
 * whether a repository (its config) is already there. */
static int probe(s3 *s, int create)
{
	page pg;
	memset(&pg, 0, sizeof(pg));
	int rc = list_page(s, "config", 1, &pg);
	if (rc == STRATA_ENOTFOUND && create &&
	    strstr(strata_error_msg(), "does not exist")) {
		if ((rc = create_bucket(s)))
			return rc;
		rc = list_page(s, "config", 1, &pg);
	}
	bool has = pg.n && !strcmp(pg.e[0].name, "config");
	page_reset(&pg);
	strata_free(pg.e);
	if (rc == STRATA_ENOTFOUND)
		return strata_error_prefix(
		    rc, "no repository at '%s': ", s->be.location);
	if (!rc && has && create)
		return strata_error_set(STRATA_EEXIST,
					"cannot create repository at '%s': it "
					"already holds one (object 'config' "
					"exists)",
					s->be.location);
	return rc;
}

int strata_backend_s3_open(strata_backend **out, const char *url, int create)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return strata_error_set(STRATA_EIO, "cannot start libcurl: %s",
					curl_easy_strerror(curl_init_rc));
	s3 *s = strata_calloc(1, sizeof(*s));
	if (!s)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	s->be.ops = &s3_ops;
	pthread_mutex_init(&s->lock, NULL);
	int rc = parse_url(s, url);
	if (!rc)
		rc = parse_env(s);
	if (!rc)
		rc = probe(s, create);
	if (!rc)
		rc = make_cache(s);
	if (rc) {
		s_close(&s->be);
		return rc;
	}
	*out = &s->be;
	return 0;
}
