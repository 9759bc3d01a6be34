/*
 * repo_int.h - internals shared by the repository's source files: the
 * open repository, blob and tree loading, snapshot import into the
 * catalog, and path/version helpers.
 */
#ifndef STRATA_REPO_INT_H
#define STRATA_REPO_INT_H

#include "catalog/catalog.h"
#include "repo/gov.h"
#include "store/store.h"
#include "strata/repo.h"

#define INDEX_PENDING (UINT32_MAX - 1)

struct strata_repo {
	strata_backend *be;
	strata_keys keys;
	strata_catalog *cat;
	strata_index ix;
	strata_codec *codec; /* for the calling thread */
	strata_hmac *hmac;
	strata_chunker chunker;
	char id[33];
	char *zone;
	uint32_t chunk_min, chunk_avg, chunk_max, pack_size;
	int zstd_level;
	char **bad_indexes; /* index objects that failed to load */
	size_t nbad_indexes;
	repo_gov gov;
};

/* ---- hybrid: remotes, replicas, egress (push.c) ---- */
/* Apply a governance event of push.c's: 0 applied, 1 not one of its
 * operations, or an error. */
int repo__hybrid_apply(strata_repo *r, const char *op, const char *const *a,
		       size_t na, int64_t t, const char *by);
void repo__hybrid_release(strata_repo *r);

/* ---- governance (gov.c) ---- */
typedef struct repo_access {
	int action;	       /* enum strata_action */
	const char *verb;      /* the command: "restore", "ingest", ... */
	const char *spec;      /* the version read ("name[@vN]"), or NULL */
	const char *path;      /* one file in it, or NULL */
	const char *dataset;   /* when there is no version yet (ingest) */
	const char *layer;     /* of what is written */
	const char *klass;     /* class of what is written */
	unsigned classes;      /* more classes touched */
	const char *dest_zone; /* data moves there */
	unsigned dest_allows;
} repo_access;
int repo__gov_load(strata_repo *r);
/* A new repository: its creator becomes admin, its zone allows `allow`
 * (NULL: every class). */
int repo__gov_init(strata_repo *r, const char *allow);
void repo__gov_release(strata_repo *r);
/* Record a governance event (applied first, then stored). */
int repo__gov_event(strata_repo *r, const char *op, const char *const *args,
		    size_t nargs, const char *body, size_t bodylen);
const strata_role *repo__find_role(strata_repo *r, const char *name);
gov_consent *repo__find_consent(strata_repo *r, const char *target);
bool repo__withdrawn(strata_repo *r, const char *subject);
/* "sub-" + 16 hex digits of HMAC(subject key, identifier). */
void repo__pseudonym(strata_repo *r, const char *id, char out[24]);
/* The gate: 0, or STRATA_EDENIED with the reason (audited either way).
 * The operation then ends with repo__audit_done. */
int repo__gate(strata_repo *r, const repo_access *a);
/* For governance commands: the actor's role must grant `action`. */
int repo__gate_manage(strata_repo *r, int action, const char *verb,
		      const char *object);
/* Reading a version (or one file of it). */
int repo__gate_read(strata_repo *r, const char *verb, const char *spec,
		    const char *path);
/* Whether the actor may see PHI (and so PHI attributes). */
bool repo__may_read_phi(strata_repo *r);
/* Classes the actor may read. */
unsigned repo__readable(strata_repo *r);
void repo__audit_done(strata_repo *r, int rc, uint64_t bytes);
/* An audited event that needs no decision (already allowed). */
int repo__audit_note(strata_repo *r, const char *action, const char *object,
		     const char *detail);
int repo__audit_open(strata_repo *r);
/* A record field as written by repo__gate, unsealed (caller frees). */
char *repo__audit_unseal(strata_repo *r, const char *s);
int repo__audit_commit(strata_repo *r);
void repo__audit_close(strata_repo *r);

/* Read blob `id` and check that it hashes to its id. */
int repo__load_blob(strata_repo *r, strata_codec *c, strata_hmac *h,
		    const uint8_t id[32], strata_buf *out);
