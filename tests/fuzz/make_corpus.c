/*
 * make_corpus.c - writes the seed corpus for the fuzz targets with the real
 * encoders (trees, snapshots, index objects, pack writer, key wrapping,
 * blob codec) under the fixed test keys of fuzz_common.h, plus hostile
 * hand-made seeds (truncated, huge counts, bad fields). Most seeds are
 * deterministic; key objects and sealed blobs carry random salts and
 * nonces, so regenerating changes them. Usage: make_corpus OUTDIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "fuzz_common.h"

static const char *outdir;

static void die(const char *what)
{
	fprintf(stderr, "make_corpus: %s: %s\n", what, strata_error_msg());
	exit(1);
}

#define OK(call)                                                               \
	do {                                                                   \
		if ((call))                                                    \
			die(#call);                                            \
	} while (0)

static void seed(const char *target, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (strata_mkdir_p(path, 0755))
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void seed_buf(const char *target, const char *name, const strata_buf *b)
{
	seed(target, name, b->ptr, b->len);
}

/* Same bytes with a u32 patched at `off`. */
static void seed_patched(const char *target, const char *name,
			 const strata_buf *b, size_t off, uint32_t v)
{
	uint8_t *p = malloc(b->len);
	if (!p || off + 4 > b->len)
		die(name);
	memcpy(p, b->ptr, b->len);
	strata_le32(p + off, v);
	seed(target, name, p, b->len);
	free(p);
}

static void fill_id(uint8_t id[32], unsigned salt)
{
	for (unsigned i = 0; i < 32; i++)
		id[i] = (uint8_t)(salt * 37 + i * 11);
}

/* ---- trees ---- */

static strata_node file_node(const char *name, size_t nlen, unsigned nchunks)
{
	strata_node n;
	memset(&n, 0, sizeof(n));
	n.type = STRATA_NODE_FILE;
	n.name = strata_strndup(name, nlen);
	n.name_len = (uint16_t)nlen;
	n.mode = 0100644;
	n.mtime_ns = 1700000000123456789;
	n.ctime_ns = 1700000000223456789;
	n.ino = 4242;
	n.size = 1000u * nchunks;
	fill_id(n.sha256, 1);
	n.nchunks = nchunks;
	if (nchunks) {
		n.chunks = strata_malloc(nchunks * 32u);
		for (unsigned i = 0; i < nchunks; i++)
			fill_id(n.chunks[i], 10 + i);
	}
	return n;
}

static strata_node dir_node(const char *name)
{
	strata_node n;
	memset(&n, 0, sizeof(n));
	n.type = STRATA_NODE_DIR;
	n.name = strata_strdup(name);
	n.name_len = (uint16_t)strlen(name);
	n.mode = 040755;
	n.mtime_ns = -5; /* before the epoch: signed times round-trip */
	fill_id(n.subtree, 2);
	return n;
}

static strata_node link_node(const char *name, const char *target)
{
	strata_node n;
	memset(&n, 0, sizeof(n));
	n.type = STRATA_NODE_SYMLINK;
	n.name = strata_strdup(name);
	n.name_len = (uint16_t)strlen(name);
	n.mode = 0120777;
	n.target = strata_strdup(target);
	return n;
}

static void tree_seed(const char *name, strata_node *nodes, size_t n,
		      strata_buf *keep)
{
	strata_tree t = {nodes, n};
	strata_buf b = STRATA_BUF_INIT;
	strata_tree_sort(&t);
	OK(strata_tree_encode(&t, &b));
	seed_buf("tree", name, &b);
	if (keep)
		*keep = b;
	else
		strata_buf_release(&b);
	for (size_t i = 0; i < n; i++)
		strata_node_release(&nodes[i]);
}

