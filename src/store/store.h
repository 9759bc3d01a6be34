/*
 * store.h - internal API of the content store: keys, the chunker, the blob
 * codec, packs, the chunk index, trees and snapshots. The byte layouts are
 * specified in docs/FORMAT.md; the parsers here take untrusted bytes and
 * are fuzzed (tests/fuzz).
 */
#ifndef STRATA_STORE_H
#define STRATA_STORE_H

#include "common/common.h"
#include "strata/backend.h"

#define STRATA_FORMAT_VERSION 1

/* ---- keys (keys.c) ---- */
typedef struct strata_keys {
	uint8_t master[64];
	uint8_t data_key[32];	 /* AES-256-GCM for blobs */
	uint8_t id_key[32];	 /* HMAC-SHA-256 chunk and tree ids */
	uint8_t gear_key[32];	 /* seeds the chunker's gear table */
	uint8_t catalog_key[32]; /* AES-256-GCM for catalog values */
	uint8_t catalog_mac[32]; /* HMAC for catalog lookups */
	uint8_t subject_key[32]; /* HMAC: subject identifier -> pseudonym */
	uint8_t audit_seed[32];	 /* Ed25519 seed of audit checkpoints */
	uint8_t deid_key[32];	 /* PRF of de-identification: UIDs, dates */
	uint32_t key_id;
} strata_keys;

typedef struct strata_kdf_params {
	uint32_t t;
	uint32_t mem_kib;
} strata_kdf_params;

void strata_keys_derive(strata_keys *k);
/* Serialise a key object wrapping k->master under a passphrase (pass) or
 * a 32-byte key file (keyfile, when pass is NULL). */
int strata_keys_wrap(strata_buf *out, const strata_keys *k, const char *pass,
		     size_t passlen, const uint8_t *keyfile,
		     const strata_kdf_params *kdf);
/* Parse a key object and unwrap: STRATA_EAUTH if the secret is wrong. */
int strata_keys_unwrap(strata_keys *k, const uint8_t *obj, size_t len,
		       const char *pass, size_t passlen,
		       const uint8_t *keyfile);

/* Blob id: HMAC-SHA-256 under the id key of the blob's plain SHA-256,
 * so a one-chunk file hashes its bytes once for both its file checksum
 * and its chunk id. */
void strata_blob_id(strata_hmac *h, uint8_t id[32], const void *p, size_t n);
void strata_blob_id_of_sha(strata_hmac *h, uint8_t id[32],
			   const uint8_t sha[32]);

/* ---- chunker (chunker.c): FastCDC with normalised chunking ---- */
typedef struct strata_chunker {
	uint64_t gear[256];
	uint32_t min, avg, max;
	uint64_t mask_s, mask_l;
} strata_chunker;

int strata_chunker_init(strata_chunker *c, const uint8_t gear_key[32],
			uint32_t min, uint32_t avg, uint32_t max);
/* Length of the next chunk of p[0..n); `eof` says no more bytes follow.
 * Returns 0 when more input is needed to decide (only if !eof). */
size_t strata_chunker_next(const strata_chunker *c, const uint8_t *p, size_t n,
			   bool eof);

/* ---- blob codec (blob.c) ---- */
enum { STRATA_COMP_NONE = 0, STRATA_COMP_ZSTD = 1 };
#define STRATA_BLOB_HDR 8
#define STRATA_BLOB_OVERHEAD                                                   \
	(STRATA_BLOB_HDR + STRATA_NONCE_LEN + STRATA_TAG_LEN)
#define STRATA_BLOB_MAX                                                        \
	(64u << 20) /* no stored plaintext blob (a chunk, a large tree) is     \
		       larger */