/* Where repo__load_blobs puts blob i (into), and what it is told once
 * the blob is there (done: 0 or an error, which stops the load). */
typedef struct repo_blob_sink {
	strata_buf *(*into)(void *payload, uint32_t i);
	int (*done)(void *payload, uint32_t i, strata_buf *b);
	void *payload;
} repo_blob_sink;
/* Blobs ids[0..n) in order, blobs lying back to back in a pack read in
 * one request (at most 16 MiB). With h each is checked to hash to its
 * id; without, only by the AEAD: for bytes that are stored again under
 * the same id, or whose own ids are computed anew. */
int repo__load_blobs(strata_repo *r, strata_codec *c, strata_hmac *h,
		     const uint8_t (*ids)[32], uint32_t n,
		     const repo_blob_sink *sink);
int repo__load_tree(strata_repo *r, const uint8_t id[32], strata_tree *t);
int repo__load_snapshot(strata_repo *r, const uint8_t id[32],
			strata_snapshot *s);
/* Add snapshot objects not yet in the catalog (crash recovery, other
 * writers). Must run inside a catalog transaction. */
int repo__sync(strata_repo *r);
/* Import one snapshot: a catalog row plus a row per file. */
int repo__import(strata_repo *r, const uint8_t id[32],
		 const strata_snapshot *s);
/* Catalog rows for every file below a stored tree; `path` holds the
 * tree's own path ("" at the root) and is restored on return. */
typedef struct import_ctx {
	strata_repo *r;
	int64_t row;
	const char *layer, *klass;
	strata_buf path;
	struct repo_spool *spool; /* ingest: where file metadata waits */
	const struct repo_subject_map *subjects; /* ingest --subjects */
	/* ingest: the previous version; files carried unchanged from it
	 * share their attributes there */
	const uint8_t *prev_snap;
	bool staged;	 /* ingest: files are added from the stage */
	bool files_only; /* ingest: kept (--update) trees are in already */
} import_ctx;

/* ingest --subjects FILE: "path,subject" lines, sorted by path. */
typedef struct repo_subject_map {
	char **path, **id;
	size_t n, cap_path, cap_id;
} repo_subject_map;
int repo__subject_map_load(repo_subject_map *m, const char *file);
void repo__subject_map_release(repo_subject_map *m);
/* The subject named for `path`, or NULL. */
const char *repo__subject_map_find(const repo_subject_map *m, const char *path);
int repo__import_tree(import_ctx *ic, const uint8_t id[32]);
/* Every node below tree `id`, depth first in tree order, a directory
 * before what it holds: cb(path, node), path being `path` (its contents
 * on entry, the prefix) + "/" + the node's name, NUL-terminated. cb may
 * take a file node's allocations (and zero them). */
typedef int (*repo_walk_cb)(strata_buf *path, strata_node *n, void *payload);
int repo__walk_tree(strata_repo *r, const uint8_t id[32], strata_buf *path,
		    repo_walk_cb cb, void *payload);
/* The attribute owner to share for a file carried unchanged to `path`
 * (ic->path), or 0. */
int64_t repo__carried_meta(import_ctx *ic);
/* Resolve "name[@vN]" to a snapshot. */
int repo__open_spec(strata_repo *r, const char *spec, strata_snapshot *s,
		    uint8_t id[32]);
/* Find the node at `path` ("a/b/c") below tree `root`. *out owns its
 * fields (release with strata_node_release). */
int repo__lookup(strata_repo *r, const uint8_t root[32], const char *path,
		 strata_node *out);
/* Store a sealed blob from the main thread into `w`, flushing when full. */
int repo__store_blob(strata_repo *r, strata_pack_writer *w, strata_codec *c,
		     uint8_t type, const uint8_t id[32], const uint8_t *p,
		     size_t n, bool try_comp, uint64_t *stored);
int repo__flush_pack(strata_repo *r, strata_pack_writer *w, strata_codec *c,
		     uint64_t *stored);
/* Persist index entries of packs >= first_pack as one index object. */
int repo__write_index(strata_repo *r, uint32_t first_pack);
int repo__claim(strata_repo *r, const uint8_t id[32]);
/* After pack `pack_id` is durable: give its pending blobs their place. */
int repo__publish(strata_repo *r, const uint8_t pack_id[32],
		  const strata_pack_entry *ents, size_t n);

