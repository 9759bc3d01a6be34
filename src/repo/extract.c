/*
 * extract.c - metadata during ingest: the format readers run on each file
 * as it is read, their attributes are spooled to a temporary file (so an
 * ingest of a million files does not hold them all in memory) and added to
 * the catalog when the version commits. Also the format-aware cut points
 * the chunker honours: DICOM header | pixel data, BGZF block boundaries.
 */
#include "repo/repo_int.h"
#include "strata/formats.h"

int repo__spool_open(repo_spool *sp, const char *dir)
{
	memset(sp, 0, sizeof(*sp));
	sp->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (sp->fd < 0) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/.spool-XXXXXX", dir);
		sp->fd = mkstemp(path);
		if (sp->fd >= 0)
			unlink(path);
	}
	if (sp->fd < 0)
		return strata_error_set(
		    strata_errno_code(errno),
		    "cannot create a spool file in '%s': %s", dir,
		    strerror(errno));
	pthread_mutex_init(&sp->lock, NULL);
	/* STRATA_SPOOL_MEM=MiB: less memory (tests use 0: all in the file) */
	const char *mem = getenv("STRATA_SPOOL_MEM");
	unsigned long mib = mem ? strtoul(mem, NULL, 10) : ULONG_MAX;
	sp->maxblocks = mib / (SPOOL_BLOCK >> 20) < SPOOL_BLOCKS
			    ? mib / (SPOOL_BLOCK >> 20)
			    : SPOOL_BLOCKS;
	return 0;
}

void repo__spool_close(repo_spool *sp)
{
	if (sp->fd > 0) {
		close(sp->fd);
		pthread_mutex_destroy(&sp->lock);
	}
	for (size_t i = 0; i < sp->nblocks; i++)
		strata_free(sp->block[i]);
	sp->nblocks = 0;
	sp->fd = -1;
}

/* Room for n bytes in memory: *off in the spool's blocks, or false when
 * the blocks are full (the file takes it). Under sp->lock. */
static bool spool_room(repo_spool *sp, size_t n, uint64_t *off)
{
	if (n > SPOOL_BLOCK)
		return false;
	if (!sp->nblocks || SPOOL_BLOCK - sp->used < n) {
		uint8_t *blk;
		if (sp->nblocks >= sp->maxblocks ||
		    !(blk = strata_malloc(SPOOL_BLOCK)))
			return false;
		sp->block[sp->nblocks++] = blk;
		sp->used = 0;
	}
	*off = (uint64_t)(sp->nblocks - 1) * SPOOL_BLOCK + sp->used;
	sp->used += n;
	return true;
}