typedef struct strata_codec strata_codec; /* per thread */
int strata_codec_new(strata_codec **out, const strata_keys *k, int zlevel);
void strata_codec_free(strata_codec *c);
/* How strata_codec_seal treats its input: stored as it is (known to be
 * compressed already), compressed if a sample says it is worth it, or
 * compressed without asking (known to compress, as native DICOM pixels);
 * compressed data is kept only if it is smaller. false and true are
 * SEAL_RAW and SEAL_TRY. */
enum { STRATA_SEAL_RAW = 0, STRATA_SEAL_TRY = 1, STRATA_SEAL_ZSTD = 2 };
/* Encode plaintext p[0..n) into out (replacing its content), as `mode`
 * says. Sets *comp. */
int strata_codec_seal(strata_codec *c, strata_buf *out, const uint8_t *p,
		      size_t n, int mode, int *comp);
/* The same, appended to out (a pack's data, say: no copy). */
int strata_codec_seal_append(strata_codec *c, strata_buf *out, const uint8_t *p,
			     size_t n, int mode, int *comp);
/* Decode a stored blob into out (replacing its content); raw_len bounds
 * the plaintext size (0: STRATA_BLOB_MAX). */
int strata_codec_open(strata_codec *c, strata_buf *out, const uint8_t *blob,
		      size_t n, size_t raw_len);
/* The same into dst, which holds cap bytes (a plaintext larger than that
 * is an error); *len is the plaintext's length. */
int strata_codec_open_into(strata_codec *c, uint8_t *dst, size_t cap,
			   const uint8_t *blob, size_t n, size_t *len);
/* true if a sample of p looks incompressible */
bool strata_codec_incompressible(strata_codec *c, const uint8_t *p, size_t n);

/* ---- packs (pack.c) ---- */
enum { STRATA_BLOB_DATA = 0, STRATA_BLOB_TREE = 1 };

typedef struct strata_pack_entry {
	uint8_t id[32];
	uint8_t type;
	uint32_t offset;
	uint32_t length;  /* stored bytes */
	uint32_t raw_len; /* plaintext bytes */
} strata_pack_entry;

#define STRATA_PACK_MAGIC "STRPACK1"
#define STRATA_PACK_FOOTER 12 /* u32 trailer length + magic */
#define STRATA_PACK_ENTRY_SIZE 45

typedef struct strata_pack_writer {
	strata_buf data;
	strata_pack_entry *ents;
	size_t n, cap;
} strata_pack_writer;

int strata_pack_add(strata_pack_writer *w, const uint8_t id[32], uint8_t type,
		    const uint8_t *blob, size_t len, uint32_t raw_len);
/* Seal p[0..n) (strata_codec_seal's mode) straight into the pack. */
int strata_pack_seal(strata_pack_writer *w, strata_codec *c,
		     const uint8_t id[32], uint8_t type, const uint8_t *p,
		     size_t n, int mode);
/* The name of pack p[0..n): SHA-256 of its trailer (sealed table, its
 * length and the magic). False if p does not end in a trailer. */
bool strata_pack_name_hash(uint8_t out[32], const uint8_t *p, size_t n);
/* Whether pack p[0..n) is the one named `id`: by its trailer, or, for a
 * pack written before 2026-11-26, by all its bytes (FORMAT.md section 6). */
bool strata_pack_name_matches(const uint8_t id[32], const uint8_t *p, size_t n);
/* Append the encrypted trailer and name the pack (strata_pack_name_hash). */
int strata_pack_finish(strata_pack_writer *w, strata_codec *c,
		       uint8_t pack_id[32]);
void strata_pack_writer_reset(strata_pack_writer *w);
void strata_pack_writer_release(strata_pack_writer *w);
/* Parse decrypted trailer plaintext. *out malloc'd. */
int strata_pack_parse_table(const uint8_t *p, size_t n, size_t pack_len,
			    strata_pack_entry **out, size_t *count);
/* Read and decrypt a pack's trailer through the backend. */
int strata_pack_read_table(strata_backend *be, strata_codec *c,
			   const char *name, uint64_t size,
			   strata_pack_entry **out, size_t *count);