/* Background pack writer (upload.c). */
typedef struct repo_uploader repo_uploader;
int repo__uploader_start(repo_uploader **out, strata_repo *r, size_t depth);
/* Finish the pack in `w` and queue it; waits while `depth` packs wait. */
int repo__uploader_submit(repo_uploader *u, strata_pack_writer *w,
			  strata_codec *c);
/* Wait for every queued pack; first error of any write. */
int repo__uploader_finish(repo_uploader *u, uint64_t *stored);

/* ---- metadata during ingest (extract.c) ---- */
/* The spool keeps attributes in memory, in blocks that never move, up to
 * SPOOL_BLOCKS of them; beyond that they go to an unlinked file. */
#define SPOOL_BLOCK (4u << 20)
#define SPOOL_BLOCKS 16 /* 64 MiB */
struct repo_spool {
	int fd;
	uint64_t end; /* of the file */
	pthread_mutex_t lock;
	uint8_t *block[SPOOL_BLOCKS];
	size_t nblocks, used; /* used: bytes of the last block */
	size_t maxblocks;     /* SPOOL_BLOCKS, or fewer: STRATA_SPOOL_MEM */
};
typedef struct repo_spool repo_spool;

typedef struct repo_meta {
	uint64_t off; /* in the spool's file, or its memory if mem */
	uint32_t len; /* 0: no metadata */
	bool damaged;
	bool mem;
} repo_meta;

int repo__spool_open(repo_spool *sp, const char *dir);
void repo__spool_close(repo_spool *sp);
struct strata_attrs;
/* A version made from files produced on demand instead of read from the
 * file system (strata deid): the ingest asks for each file's bytes from
 * its workers, so only the files being stored are in memory. */
/* Bytes [off, off + len) of a produced file are the stored chunk `id`:
 * the producer read them from it just now. */
typedef struct repo_known {
	uint64_t off;
	size_t len;
	uint8_t id[32];
} repo_known;

typedef struct repo_produced {
	const uint8_t *data; /* the file's bytes (data_len of them), or */
	size_t data_len;
	char *path; /* a file holding them */
	bool skip;  /* left out of the version (the producer said why) */
	/* what the producer already knows of data, so the ingest need not
	 * work it out again: its chunks, in order, and its metadata */
	const repo_known *known;
	size_t nknown;
	const struct strata_attrs *attrs;
	const struct strata_cuts *cuts;
	void *handle; /* the producer's, until release */
} repo_produced;

typedef struct repo_source {
	size_t n;
	void *payload;
	/* file i: its path in the version, a size to order the work by,
	 * its mode and mtime */
	const char *(*path)(void *payload, size_t i);
	uint64_t (*size)(void *payload, size_t i);
	void (*attr)(void *payload, size_t i, uint32_t *mode, int64_t *mtime);
	/* called from several threads at once; an error is fatal */
	int (*produce)(void *payload, size_t i, repo_produced *out);
	void (*release)(void *payload, size_t i, repo_produced *out);
	/* after every file was produced: the subject of file i (or NULL),
	 * and a last say on whether the version is made */
	const char *(*subject)(void *payload, size_t i);
	int (*done)(void *payload);
} repo_source;

int repo__ingest_source(strata_repo *r, const repo_source *src,
			const strata_ingest_opts *o, strata_ingest_stats *st);
int repo__subject_map_add(repo_subject_map *m, const char *path,
			  const char *id);
int repo__subject_map_sort(repo_subject_map *m);

struct strata_cuts;
/* Sniff `head` (the file's first bytes; all of it if `whole`), run the
 * reader, spool the attributes. A reader's error is returned with
 * out->damaged set. A whole DICOM file is read from memory; other files
 * are read again from `path`. */
int repo__extract(repo_spool *sp, const char *path, const uint8_t *head,
		  size_t n, bool whole, struct strata_attrs *attrs,
		  struct strata_cuts *cuts, repo_meta *out);
