/*
 * speed.c - what this machine can do: chunk + HMAC + compress + encrypt
 * over a buffer in memory, on `threads` threads, with the same code the
 * ingest uses. bench/ compares ingest throughput with this ceiling.
 */
#include "repo/repo_int.h"

typedef struct speed_part {
	const strata_repo *r;
	const uint8_t *p;
	size_t n;
	int rc;
} speed_part;

static void *speed_run(void *arg)
{
	speed_part *s = arg;
	strata_codec *c = NULL;
	strata_hmac *h = NULL;
	strata_buf out = STRATA_BUF_INIT;
	uint8_t id[32];
	int comp;
	out.limit = STRATA_BLOB_MAX + 65536;
	if ((s->rc = strata_codec_new(&c, &s->r->keys, s->r->zstd_level)) ||
	    (s->rc = strata_hmac_new(&h, s->r->keys.id_key, 32)))
		goto out;
	size_t off = 0;
	bool try_comp = !(s->n > 2 && s->p[0] == 0x1f && s->p[1] == 0x8b);
	while (off < s->n) {
		size_t len = strata_chunker_next(&s->r->chunker, s->p + off,
						 s->n - off, true);
		strata_blob_id(h, id, s->p + off, len);
		if ((s->rc = strata_codec_seal(c, &out, s->p + off, len,
					       try_comp, &comp)))
			break;
		off += len;
	}
out:
	strata_codec_free(c);
	strata_hmac_free(h);
	strata_buf_release(&out);
	return NULL;
}

int strata_repo_speed(strata_repo *r, const uint8_t *buf, size_t len,
		      int threads, double *bytes_per_sec)
{
	speed_part parts[64];
	pthread_t th[64];
	if (threads < 1)
		threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1 || threads > 64)
		threads = threads < 1 ? 1 : 64;
	size_t per = len / (size_t)threads;
	double t0 = strata_mono();
	for (int i = 0; i < threads; i++) {
		parts[i].r = r;
		parts[i].p = buf + per * (size_t)i;
		parts[i].n = i == threads - 1 ? len - per * (size_t)i : per;
		parts[i].rc = 0;
		pthread_create(&th[i], NULL, speed_run, &parts[i]);
	}
	int rc = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		if (parts[i].rc)
			rc = parts[i].rc;
	}
	double el = strata_mono() - t0;
	*bytes_per_sec = el > 0 ? (double)len / el : 0;
	return rc;
}

int strata_speed(const uint8_t *buf, size_t len, int threads, int zstd_level,
		 double *bytes_per_sec)
{
	strata_repo r;
	if (zstd_level < STRATA_ZSTD_MIN || zstd_level > STRATA_ZSTD_MAX)
		return strata_error_set(STRATA_EINVAL,
					"zstd level %d is not one zstd has: "
					"choose one from %d to %d (not 0)",
					zstd_level, STRATA_ZSTD_MIN,
					STRATA_ZSTD_MAX);
	memset(&r, 0, sizeof(r));
	strata_random(r.keys.master, sizeof(r.keys.master));
	strata_keys_derive(&r.keys);
	r.zstd_level = zstd_level ? zstd_level : STRATA_ZSTD_DEFAULT;
	int rc = strata_chunker_init(&r.chunker, r.keys.gear_key, 256u << 10,
				     1u << 20, 4u << 20);
	if (!rc)
		rc = strata_repo_speed(&r, buf, len, threads, bytes_per_sec);
	strata_wipe(&r.keys, sizeof(r.keys));
	return rc;
}
