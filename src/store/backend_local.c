/*
 * backend_local.c - the local-directory backend. put() writes a temporary
 * file in the target directory, fsyncs it, renames it into place and
 * fsyncs the directory, so an object is either whole or absent after a
 * crash. Leftover ".tmp-" files from a killed process are ignored by
 * list() and swept by open().
 */
#include "common/common.h"
#include "strata/backend.h"

typedef struct local {
	strata_backend be;
	char *root;
	char *state; /* root/local: catalog and caches */
	pthread_mutex_t lock;
	char **deferred; /* objects written but not yet fsynced */
	size_t ndeferred, capdeferred;
} local;

static int path_of(local *l, const char *name, char *out, size_t n)
{
	if (strstr(name, "..") || name[0] == '/')
		return strata_error_set(STRATA_EINVAL, "bad object name '%s'",
					name);
	if ((size_t)snprintf(out, n, "%s/%s", l->root, name) >= n)
		return strata_error_set(STRATA_EINVAL,
					"object name too long '%s'", name);
	return 0;
}

static int io_err(const char *what, const char *path)
{
	int e = errno;
	int code = strata_errno_code(e);
	if (code == STRATA_ENOSPC)
		return strata_error_set(code,
					"no space left on device while writing "
					"'%s': free space and retry (nothing "
					"was lost)",
					path);
	return strata_error_set(code, "cannot %s '%s': %s", what, path,
				strerror(e));
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return io_err("open directory", dir);
	int rc = fsync(fd) ? io_err("sync directory", dir) : 0;
	close(fd);
	return rc;
}

static int put_file(local *l, const char *name, const void *p, size_t len,
		    bool defer);

static int l_put(strata_backend *be, const char *name, const void *p,
		 size_t len)
{
	return put_file((local *)be, name, p, len, false);
}

static int remember(local *l, const char *path)
{
	pthread_mutex_lock(&l->lock);
	int rc = strata_grow(&l->deferred, &l->capdeferred, l->ndeferred,
			     sizeof(*l->deferred));
	if (!rc && !(l->deferred[l->ndeferred] = strata_strdup(path)))
		rc = strata_error_set(STRATA_ENOMEM, "out of memory");
	if (!rc)
		l->ndeferred++;
	pthread_mutex_unlock(&l->lock);
	return rc;
}

static int l_put_deferred(strata_backend *be, const char *name, const void *p,
			  size_t len)
{
	return put_file((local *)be, name, p, len, true);
}

static int l_sync(strata_backend *be)
{
	local *l = (local *)be;
	int rc = 0;
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->ndeferred; i++) {
		char *path = l->deferred[i];
		int fd = rc ? -1 : open(path, O_RDONLY | O_CLOEXEC);
		if (!rc && (fd < 0 || fsync(fd)))
			rc = io_err("sync", path);
		if (fd >= 0)
			close(fd);
		char *slash = strrchr(path, '/');
		*slash = 0;
		if (!rc && (i + 1 == l->ndeferred ||
			    strncmp(l->deferred[i + 1], path, strlen(path))))
			rc = fsync_dir(path);
		strata_free(path);
	}
	l->ndeferred = 0;
	pthread_mutex_unlock(&l->lock);
	return rc;
}

/*
 * Large objects (packs) are written with O_DIRECT when the file system
 * allows it: on the machines we measured, buffered writes of tens of MiB
 * ran at a third of the device's speed because of dirty-page throttling.
 * The aligned bulk goes direct from an aligned copy; the tail is written
 * normally. Returns 1 if it wrote nothing and the caller should fall back.
 */
#define DIRECT_MIN (4u << 20)
#define DIRECT_ALIGN 4096

#define BOUNCE (1u << 20)