static void trees(void)
{
	strata_buf basic, one_a, one_b, b = STRATA_BUF_INIT;
	tree_seed("empty.bin", NULL, 0, NULL);

	strata_node v1[] = {file_node("README", 6, 1), dir_node("data"),
			    link_node("latest", "data/v1")};
	tree_seed("basic.bin", v1, 3, &basic);

	strata_node v2[] = {file_node("\xff\xfe not utf-8", 12, 2),
			    file_node("empty file", 10, 0),
			    link_node("dangling", ""), dir_node("...")};
	tree_seed("odd-names.bin", v2, 4, NULL);

	/* two single-entry trees spliced out of order, and with a dup */
	strata_node a[] = {file_node("b", 1, 0)}, c[] = {file_node("a", 1, 0)};
	tree_seed("one-b.bin", a, 1, &one_a);
	tree_seed("one-a.bin", c, 1, &one_b);
	OK(strata_buf_put(&b, one_a.ptr, 8));
	OK(strata_buf_put_u32(&b, 2));
	OK(strata_buf_put(&b, one_a.ptr + 12, one_a.len - 12));
	OK(strata_buf_put(&b, one_b.ptr + 12, one_b.len - 12));
	seed_buf("tree", "bad-unsorted.bin", &b);
	strata_buf_reset(&b);
	OK(strata_buf_put(&b, one_a.ptr, 8));
	OK(strata_buf_put_u32(&b, 2));
	OK(strata_buf_put(&b, one_a.ptr + 12, one_a.len - 12));
	OK(strata_buf_put(&b, one_a.ptr + 12, one_a.len - 12));
	seed_buf("tree", "bad-duplicate.bin", &b);

	seed_patched("tree", "bad-huge-count.bin", &basic, 8, UINT32_MAX);
	seed("tree", "bad-truncated.bin", basic.ptr, basic.len - 1);
	/* "b" is a file: type, name_len, name, mode, 4 u64s, sha256, then
	 * nchunks */
	seed_patched("tree", "bad-huge-nchunks.bin", &one_a,
		     12 + 1 + 2 + 1 + 4 + 32 + 32, 0x08000000);
	uint8_t *p = malloc(one_a.len);
	memcpy(p, one_a.ptr, one_a.len);
	p[12 + 3] = '/';
	seed("tree", "bad-slash-name.bin", p, one_a.len);
	p[12] = 9;
	p[12 + 3] = 'b';
	seed("tree", "bad-type.bin", p, one_a.len);
	free(p);
	strata_buf_release(&b);
	strata_buf_release(&basic);
	strata_buf_release(&one_a);
	strata_buf_release(&one_b);
}

/* ---- snapshots ---- */

static void snapshots(void)
{
	strata_snapshot s;
	strata_buf b = STRATA_BUF_INIT, m = STRATA_BUF_INIT;
	memset(&s, 0, sizeof(s));
	s.dataset = "ct-scans";
	s.version = 3;
	s.layer = "raw";
	s.klass = "phi";
	s.message = "third import";
	s.author = "fuzz@example.org";
	s.time_ns = 1700000000000000000;
	fill_id(s.root, 3);
	fill_id(s.parent, 4);
	s.has_parent = true;
	s.files = 120;
	s.dirs = 7;
	s.bytes = 1u << 30;
	s.zone = "eu-west";
	OK(strata_snapshot_encode(&s, &b));
	seed_buf("snapshot", "full.bin", &b);

	/* unknown fields from a newer writer are skipped */
	OK(strata_buf_put_u16(&b, 200));
	OK(strata_buf_put_u32(&b, 3));
	OK(strata_buf_put(&b, "new", 3));
	seed_buf("snapshot", "unknown-field.bin", &b);
	/* a field repeated: the last one wins */
	OK(strata_buf_put_u16(&b, 1));
	OK(strata_buf_put_u32(&b, 5));
	OK(strata_buf_put(&b, "other", 5));
	seed_buf("snapshot", "repeated-field.bin", &b);

	s.message = s.author = s.zone = NULL;
	s.has_parent = false;
	s.version = 1;
	s.layer = "";
	OK(strata_snapshot_encode(&s, &m));
	seed_buf("snapshot", "minimal.bin", &m);

	/* hostile: header is magic (8), then tag u16, len u32 */
	strata_buf_reset(&b);
	OK(strata_buf_put(&b, m.ptr, 8));
	OK(strata_buf_put_u16(&b, 1));
	OK(strata_buf_put_u32(&b, UINT32_MAX));
	OK(strata_buf_put(&b, "x", 1));
	seed_buf("snapshot", "bad-huge-field.bin", &b);
	seed("snapshot", "bad-missing-fields.bin", m.ptr, 8);
	seed("snapshot", "bad-truncated.bin", m.ptr, m.len - 3);
	/* dataset is the first field: put a NUL in it */
	uint8_t *p = malloc(m.len);
	memcpy(p, m.ptr, m.len);
	p[8 + 6 + 2] = 0;
	seed("snapshot", "bad-nul.bin", p, m.len);
	/* version (field 2) right after the 8-byte dataset: set it to 0 */
	memcpy(p, m.ptr, m.len);
	memset(p + 8 + 6 + 8 + 6, 0, 8);
	seed("snapshot", "bad-version-0.bin", p, m.len);
	memcpy(p, m.ptr, m.len);
	strata_le32(p + 8 + 6 + 8 + 2, 4); /* version field of length 4 */
	seed("snapshot", "bad-field-length.bin", p, m.len);
	free(p);
	strata_buf_release(&b);
	strata_buf_release(&m);
}

