/*
 * metastore.c - the files' extracted metadata kept in the store (FORMAT.md
 * §9a), so a rebuilt catalog, a pushed copy and the next version of a
 * dataset keep it: a stream of records split over data blobs that the
 * snapshot names, written at ingest and read back into the catalog.
 */
#include "repo/repo_int.h"

#define META_PIECE (4u << 20)

int repo__metaw_add(repo_metaw *m, const char *path, size_t plen,
		    const char *subject, const uint8_t *attrs, uint32_t alen)
{
	size_t sl = subject ? strlen(subject) : 0;
	size_t need = 2 + plen + 2 + sl + 4 + alen;
	int rc;
	if (plen > 65535 || sl > 65535 || need > META_PIECE)
		return 0; /* cannot be a record: the file keeps no metadata */
	if (m->cur.len && m->cur.len + need > META_PIECE &&
	    (rc = repo__metaw_flush(m)))
		return rc;
	if ((rc = strata_buf_put_u16(&m->cur, (uint16_t)plen)) ||
	    (rc = strata_buf_put(&m->cur, path, plen)) ||
	    (rc = strata_buf_put_u16(&m->cur, (uint16_t)sl)) ||
	    (sl && (rc = strata_buf_put(&m->cur, subject, sl))) ||
	    (rc = strata_buf_put_u32(&m->cur, alen)) ||
	    (alen && (rc = strata_buf_put(&m->cur, attrs, alen))))
		return rc;
	m->records++;
	return 0;
}

int repo__metaw_flush(repo_metaw *m)
{
	uint8_t id[32];
	int rc;
	if (!m->cur.len)
		return 0;
	strata_blob_id(m->r->hmac, id, m->cur.ptr, m->cur.len);
	if ((rc = strata_grow(&m->ids, &m->cap, m->n, 32)))
		return rc;
	if ((rc = repo__store_blob(m->r, m->w, m->r->codec, STRATA_BLOB_DATA,
				   id, m->cur.ptr, m->cur.len, true,
				   &m->stored)) < 0)
		return rc;
	memcpy(m->ids[m->n++], id, 32);
	strata_buf_reset(&m->cur);
	return 0;
}

void repo__metaw_release(repo_metaw *m)
{
	strata_buf_release(&m->cur);
	strata_free(m->ids);
	memset(m, 0, sizeof(*m));
}

/* Walk the records of one piece. */
int repo__meta_each(const uint8_t *p, size_t n, repo_meta_cb cb, void *payload)
{
	strata_rd rd;
	int rc = 0;
	strata_rd_init(&rd, p, n);
	while (!rc && strata_rd_left(&rd) > 0) {
		repo_meta_rec m;
		size_t start = rd.pos;
		uint16_t pl = strata_rd_u16(&rd);
		m.path = (const char *)strata_rd_bytes(&rd, pl);
		m.path_len = pl;
		uint16_t sl = strata_rd_u16(&rd);
		m.subject = (const char *)strata_rd_bytes(&rd, sl);
		m.subject_len = sl;
		m.attrs_len = strata_rd_u32(&rd);
		m.attrs = strata_rd_bytes(&rd, m.attrs_len);
		if (!m.path || (sl && !m.subject) ||
		    (m.attrs_len && !m.attrs) || rd.err)
			return strata_error_set(STRATA_ECORRUPT,
						"metadata record is cut short");
		m.rec = p + start;
		m.rec_len = rd.pos - start;
		rc = cb(&m, payload);
	}
	return rc;
}

/* Every piece of a snapshot's metadata, in order. */
int repo__meta_pieces(strata_repo *r, const strata_snapshot *s, repo_meta_cb cb,
		      void *payload)
{
	strata_buf piece = STRATA_BUF_INIT;
	int rc = 0;
	for (uint32_t i = 0; !rc && i < s->nmeta; i++) {
		strata_buf_reset(&piece);
		if ((rc = repo__load_blob(r, r->codec, r->hmac, s->meta[i],
					  &piece)))
			strata_error_prefix(rc, "metadata of '%s@v%u': ",
					    s->dataset, s->version);
		else
			rc = repo__meta_each(piece.ptr, piece.len, cb, payload);
	}
	strata_buf_release(&piece);
	return rc;
}

/* ---- the previous version's records, by path ---- */

typedef struct prev_ent {
	const char *path;
	size_t path_len;
	const uint8_t *rec;
	size_t rec_len;
} prev_ent;