/* The same from a whole pack already in memory (p, len). */
int strata_pack_table_of(strata_codec *c, const char *name, const uint8_t *p,
			 size_t len, strata_pack_entry **out, size_t *count);
void strata_pack_name(char *out, size_t n, const uint8_t id[32]);

/* ---- index (index.c): chunk id -> (pack, offset, length) ---- */
typedef struct strata_index_ent {
	uint8_t id[32];
	uint32_t pack; /* position in the packs table */
	uint32_t offset;
	uint32_t length;
	uint32_t raw_len : 31;
	uint32_t type : 1;
} strata_index_ent; /* 48 bytes */

typedef struct strata_index {
	strata_index_ent
	    *slots; /* open addressing; pack == UINT32_MAX: empty */
	size_t mask, count;
	uint8_t (*packs)[32];
	size_t npacks, packcap;
	pthread_mutex_t lock;
} strata_index;

int strata_index_init(strata_index *ix);
void strata_index_release(strata_index *ix);
/* Returns the pack number for id, adding it if new. */
int strata_index_pack(strata_index *ix, const uint8_t pack_id[32],
		      uint32_t *out);
int strata_index_add(strata_index *ix, const strata_pack_entry *e,
		     uint32_t pack);
const strata_index_ent *strata_index_find(const strata_index *ix,
					  const uint8_t id[32]);
/* Serialise entries of packs [first_pack, npacks) as an index object
 * plaintext. */
int strata_index_encode(const strata_index *ix, uint32_t first_pack,
			strata_buf *out);
/* Parse index plaintext into ix. */
int strata_index_decode(strata_index *ix, const uint8_t *p, size_t n);

/* ---- trees (tree.c) ---- */
enum { STRATA_NODE_FILE = 1, STRATA_NODE_DIR = 2, STRATA_NODE_SYMLINK = 3 };

typedef struct strata_node {
	uint8_t type;
	char *name;
	uint16_t name_len;
	uint32_t mode;
	int64_t mtime_ns;
	int64_t ctime_ns; /* stat cache */
	uint64_t ino;	  /* stat cache */
	uint64_t size;
	uint8_t sha256[32];  /* files */
	uint8_t subtree[32]; /* dirs */
	uint8_t (*chunks)[32];
	uint32_t nchunks;
	char *target; /* symlinks */
} strata_node;

typedef struct strata_tree {
	strata_node *nodes;
	size_t n;
} strata_tree;

/* Entries must be sorted by name (strata_tree_sort). */
int strata_tree_encode(const strata_tree *t, strata_buf *out);
int strata_tree_decode(strata_tree *t, const uint8_t *p, size_t n);
void strata_tree_sort(strata_tree *t);
void strata_node_release(strata_node *n);
void strata_tree_release(strata_tree *t);
int strata_name_cmp(const char *a, size_t al, const char *b, size_t bl);

/* ---- snapshots (snapshot.c) ---- */
typedef struct strata_snapshot {
	char *dataset;
	uint32_t version;
	char *layer;
	char *klass;
	char *message;
	char *author;
	int64_t time_ns;
	uint8_t root[32];
	uint8_t parent[32];
	bool has_parent;
	uint64_t files, dirs, bytes;
	char *zone;
	uint8_t (*sources)[32]; /* snapshots this one was made from */
	uint32_t nsources;
	char *recipe; /* "tool=...,version=...,params=..." */
	/* the files' extracted metadata: records (FORMAT.md §9a) split over
	 * data blobs, concatenated in this order */
	uint8_t (*meta)[32];
	uint32_t nmeta;
} strata_snapshot;

int strata_snapshot_encode(const strata_snapshot *s, strata_buf *out);
int strata_snapshot_decode(strata_snapshot *s, const uint8_t *p, size_t n);
void strata_snapshot_release(strata_snapshot *s);

#endif