static int write_direct(const char *tmp, const void *p, size_t len)
{
	size_t bulk = len & ~(size_t)(DIRECT_ALIGN - 1);
	void *al = NULL;
	/* a pack buffer is aligned (strata_buf_alloc_huge): written as is */
	bool aligned = !((uintptr_t)p & (DIRECT_ALIGN - 1));
	int fd = open(tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return 1;
	if (!aligned && posix_memalign(&al, DIRECT_ALIGN, BOUNCE)) {
		close(fd);
		return 1;
	}
	int rc = 0, e = 0;
	/* else through a small aligned bounce buffer, not a copy of it all */
	for (size_t done = 0; !rc && done < bulk; done += BOUNCE) {
		size_t n = bulk - done < BOUNCE ? bulk - done : BOUNCE;
		const uint8_t *from = (const uint8_t *)p + done;
		if (!aligned)
			from = memcpy(al, from, n);
		rc = strata_write_all(fd, from, n);
		e = errno;
		if (rc && done == 0 && e == EINVAL) {
			free(al);
			close(fd);
			return 1; /* the file system refuses O_DIRECT */
		}
	}
	free(al);
	close(fd);
	errno = e;
	if (rc)
		return -1;
	if (bulk == len)
		return 0;
	fd = open(tmp, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = strata_write_all(fd, (const uint8_t *)p + bulk, len - bulk);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

static int put_file(local *l, const char *name, const void *p, size_t len,
		    bool defer)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32], dir[PATH_MAX];
	int rc = path_of(l, name, path, sizeof(path));
	if (rc)
		return rc;
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = 0;
	uint8_t r[8];
	char rh[17];
	strata_random(r, sizeof(r));
	strata_hex(rh, r, sizeof(r));
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", dir, rh);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0 && errno == ENOENT) {
		if ((rc = strata_mkdir_p(dir, 0700)))
			return rc;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	}
	if (fd < 0)
		return io_err("create", tmp);
	if (len >= DIRECT_MIN) {
		int d = write_direct(tmp, p, len);
		if (d < 0) {
			rc = io_err("write", path);
			close(fd);
			unlink(tmp);
			return rc;
		}
		if (d == 0) {
			p = NULL; /* written: only sync and rename are left */
			len = 0;
		}
	}
	if (defer && (!len || !strata_write_all(fd, p, len))) {
		/* start writeback now; sync() waits for it */
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		close(fd);
		if (rename(tmp, path)) {
			rc = io_err("rename into", path);
			unlink(tmp);
			return rc;
		}
		return remember(l, path);
	}
	if (defer || (len && strata_write_all(fd, p, len)) || fsync(fd)) {
		rc = io_err("write", path);
		close(fd);
		unlink(tmp);
		return rc;
	}
	close(fd);
	if (rename(tmp, path)) {
		rc = io_err("rename into", path);
		unlink(tmp);
		return rc;
	}
	return fsync_dir(dir);
}

/* Open object `name` for reading; its path is left in `path`. */
static int open_obj(local *l, const char *name, char *path, size_t n, int *fd)
{
	int rc = path_of(l, name, path, n);
	if (rc)
		return rc;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd >= 0)
		return 0;
	return errno == ENOENT
		   ? strata_error_set(STRATA_ENOTFOUND,
				      "object '%s' is missing", name)
		   : io_err("open", path);
}

/* Read exactly `len` bytes at `off`: a short object is damaged. */
static int read_at(int fd, const char *path, const char *name, void *out,
		   size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t k = pread(fd, (uint8_t *)out + got, len - got,
				  (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return io_err("read", path);
		if (k == 0)
			return strata_error_set(
			    STRATA_ECORRUPT,
			    "object '%s' is truncated (wanted "
			    "%zu bytes at %" PRIu64 ")",
			    name, len, off);
		got += (size_t)k;
	}
	return 0;
}

static int l_get(strata_backend *be, const char *name, size_t limit,
		 uint8_t **out, size_t *outlen)
{
	char path[PATH_MAX];
	struct stat st;
	uint8_t *buf = NULL;
	int fd, rc = open_obj((local *)be, name, path, sizeof(path), &fd);
	if (rc)
		return rc;
	if (fstat(fd, &st))
		rc = io_err("stat", path);
	else if ((uint64_t)st.st_size > limit)
		rc =
		    strata_error_set(STRATA_ECORRUPT,
				     "object '%s' is %lld bytes, more than the "
				     "%zu allowed",
				     name, (long long)st.st_size, limit);
	else if (!(buf = strata_malloc((size_t)st.st_size)))
		rc = strata_error_set(STRATA_ENOMEM,
				      "out of memory reading '%s'", name);
	else
		rc = read_at(fd, path, name, buf, (size_t)st.st_size, 0);
	close(fd);
	if (rc) {
		strata_free(buf);
		return rc;
	}
	*out = buf;
	*outlen = (size_t)st.st_size;
	return 0;
}

static int l_get_range(strata_backend *be, const char *name, uint64_t off,
		       size_t len, void *out)
{
	char path[PATH_MAX];
	int fd, rc = open_obj((local *)be, name, path, sizeof(path), &fd);
	if (rc)
		return rc;
	rc = read_at(fd, path, name, out, len, off);
	close(fd);
	return rc;
}

static void l_prefetch(strata_backend *be, const char *name, uint64_t off,
		       size_t len)
{
	char path[PATH_MAX];
	int fd;
	if (path_of((local *)be, name, path, sizeof(path)) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	(void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
	close(fd);
}

static int list_dir(local *l, const char *rel, const char *prefix,
		    strata_backend_list_cb cb, void *payload)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s%s%s", l->root, *rel ? "/" : "", rel);
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : io_err("list", path);
	struct dirent *e;
	int rc = 0;
	while (!rc && (e = readdir(d))) {
		char name[PATH_MAX];
		struct stat st;
		if (e->d_name[0] == '.')
			continue; /* ".", "..", ".tmp-*" */
		snprintf(name, sizeof(name), "%s%s%s", rel, *rel ? "/" : "",
			 e->d_name);
		size_t nl = strlen(name), pl = strlen(prefix);
		if (strncmp(name, prefix, nl < pl ? nl : pl))
			continue;
		if (path_of(l, name, path, sizeof(path)) || lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (strcmp(name, "local"))
				rc = list_dir(l, name, prefix, cb, payload);
		} else if (S_ISREG(st.st_mode) && nl >= pl) {
			rc = cb(name, (uint64_t)st.st_size, payload);
		}
	}
	closedir(d);
	return rc;
}

static int l_list(strata_backend *be, const char *prefix,
		  strata_backend_list_cb cb, void *payload)
{
	return list_dir((local *)be, "", prefix, cb, payload);
}

static int l_del(strata_backend *be, const char *name)
{
	char path[PATH_MAX];
	int rc = path_of((local *)be, name, path, sizeof(path));
	if (rc)
		return rc;
	if (unlink(path) && errno != ENOENT)
		return io_err("delete", path);
	return 0;
}

static int l_exists(strata_backend *be, const char *name, uint64_t *size)
{
	char path[PATH_MAX];
	struct stat st;
	int rc = path_of((local *)be, name, path, sizeof(path));
	if (rc)
		return rc;
	if (stat(path, &st))
		return errno == ENOENT ? STRATA_ENOTFOUND
				       : io_err("stat", path);
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

static const char *l_local_dir(strata_backend *be)
{
	return ((local *)be)->state;
}

static void l_close(strata_backend *be)
{
	local *l = (local *)be;
	for (size_t i = 0; i < l->ndeferred; i++)
		strata_free(l->deferred[i]);
	strata_free(l->deferred);
	pthread_mutex_destroy(&l->lock);
	strata_free(l->root);
	strata_free(l->state);
	strata_free(be->location);
	strata_free(l);
}

static const struct strata_backend_ops local_ops = {
    l_put, l_put_deferred, l_sync,	l_get,	 l_get_range, l_list,
    l_del, l_exists,	   l_local_dir, l_close, l_prefetch};

/* Remove temporaries a killed writer left behind (one level deep). */
static void sweep_tmp(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d))) {
		char p[PATH_MAX];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (!strncmp(e->d_name, ".tmp-", 5)) {
			struct stat st;
			/* only stale ones: a live writer may own a fresh one */
			if (!stat(p, &st) && time(NULL) - st.st_mtime > 3600)
				unlink(p);
		} else if (depth > 0 && e->d_type == DT_DIR) {
			sweep_tmp(p, depth - 1);
		}
	}
	closedir(d);
}