static int keep_piece(const repo_meta_rec *m, void *payload)
{
	repo_metar *x = payload;
	if (strata_grow(&x->ents, &x->cap, x->n, sizeof(prev_ent)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	prev_ent *e = &((prev_ent *)x->ents)[x->n++];
	e->path = m->path;
	e->path_len = m->path_len;
	e->rec = m->rec;
	e->rec_len = m->rec_len;
	return 0;
}

static int cmp_ent(const void *a, const void *b)
{
	const prev_ent *x = a, *y = b;
	size_t n = x->path_len < y->path_len ? x->path_len : y->path_len;
	int c = memcmp(x->path, y->path, n);
	return c ? c
		 : (x->path_len > y->path_len) - (x->path_len < y->path_len);
}

int repo__metar_load(strata_repo *r, const strata_snapshot *s, repo_metar *x)
{
	int rc = 0;
	memset(x, 0, sizeof(*x));
	if (!s->nmeta)
		return 0;
	if (!(x->pieces = strata_calloc(s->nmeta, sizeof(*x->pieces))))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	x->npieces = s->nmeta;
	for (uint32_t i = 0; !rc && i < s->nmeta; i++) {
		strata_buf *b = &x->pieces[i];
		if (!(rc =
			  repo__load_blob(r, r->codec, r->hmac, s->meta[i], b)))
			rc = repo__meta_each(b->ptr, b->len, keep_piece, x);
	}
	if (!rc && x->n)
		qsort(x->ents, x->n, sizeof(prev_ent), cmp_ent);
	if (rc)
		repo__metar_release(x);
	return rc;
}

/* First entry whose path is >= key (binary search). */
static size_t lower(const repo_metar *x, const char *p, size_t n)
{
	const prev_ent *e = x->ents;
	prev_ent key = {p, n, NULL, 0};
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_ent(&e[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

typedef struct resubject {
	repo_metaw *w;
	const char *subject;
} resubject;

static int copy_resubject(const repo_meta_rec *m, void *payload)
{
	resubject *x = payload;
	return repo__metaw_add(x->w, m->path, m->path_len, x->subject, m->attrs,
			       m->attrs_len);
}

int repo__metar_copy(const repo_metar *x, const char *path, size_t n,
		     bool subtree, const char *subject, repo_metaw *w)
{
	const prev_ent *e = x->ents;
	int rc = 0;
	if (!subtree) {
		size_t i = lower(x, path, n);
		bool found = i < x->n && e[i].path_len == n &&
			     !memcmp(e[i].path, path, n);
		resubject rs = {w, subject};
		if (found)
			rc = repo__meta_each(e[i].rec, e[i].rec_len,
					     subject ? copy_resubject
						     : repo__metaw_rec,
					     subject ? (void *)&rs : (void *)w);
		else if (subject)
			rc = repo__metaw_add(w, path, n, subject, NULL, 0);
		return rc;
	}
	if (!x->n)
		return 0;
	/* "dir/..." sorts contiguously after "dir/" */
	char *pre = strata_malloc(n + 2);
	if (!pre)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	memcpy(pre, path, n);
	pre[n] = '/';
	for (size_t i = lower(x, pre, n + 1);
	     !rc && i < x->n && e[i].path_len > n + 1 &&
	     !memcmp(e[i].path, pre, n + 1);
	     i++)
		rc =
		    repo__meta_each(e[i].rec, e[i].rec_len, repo__metaw_rec, w);
	strata_free(pre);
	return rc;
}

int repo__metaw_rec(const repo_meta_rec *m, void *payload)
{
	repo_metaw *w = payload;
	char subject[256];
	size_t sl = m->subject_len < sizeof(subject) ? m->subject_len : 0;
	memcpy(subject, m->subject ? m->subject : "", sl);
	subject[sl] = 0;
	return repo__metaw_add(w, m->path, m->path_len, sl ? subject : NULL,
			       m->attrs, m->attrs_len);
}

void repo__metar_release(repo_metar *x)
{
	for (size_t i = 0; i < x->npieces; i++)
		strata_buf_release(&x->pieces[i]);
	strata_free(x->pieces);
	strata_free(x->ents);
	memset(x, 0, sizeof(*x));
}

/* ---- into the catalog ---- */

typedef struct import_meta {
	strata_repo *r;
	const uint8_t *sid;
} import_meta;

static int import_rec(const repo_meta_rec *m, void *payload)
{
	import_meta *x = payload;
	char path[4096], subject[256];
	int64_t row;
	if (m->path_len >= sizeof(path) || m->subject_len >= sizeof(subject))
		return 0;
	memcpy(path, m->path, m->path_len);
	path[m->path_len] = 0;
	memcpy(subject, m->subject ? m->subject : "", m->subject_len);
	subject[m->subject_len] = 0;
	int rc = strata_catalog_file_row(x->r->cat, x->sid, path, &row);
	if (rc == STRATA_ENOTFOUND)
		return 0; /* not in this version's tree: nothing to describe */
	if (rc)
		return rc;
	return repo__attrs_to_catalog(x->r, m->attrs, m->attrs_len, row,
				      m->subject_len ? subject : NULL);
}

int repo__import_meta(strata_repo *r, const uint8_t sid[32],
		      const strata_snapshot *s)
{
	import_meta x = {r, sid};
	return repo__meta_pieces(r, s, import_rec, &x);
}