/* Spool attributes read elsewhere. */
int repo__spool_attrs(repo_spool *sp, const struct strata_attrs *attrs,
		      repo_meta *out);
/* Read a file's encoded attributes back from the spool (*out: free). */
int repo__spool_read(repo_spool *sp, const repo_meta *m, uint8_t **out);

/* A file's encoded attributes (as spooled) into the catalog, and its
 * subjects: `mapped_id` (from --subjects) or the identifiers its reader
 * found (DICOM Patient ID, @RG SM, VCF samples), each as a sealed
 * subject.id and its pseudonym "subject". */
int repo__attrs_to_catalog(strata_repo *r, const uint8_t *p, size_t n,
			   int64_t file_row, const char *mapped_id);
/* The same, with the file's row, staged (strata_catalog_stage_file). */
int repo__attrs_to_stage(strata_repo *r, const char *path, size_t pathlen,
			 uint64_t size, const uint8_t sha256[32],
			 const uint8_t *p, size_t n, const char *mapped_id);

/* ---- metadata records in the store (metastore.c, FORMAT.md 9a) ---- */
typedef struct repo_meta_rec {
	const char *path, *subject; /* not NUL-terminated */
	size_t path_len, subject_len;
	const uint8_t *attrs;
	uint32_t attrs_len;
	const uint8_t *rec; /* the whole record */
	size_t rec_len;
} repo_meta_rec;
typedef int (*repo_meta_cb)(const repo_meta_rec *m, void *payload);
/* Writer: records into 4 MiB data blobs stored through `w`. */
typedef struct repo_metaw {
	strata_repo *r;
	strata_pack_writer *w;
	strata_buf cur;
	uint8_t (*ids)[32];
	size_t n, cap;
	uint64_t records, stored;
} repo_metaw;
int repo__metaw_add(repo_metaw *m, const char *path, size_t plen,
		    const char *subject, const uint8_t *attrs, uint32_t alen);
int repo__metaw_rec(const repo_meta_rec *rec, void *payload); /* copy */
int repo__metaw_flush(repo_metaw *m);
void repo__metaw_release(repo_metaw *m);
int repo__meta_each(const uint8_t *p, size_t n, repo_meta_cb cb, void *payload);
int repo__meta_pieces(strata_repo *r, const strata_snapshot *s, repo_meta_cb cb,
		      void *payload);
/* A version's records in memory, by path (to carry unchanged files'
 * metadata into the next version). */
typedef struct repo_metar {
	strata_buf *pieces;
	size_t npieces;
	void *ents;
	size_t n, cap;
} repo_metar;
int repo__metar_load(strata_repo *r, const strata_snapshot *s, repo_metar *x);
/* Copy the record of `path` (or, with subtree, of every file below it)
 * into w; `subject` (not for subtrees) replaces the record's subject. */
int repo__metar_copy(const repo_metar *x, const char *path, size_t n,
		     bool subtree, const char *subject, repo_metaw *w);
void repo__metar_release(repo_metar *x);
/* Catalog attributes of snapshot `sid` from its records. */
int repo__import_meta(strata_repo *r, const uint8_t sid[32],
		      const strata_snapshot *s);

/* Format-aware cut points for one file being chunked. */
typedef struct repo_cutter {
	const struct strata_cuts *hints;
	size_t next_hint;
	uint64_t base; /* file offset of the read buffer's first byte */
	bool bgzf;
	uint64_t bgzf_next; /* next BGZF block start */
} repo_cutter;

void repo__cutter_start(repo_cutter *c, const struct strata_cuts *hints,
			const uint8_t *head, size_t n);
/* How many of the n bytes at buffer offset `off` come before the next
 * hard cut point (n if none does): the chunker need not look further. */
size_t repo__cut_room(const repo_cutter *c, size_t off, size_t n);
/* The chunk at buffer offset `off` that content-defined chunking made
 * `len` long: shortened to end at a cut point when there is one. */
size_t repo__cut(repo_cutter *c, const uint8_t *buf, size_t have, size_t off,
		 size_t len, uint32_t min);

bool repo__valid_layer(const char *s);
bool repo__valid_class(const char *s);

#endif