/* ---- index objects ---- */

static void index_seed(const char *name, unsigned npacks, unsigned per,
		       strata_buf *keep)
{
	strata_index ix;
	strata_buf b = STRATA_BUF_INIT;
	OK(strata_index_init(&ix));
	for (unsigned p = 0; p < npacks; p++) {
		uint8_t pid[32];
		uint32_t num;
		fill_id(pid, 100 + p);
		OK(strata_index_pack(&ix, pid, &num));
		for (unsigned i = 0; i < per; i++) {
			strata_pack_entry e;
			fill_id(e.id, 200 + p * 16 + i);
			e.type = (uint8_t)(i % 2);
			e.offset = i * 1000;
			e.length = 1000;
			e.raw_len = 4000 + i;
			OK(strata_index_add(&ix, &e, num));
		}
	}
	OK(strata_index_encode(&ix, 0, &b));
	seed_buf("index", name, &b);
	strata_index_release(&ix);
	if (keep)
		*keep = b;
	else
		strata_buf_release(&b);
}

static void indexes(void)
{
	strata_buf one;
	index_seed("empty.bin", 0, 0, NULL);
	index_seed("one-pack.bin", 1, 3, &one);
	index_seed("three-packs.bin", 3, 4, NULL);
	index_seed("pack-without-blobs.bin", 2, 0, NULL);
	seed_patched("index", "bad-huge-packs.bin", &one, 8, UINT32_MAX);
	seed_patched("index", "bad-huge-count.bin", &one, 8 + 4 + 32,
		     UINT32_MAX);
	seed("index", "bad-truncated.bin", one.ptr, one.len - 5);
	/* first entry's type byte: after magic, npacks, pack id, count, id */
	uint8_t *p = malloc(one.len);
	memcpy(p, one.ptr, one.len);
	p[8 + 4 + 32 + 4 + 32] = 7;
	seed("index", "bad-type.bin", p, one.len);
	memcpy(p, one.ptr, one.len);
	strata_le32(p + 8 + 4 + 32 + 4 + 32 + 1 + 4, 3); /* length < overhead */
	seed("index", "bad-length.bin", p, one.len);
	free(p);
	strata_buf_release(&one);
}

/* ---- packs ---- */

/* Builds a pack of `nblobs` sealed blobs; returns the file and the table
 * plaintext decrypted from its trailer. */
