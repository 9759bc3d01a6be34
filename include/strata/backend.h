/*
 * backend.h - where repository objects live. Everything above this
 * interface sees flat object names ("data/ab/ab12...", "index/...") and
 * never a file system, so an S3 bucket prefix can replace the local
 * directory without changes elsewhere.
 */
#ifndef STRATA_BACKEND_H
#define STRATA_BACKEND_H

#include "strata/strata.h"

typedef struct strata_backend strata_backend;

/* Called once per object by list(); return non-zero to stop early. */
typedef int (*strata_backend_list_cb)(const char *name, uint64_t size,
				      void *payload);

struct strata_backend_ops {
	/* Store `len` bytes as `name`, atomically and durably: after success
	 * the object is complete and survives a crash; after a failure or a
	 * crash it is absent. Objects are write-once. */
	int (*put)(strata_backend *be, const char *name, const void *p,
		   size_t len);
	/* Like put(), but durability may be deferred until the next sync():
	 * after a crash before sync() the object may be absent or damaged.
	 * Used for packs, which nothing references until an index does. */
	int (*put_deferred)(strata_backend *be, const char *name, const void *p,
			    size_t len);
	/* Make every put_deferred() object so far durable. */
	int (*sync)(strata_backend *be);
	/* Read the whole object into *out (malloc'd, caller frees) and *len;
	 * at most `limit` bytes (larger objects are ECORRUPT). */
	int (*get)(strata_backend *be, const char *name, size_t limit,
		   uint8_t **out, size_t *len);
	/* Read exactly `len` bytes at `off` into `out`. */
	int (*get_range)(strata_backend *be, const char *name, uint64_t off,
			 size_t len, void *out);
	/* Every object whose name starts with `prefix`. */
	int (*list)(strata_backend *be, const char *prefix,
		    strata_backend_list_cb cb, void *payload);
	int (*del)(strata_backend *be, const char *name);
	/* 0 and *size if present, STRATA_ENOTFOUND if absent. */
	int (*exists)(strata_backend *be, const char *name, uint64_t *size);
	/* A local directory for caches and the catalog, or NULL. */
	const char *(*local_dir)(strata_backend *be);
	void (*close)(strata_backend *be);
	/* Optional (may be NULL): `len` bytes at `off` will be read soon;
	 * start fetching them if that is cheap. A hint: it cannot fail. */
	void (*prefetch)(strata_backend *be, const char *name, uint64_t off,
			 size_t len);
};

struct strata_backend {
	const struct strata_backend_ops *ops;
	char *location; /* for messages */
};

/*
 * strata_backend_local_open - a backend over directory `path`. With
 * `create`, the directory is created (it must be absent or empty).
 * *out is owned by the caller; release with strata_backend_close().
 */
int strata_backend_local_open(strata_backend **out, const char *path,
			      int create);

/*
 * strata_backend_s3_open - a backend over the objects below "prefix/" in an
 * S3 bucket, for `url` "s3://bucket[/prefix]". The endpoint, region and
 * credentials come from the environment (AWS_ENDPOINT_URL, AWS_REGION,
 * AWS_ACCESS_KEY_ID, ...; see docs/s3.md). The bucket must exist, unless
 * `create`, which then creates it if absent; with `create` the prefix must
 * not hold a repository (a "config" object) yet. local_dir() is a
 * per-repository cache directory on this machine. *out is owned by the
 * caller; release with strata_backend_close(). Returns 0, STRATA_ENOTFOUND
 * (no bucket), STRATA_EEXIST, STRATA_EAUTH (credentials), STRATA_EIO
 * (endpoint unreachable after retries) or STRATA_EINVAL (bad url or env).
 */
int strata_backend_s3_open(strata_backend **out, const char *url, int create);

/*
 * strata_backend_open - the backend for `location`: "s3://..." opens S3
 * (strata_backend_s3_open), anything else a local directory
 * (strata_backend_local_open). Same ownership and errors as those.
 */
int strata_backend_open(strata_backend **out, const char *location, int create);

void strata_backend_close(strata_backend *be);

/*
 * strata_backend_changed - without opening the repository at `location`
 * (no key needed): when the objects below `prefix` last changed, in ns
 * since the epoch. INT64_MIN when there are none, INT64_MAX when that
 * cannot be known cheaply (S3, or no such local directory). For hints
 * only: a local directory's mtime, which moves when an object is added
 * or removed.
 */
int64_t strata_backend_changed(const char *location, const char *prefix);
int64_t strata_backend_local_changed(const char *path, const char *prefix);

#endif