static int spool_put(repo_spool *sp, const strata_buf *b, repo_meta *m)
{
	uint64_t *off = &m->off;
	pthread_mutex_lock(&sp->lock);
	m->mem = spool_room(sp, b->len, off);
	if (!m->mem) {
		*off = sp->end;
		sp->end += b->len;
	}
	pthread_mutex_unlock(&sp->lock);
	if (m->mem) { /* the range is this thread's alone */
		memcpy(sp->block[*off / SPOOL_BLOCK] + *off % SPOOL_BLOCK,
		       b->ptr, b->len);
		return 0;
	}
	size_t done = 0;
	while (done < b->len) {
		ssize_t n = pwrite(sp->fd, b->ptr + done, b->len - done,
				   (off_t)(*off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return strata_error_set(
			    strata_errno_code(errno),
			    "cannot write the metadata spool: "
			    "%s",
			    strerror(errno));
		done += (size_t)n;
	}
	return 0;
}

/* Serialise: u16 count, then per attribute u8 type, u16 key length, key,
 * and u32 length + bytes (text) or 8 bytes (int64 or double). */
static int encode(const strata_attrs *a, strata_buf *b)
{
	size_t n = strata_attrs_count(a);
	int rc = strata_buf_put_u16(b, (uint16_t)(n > 65535 ? 65535 : n));
	for (size_t i = 0; !rc && i < n && i < 65535; i++) {
		const strata_attr *x = strata_attrs_at(a, i);
		size_t kl = strlen(x->key);
		if ((rc = strata_buf_put_u8(b, (uint8_t)x->type)) ||
		    (rc = strata_buf_put_u16(b, (uint16_t)kl)) ||
		    (rc = strata_buf_put(b, x->key, kl)))
			break;
		if (x->type == STRATA_ATTR_STR) {
			size_t sl = strlen(x->s);
			if (!(rc = strata_buf_put_u32(b, (uint32_t)sl)))
				rc = strata_buf_put(b, x->s, sl);
		} else if (x->type == STRATA_ATTR_INT) {
			rc = strata_buf_put_u64(b, (uint64_t)x->i);
		} else {
			uint64_t u;
			memcpy(&u, &x->d, 8);
			rc = strata_buf_put_u64(b, u);
		}
	}
	return rc;
}

int repo__spool_attrs(repo_spool *sp, const strata_attrs *attrs, repo_meta *out)
{
	strata_buf b = STRATA_BUF_INIT;
	int rc;
	b.limit = 16u << 20;
	if (!(rc = encode(attrs, &b)) && !(rc = spool_put(sp, &b, out)))
		out->len = (uint32_t)b.len;
	strata_buf_release(&b);
	return rc;
}

int repo__extract(repo_spool *sp, const char *path, const uint8_t *head,
		  size_t n, bool whole, strata_attrs *attrs, strata_cuts *cuts,
		  repo_meta *out)
{
	memset(out, 0, sizeof(*out));
	cuts->n = 0;
	strata_format f = strata_format_sniff(head, n, path);
	if (f == STRATA_FMT_UNKNOWN)
		return 0;
	int rc = whole
		     ? strata_format_extract_mem(f, path, head, n, attrs, cuts)
		     : STRATA_ENOTFOUND;
	if (rc == STRATA_ENOTFOUND)
		rc = strata_format_extract(f, path, attrs, cuts);
	if (rc) {
		out->damaged = true;
		cuts->n = 0;
		return rc; /* the caller warns; the bytes are stored anyway */
	}
	return repo__spool_attrs(sp, attrs, out);
}

/* Keys whose values name the subjects a file is about. */
static bool subject_key(const char *key)
{
	return !strcmp(key, "dicom.PatientID") || !strcmp(key, "seq.samples") ||
	       !strcmp(key, "vcf.sample_names");
}

/* A file's attributes, gathered to be added to the catalog at once. */
typedef struct attr_list {
	strata_cat_attr *a;
	size_t n, cap;
	char **owned;
	size_t nowned, capowned;
	strata_buf arena; /* the decoded strings, reserved once: never moved */
} attr_list;

/* s (allocated, may be NULL after a failed allocation) to be freed with
 * the list: s, or NULL with the error set. */
static char *keep(attr_list *l, char *s)
{
	if (!s || strata_grow(&l->owned, &l->capowned, l->nowned,
			      sizeof(*l->owned))) {
		strata_free(s);
		strata_error_set(STRATA_ENOMEM, "out of memory");
		return NULL;
	}
	return l->owned[l->nowned++] = s;
}

/* p[0, n) and a NUL in the arena (reserved for all of them). */
static const char *arena_str(attr_list *l, const uint8_t *p, size_t n)
{
	char *at = (char *)l->arena.ptr + l->arena.len;
	memcpy(at, p, n);
	at[n] = 0;
	l->arena.len += n + 1;
	return at;
}

static int list_add(attr_list *l, const char *key, int type, const char *s,
		    double d)
{
	if (strata_grow(&l->a, &l->cap, l->n, sizeof(*l->a)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	strata_cat_attr *at = &l->a[l->n++];
	at->key = key;
	at->type = type;
	at->s = s;
	at->n = d;
	return 0;
}

static void list_release(attr_list *l)
{
	for (size_t i = 0; i < l->nowned; i++)
		strata_free(l->owned[i]);
	strata_free(l->owned);
	strata_free(l->a);
	strata_buf_release(&l->arena);
}

static int add_subject(strata_repo *r, attr_list *l, const char *id, size_t n)
{
	char pseudo[24];
	while (n && (*id == ' ' || *id == '\t'))
		id++, n--;
	while (n && (id[n - 1] == ' ' || id[n - 1] == '\t'))
		n--;
	if (!n || n >= 256)
		return 0;
	char *buf = keep(l, strata_strndup(id, n));
	if (!buf)
		return STRATA_ENOMEM;
	repo__pseudonym(r, buf, pseudo);
	char *ps = keep(l, strata_strdup(pseudo));
	if (!ps)
		return STRATA_ENOMEM;
	int rc = list_add(l, "subject.id", STRATA_ATTR_STR, buf, 0);
	return rc ? rc : list_add(l, "subject", STRATA_ATTR_STR, ps, 0);
}

/* A comma-separated list of identifiers. */
static int add_subjects(strata_repo *r, attr_list *l, const char *list)
{
	int rc = 0;
	for (const char *p = list; !rc && *p;) {
		size_t n = strcspn(p, ",");
		rc = add_subject(r, l, p, n);
		p += n + (p[n] == ',');
	}
	return rc;
}

int repo__spool_read(repo_spool *sp, const repo_meta *m, uint8_t **out)
{
	uint8_t *p = strata_malloc(m->len ? m->len : 1);
	if (!p)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	if (m->mem) {
		memcpy(p,
		       sp->block[m->off / SPOOL_BLOCK] + m->off % SPOOL_BLOCK,
		       m->len);
	} else if (pread(sp->fd, p, m->len, (off_t)m->off) != (ssize_t)m->len) {
		strata_free(p);
		return strata_error_set(STRATA_EIO, "cannot read the metadata "
						    "spool");
	}
	*out = p;
	return 0;
}

/* A file's encoded attributes (as spooled) into l, and its subjects. */
static int decode_attrs(strata_repo *r, const uint8_t *p, size_t n,
			const char *mapped_id, attr_list *l)
{
	strata_rd rd;
	int rc = 0;
	if (mapped_id)
		rc = add_subject(r, l, mapped_id, strlen(mapped_id));
	strata_rd_init(&rd, p, n);
	uint16_t count = n ? strata_rd_u16(&rd) : 0;
	/* every key and text plus its NUL fits in n + 2 per attribute */
	if (!rc)
		rc = strata_buf_reserve(&l->arena, n + 2u * count + 16);
	for (uint16_t i = 0; !rc && i < count; i++) {
		const char *s = NULL;
		int type = strata_rd_u8(&rd);
		uint16_t kl = strata_rd_u16(&rd);
		const uint8_t *k = strata_rd_bytes(&rd, kl);
		double d = 0;
		if (!k || kl >= 512)
			break;
		const char *key = arena_str(l, k, kl);
		if (type == STRATA_ATTR_STR) {
			uint32_t sl = strata_rd_u32(&rd);
			const uint8_t *v = strata_rd_bytes(&rd, sl);
			if (!v)
				break;
			s = arena_str(l, v, sl);
		} else {
			uint64_t u = strata_rd_u64(&rd);
			if (type == STRATA_ATTR_INT)
				d = (double)(int64_t)u;
			else
				memcpy(&d, &u, 8);
		}
		if ((rc = list_add(l, key, type, s, d)))
			break;
		if (s && !mapped_id && subject_key(key))
			rc = add_subjects(r, l, s);
	}
	return rc;
}

int repo__attrs_to_catalog(strata_repo *r, const uint8_t *p, size_t n,
			   int64_t file_row, const char *mapped_id)
{
	attr_list l;
	memset(&l, 0, sizeof(l));
	int rc = decode_attrs(r, p, n, mapped_id, &l);
	if (!rc && l.n)
		rc = strata_catalog_add_attrs(r->cat, file_row, l.a, l.n);
	list_release(&l);
	return rc;
}

int repo__attrs_to_stage(strata_repo *r, const char *path, size_t pathlen,
			 uint64_t size, const uint8_t sha256[32],
			 const uint8_t *p, size_t n, const char *mapped_id)
{
	attr_list l;
	memset(&l, 0, sizeof(l));
	int rc = decode_attrs(r, p, n, mapped_id, &l);
	if (!rc)
		rc = strata_catalog_stage_file(r->cat, path, pathlen, size,
					       sha256, l.a, l.n);
	list_release(&l);
	return rc;
}

/* ---- cut points ---- */

/* Length of the BGZF block starting at p, or 0 if p is not one. */
static size_t bgzf_block(const uint8_t *p, size_t n)
{
	if (n < 18 || p[0] != 31 || p[1] != 139 || p[2] != 8 || !(p[3] & 4) ||
	    p[12] != 'B' || p[13] != 'C' || p[14] != 2 || p[15] != 0)
		return 0;
	return (size_t)(p[16] | p[17] << 8) + 1;
}

size_t repo__cut(repo_cutter *c, const uint8_t *buf, size_t have, size_t off,
		 size_t len, uint32_t min)
{
	uint64_t start = c->base + off, end = start + len;
	/* a hard cut point (DICOM pixel data) inside the chunk wins */
	while (c->next_hint < c->hints->n &&
	       c->hints->off[c->next_hint] <= start)
		c->next_hint++;
	if (c->next_hint < c->hints->n && c->hints->off[c->next_hint] < end)
		return (size_t)(c->hints->off[c->next_hint++] - start);
	if (!c->bgzf)
		return len;
	/* else the last BGZF block boundary that keeps the chunk >= min */
	uint64_t best = 0;
	while (c->bgzf_next <= end) {
		if (c->bgzf_next > start + min)
			best = c->bgzf_next;
		if (c->bgzf_next < c->base)
			break;
		size_t at = (size_t)(c->bgzf_next - c->base);
		if (at >= have)
			break; /* beyond what is read: the file's end */
		size_t bl = bgzf_block(buf + at, have - at);
		if (!bl) {
			c->bgzf = at + 18 > have; /* undecided if cut short */
			break;
		}
		c->bgzf_next += bl;
	}
	return best ? (size_t)(best - start) : len;
}

size_t repo__cut_room(const repo_cutter *c, size_t off, size_t n)
{
	uint64_t start = c->base + off;
	for (size_t i = c->next_hint; i < c->hints->n; i++)
		if (c->hints->off[i] > start)
			return c->hints->off[i] - start < n
				   ? (size_t)(c->hints->off[i] - start)
				   : n;
	return n;
}

void repo__cutter_start(repo_cutter *c, const strata_cuts *hints,
			const uint8_t *head, size_t n)
{
	static const strata_cuts none = {NULL, 0, 0};
	memset(c, 0, sizeof(*c));
	c->hints = getenv("STRATA_NO_CUTS") ? &none : hints;
	c->bgzf = bgzf_block(head, n) != 0;
}

/* ---- ingest --subjects FILE ---- */

int repo__subject_map_add(repo_subject_map *m, const char *path, const char *id)
{
	while (*path == '/')
		path++;
	if (strata_grow(&m->path, &m->cap_path, m->n, sizeof(*m->path)) ||
	    strata_grow(&m->id, &m->cap_id, m->n, sizeof(*m->id)))
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	m->path[m->n] = strata_strdup(path);
	m->id[m->n] = strata_strdup(id);
	if (!m->path[m->n] || !m->id[m->n]) {
		strata_free(m->path[m->n]);
		strata_free(m->id[m->n]);
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	m->n++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort by path, for repo__subject_map_find: pairs sorted as one. */
int repo__subject_map_sort(repo_subject_map *m)
{
	if (m->n < 2)
		return 0;
	char **pair = strata_calloc(m->n, 2 * sizeof(char *));
	if (!pair)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n; i++) {
		pair[2 * i] = m->path[i];
		pair[2 * i + 1] = m->id[i];
	}
	qsort(pair, m->n, 2 * sizeof(char *), cmp_entry);
	for (size_t i = 0; i < m->n; i++) {
		m->path[i] = pair[2 * i];
		m->id[i] = pair[2 * i + 1];
	}
	strata_free(pair);
	return 0;
}

int repo__subject_map_load(repo_subject_map *m, const char *file)
{
	FILE *f = fopen(file, "r");
	char line[4096];
	size_t lineno = 0;
	int rc = 0;
	memset(m, 0, sizeof(*m));
	if (!f)
		return strata_error_set(strata_errno_code(errno),
					"--subjects '%s': %s", file,
					strerror(errno));
	while (!rc && fgets(line, sizeof(line), f)) {
		lineno++;
		size_t n = strcspn(line, "\r\n");
		line[n] = 0;
		if (!n || line[0] == '#' ||
		    (lineno == 1 && !strcmp(line, "path,subject")))
			continue;
		char *comma = strrchr(line, ',');
		if (!comma || comma == line || !comma[1]) {
			rc = strata_error_set(STRATA_EINVAL,
					      "--subjects '%s' line %zu: "
					      "expected 'path,subject'",
					      file, lineno);
			break;
		}
		*comma = 0;
		rc = repo__subject_map_add(m, line, comma + 1);
	}
	if (!rc && ferror(f))
		rc = strata_error_set(STRATA_EIO, "--subjects '%s': read error",
				      file);
	fclose(f);
	if (!rc)
		rc = repo__subject_map_sort(m);
	if (rc)
		repo__subject_map_release(m);
	return rc;
}

void repo__subject_map_release(repo_subject_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		strata_free(m->path[i]);
		strata_free(m->id[i]);
	}
	strata_free(m->path);
	strata_free(m->id);
	memset(m, 0, sizeof(*m));
}

const char *repo__subject_map_find(const repo_subject_map *m, const char *path)
{
	size_t lo = 0, hi = m ? m->n : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->path[mid], path);
		if (!c)
			return m->id[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