static void build_pack(strata_codec *c, unsigned nblobs, strata_buf *file,
		       strata_buf *table, size_t *body)
{
	strata_pack_writer w;
	strata_buf blob = STRATA_BUF_INIT;
	uint8_t id[32], pack_id[32], plain[200];
	memset(&w, 0, sizeof(w));
	for (unsigned i = 0; i < nblobs; i++) {
		int comp;
		for (unsigned j = 0; j < sizeof(plain); j++)
			plain[j] = (uint8_t)(i * j);
		OK(strata_codec_seal(c, &blob, plain, sizeof(plain), true,
				     &comp));
		fill_id(id, 300 + i);
		OK(strata_pack_add(&w, id, (uint8_t)(i % 2), blob.ptr, blob.len,
				   sizeof(plain)));
	}
	OK(strata_pack_finish(&w, c, pack_id));
	const uint8_t *f = w.data.ptr + w.data.len - STRATA_PACK_FOOTER;
	uint32_t tlen = strata_get_le32(f);
	*body = w.data.len - STRATA_PACK_FOOTER - tlen;
	*table = (strata_buf)STRATA_BUF_INIT;
	OK(strata_codec_open(c, table, w.data.ptr + *body, tlen, 0));
	*file = w.data;
	w.data = (strata_buf)STRATA_BUF_INIT;
	strata_pack_writer_release(&w);
	strata_buf_release(&blob);
}

static void packs(strata_codec *c)
{
	static const unsigned sizes[] = {0, 1, 3};
	static const char *names[] = {"empty.bin", "one-blob.bin",
				      "three-blobs.bin"};
	for (size_t k = 0; k < 3; k++) {
		strata_buf file, table, b = STRATA_BUF_INIT;
		size_t body;
		build_pack(c, sizes[k], &file, &table, &body);
		OK(strata_buf_put_u32(&b, (uint32_t)body));
		OK(strata_buf_put(&b, table.ptr, table.len));
		seed_buf("pack_table", names[k], &b);
		/* fuzz_pack_footer mode 1: the same, sealed by the target */
		strata_buf_reset(&b);
		OK(strata_buf_put_u8(&b, 1));
		OK(strata_buf_put_u32(&b, (uint32_t)body));
		OK(strata_buf_put(&b, table.ptr, table.len));
		seed_buf("pack_footer", names[k], &b);
		/* mode 0: the real file */
		strata_buf_reset(&b);
		OK(strata_buf_put_u8(&b, 0));
		OK(strata_buf_put(&b, file.ptr, file.len));
		char name[64];
		snprintf(name, sizeof(name), "file-%s", names[k]);
		seed_buf("pack_footer", name, &b);
		if (sizes[k] == 3) {
			/* pack_len one short of the last blob's end */
			strata_buf_reset(&b);
			OK(strata_buf_put_u32(&b, (uint32_t)body));
			OK(strata_buf_put(&b, table.ptr, table.len));
			seed_patched("pack_table", "bad-short-pack.bin", &b, 0,
				     (uint32_t)body - 1);
			seed_patched("pack_table", "bad-huge-count.bin", &b,
				     4 + 8, UINT32_MAX);
			seed("pack_table", "bad-truncated.bin", b.ptr,
			     b.len - 1);
			/* footer trailer length larger than the pack */
			strata_buf_reset(&b);
			OK(strata_buf_put_u8(&b, 0));
			OK(strata_buf_put(&b, file.ptr, file.len));
			seed_patched("pack_footer", "bad-footer-length.bin", &b,
				     b.len - STRATA_PACK_FOOTER, UINT32_MAX);
			seed_patched("pack_footer", "bad-footer-tiny.bin", &b,
				     b.len - STRATA_PACK_FOOTER, 3);
			b.ptr[1 + body + 20] ^= 1;
			seed_buf("pack_footer", "bad-trailer-tampered.bin", &b);
		}
		strata_buf_release(&b);
		strata_buf_release(&file);
		strata_buf_release(&table);
	}
}

/* ---- key objects ---- */