int strata_backend_local_open(strata_backend **out, const char *path,
			      int create)
{
	struct stat st;
	int rc;
	if (create) {
		DIR *d = opendir(path);
		if (d) {
			struct dirent *e;
			int n = 0;
			while ((e = readdir(d)))
				n += strcmp(e->d_name, ".") &&
				     strcmp(e->d_name, "..");
			closedir(d);
			if (n)
				return strata_error_set(
				    STRATA_EEXIST,
				    "cannot create repository at '%s': the "
				    "directory is not empty",
				    path);
		} else if ((rc = strata_mkdir_p(path, 0700))) {
			return rc;
		}
	} else if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
		return strata_error_set(
		    STRATA_ENOTFOUND,
		    "no repository at '%s': create one with "
		    "'strata init %s'",
		    path, path);
	}
	local *l = strata_calloc(1, sizeof(*l));
	if (!l)
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	l->be.ops = &local_ops;
	pthread_mutex_init(&l->lock, NULL);
	l->root = strata_strdup(path);
	l->be.location = strata_strdup(path);
	size_t n = strlen(path) + 8;
	l->state = strata_malloc(n);
	if (!l->root || !l->be.location || !l->state) {
		l_close(&l->be);
		return strata_error_set(STRATA_ENOMEM, "out of memory");
	}
	snprintf(l->state, n, "%s/local", path);
	if ((rc = strata_mkdir_p(l->state, 0700))) {
		l_close(&l->be);
		return rc;
	}
	if (!create)
		sweep_tmp(path, 2);
	*out = &l->be;
	return 0;
}

void strata_backend_close(strata_backend *be)
{
	if (be)
		be->ops->close(be);
}

int64_t strata_backend_local_changed(const char *path, const char *prefix)
{
	char dir[PATH_MAX];
	struct stat sb;
	struct dirent *e;
	bool any = false;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", path, prefix) >=
	    sizeof(dir))
		return INT64_MAX;
	DIR *d = opendir(dir);
	if (!d)
		return INT64_MAX;
	while (!any && (e = readdir(d)))
		any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	int64_t t =
	    !any ? INT64_MIN
	    : fstat(dirfd(d), &sb)
		? INT64_MAX
		: (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	closedir(d);
	return t;
}