static void key_objects(const strata_keys *k)
{
	static const strata_kdf_params cheap = {1, 8}, real = {1, 8192},
				       costly = {64, 4u << 20};
	uint8_t keyfile[32];
	strata_buf b = STRATA_BUF_INIT;
	fuzz_keyfile(keyfile);
	OK(strata_keys_wrap(&b, k, FUZZ_PASSWORD, strlen(FUZZ_PASSWORD), NULL,
			    &cheap));
	seed_buf("key", "argon2-t1-m8.bin", &b);
	seed_patched("key", "bad-costly-params.bin", &b, 9, costly.t);
	seed_patched("key", "bad-zero-params.bin", &b, 9, 0);
	OK(strata_keys_wrap(&b, k, FUZZ_PASSWORD, strlen(FUZZ_PASSWORD), NULL,
			    &real));
	seed_buf("key", "argon2-t1-m8192.bin", &b);
	OK(strata_keys_wrap(&b, k, "wrong", 5, NULL, &cheap));
	seed_buf("key", "bad-other-password.bin", &b);
	OK(strata_keys_wrap(&b, k, NULL, 0, keyfile, &cheap));
	seed_buf("key", "keyfile.bin", &b);
	b.ptr[8] = 9;
	seed_buf("key", "bad-kdf.bin", &b);
	seed("key", "bad-truncated.bin", b.ptr, b.len - 1);
	strata_buf_release(&b);
}

/* ---- blobs ---- */

static void blobs(strata_codec *c)
{
	char text[2048];
	uint8_t noise[300];
	strata_buf b = STRATA_BUF_INIT;
	int comp;
	size_t n = 0;
	while (n + 40 < sizeof(text))
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "line %zu of a compressible file\n", n);
	for (size_t i = 0; i < sizeof(noise); i++)
		noise[i] = (uint8_t)((i * 2654435761u) >> 13);
	OK(strata_codec_seal(c, &b, NULL, 0, true, &comp));
	seed_buf("blob", "sealed-empty.bin", &b);
	OK(strata_codec_seal(c, &b, (const uint8_t *)"hello", 5, true, &comp));
	seed_buf("blob", "sealed-short.bin", &b);
	OK(strata_codec_seal(c, &b, (const uint8_t *)text, n, true, &comp));
	if (comp != STRATA_COMP_ZSTD)
		die("text did not compress");
	seed_buf("blob", "sealed-zstd.bin", &b);
	OK(strata_codec_seal(c, &b, noise, sizeof(noise), true, &comp));
	seed_buf("blob", "sealed-noise.bin", &b);
	b.ptr[3] = 7;
	seed_buf("blob", "bad-compression.bin", &b);

	/* raw zstd frames: what the forged-blob path hands to zstd */
	uint8_t z[4096];
	size_t zl = ZSTD_compress(z, sizeof(z), text, n, 3);
	if (ZSTD_isError(zl))
		die("ZSTD_compress");
	seed("blob", "zstd-frame.bin", z, zl);
	seed("blob", "zstd-frame-truncated.bin", z, zl / 2);
	/* a frame header claiming 2^40 bytes of content */
	static const uint8_t huge[] = {0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0x00,
				       0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
				       0x00, 0x01, 0x00, 0x00, 0x00};
	seed("blob", "zstd-huge-content-size.bin", huge, sizeof(huge));
	/* a skippable frame: content size 0 */
	static const uint8_t skip[] = {0x50, 0x2a, 0x4d, 0x18, 4,   0,
				       0,    0,	   'p',	 'a',  'd', '!'};
	seed("blob", "zstd-skippable.bin", skip, sizeof(skip));
	/* two frames back to back: more output than the first declares */
	uint8_t two[8192];
	memcpy(two, z, zl);
	memcpy(two + zl, z, zl);
	seed("blob", "zstd-two-frames.bin", two, 2 * zl);
	strata_buf_release(&b);
}

int main(int argc, char **argv)
{
	strata_keys k;
	strata_codec *c;
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	fuzz_keys(&k);
	OK(strata_codec_new(&c, &k, 3));
	trees();
	snapshots();
	indexes();
	packs(c);
	key_objects(&k);
	blobs(c);
	strata_codec_free(c);
	return 0;
}
