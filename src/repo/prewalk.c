/*
 * prewalk.c - stat an ingest's paths ahead of it, in a thread, while the
 * repository is opened. Opening derives the key (Argon2id: about 0.2 s of
 * one core) and the walk then waits on the disk for every inode it stats
 * (0.18 s for the 9,634 files of the bench corpus, cold): done meanwhile,
 * the walk finds them cached. On a large tree it goes the other way
 * round, so that the two meet in the middle. Nothing is kept: the
 * kernel's inode and directory caches are the only result, and an error
 * only ends the walk of that directory.
 *
 * It also asks the disk for the first bytes of large files the ingest
 * will read, so that the disk is busy while the key is derived: files
 * changed after the newest version of a local repository (their ctime is
 * later than the last change of its snapshots/ directory), which the stat
 * cache cannot match, or every one if the repository holds no version.
 * Asking for every file made an unchanged re-ingest read 256 MiB it did
 * not need (bench/README.md).
 */
#include "repo/ingest_int.h"
#include "strata/backend.h"

#include <dirent.h>

#define PREWALK_DEPTH 64	    /* directories open at once, at most */
#define PREWALK_NAMES (1u << 20)    /* entries of one directory kept, at most */
#define HINT_EACH ((off_t)64 << 20) /* asked for of one file, at most */
#define HINT_TOTAL ((off_t)256 << 20) /* asked for in all, at most */

struct strata_prewalk {
	pthread_t th;
	char **paths;
	size_t n;
	char *repo;	 /* NULL: no read-ahead */
	int64_t since;	 /* read ahead files changed after this (ns) */
	off_t hint_left; /* bytes still to ask for */
	int stop;
};

/* The first bytes of file `name` in dfd, if the ingest will read it
 * early (large) and surely (changed after the newest version). */
static void read_ahead(strata_prewalk *p, int dfd, const char *name,
		       const struct stat *sb)
{
	if ((uint64_t)sb->st_size < INGEST_BIG_FILE || p->hint_left <= 0 ||
	    ts_ns(sb->st_ctim) <= p->since)
		return;
	int fd =
	    openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t len = sb->st_size < HINT_EACH ? sb->st_size : HINT_EACH;
	if (len > p->hint_left)
		len = p->hint_left;
	(void)posix_fadvise(fd, 0, len, POSIX_FADV_WILLNEED);
	p->hint_left -= len;
	close(fd);
}

/* Stat the entries of directory dfd (closed here) last to first, and the
 * directories among them likewise: the ingest's walk goes first to last,
 * so on a tree both reach cold, each stats half of it. Past PREWALK_NAMES
 * entries the rest of a directory is left to the walk (memory stays
 * bounded). */
static void walk_fd(strata_prewalk *p, int dfd, int depth)
{
	DIR *d = fdopendir(dfd);
	strata_buf names = STRATA_BUF_INIT; /* NUL-terminated, back to back */
	size_t *at = NULL, n = 0, cap = 0;
	struct dirent *e;
	if (!d) {
		close(dfd);
		return;
	}
	while (n < PREWALK_NAMES && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (strata_grow(&at, &cap, n, sizeof(*at)))
			break;
		at[n++] = names.len;
		if (strata_buf_put(&names, e->d_name, strlen(e->d_name) + 1)) {
			n--;
			break;
		}
	}
	while (n-- > 0 && !__atomic_load_n(&p->stop, __ATOMIC_RELAXED)) {
		const char *name = (const char *)names.ptr + at[n];
		struct stat sb;
		if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW))
			continue;
		if (S_ISREG(sb.st_mode))
			read_ahead(p, dirfd(d), name, &sb);
		if (!S_ISDIR(sb.st_mode) || depth >= PREWALK_DEPTH)
			continue;
		int sub =
		    openat(dirfd(d), name,
			   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			walk_fd(p, sub, depth + 1);
	}
	strata_free(at);
	strata_buf_release(&names);
	closedir(d);
}

static void *run(void *arg)
{
	strata_prewalk *p = arg;
	/* files changed after the newest version cannot be unchanged */
	p->since =
	    p->repo ? strata_backend_changed(p->repo, "snapshots") : INT64_MAX;
	p->hint_left = p->since == INT64_MAX ? 0 : HINT_TOTAL;
	for (size_t i = 0; i < p->n; i++) {
		struct stat sb;
		if (lstat(p->paths[i], &sb) || !S_ISDIR(sb.st_mode))
			continue;
		int fd = open(p->paths[i],
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			walk_fd(p, fd, 0);
	}
	return NULL;
}

static void release(strata_prewalk *p)
{
	for (size_t i = 0; i < p->n; i++)
		strata_free(p->paths[i]);
	strata_free(p->paths);
	strata_free(p->repo);
	strata_free(p);
}

strata_prewalk *strata_ingest_prewalk(const char *const *paths, size_t n,
				      const char *repo)
{
	strata_prewalk *p = strata_calloc(1, sizeof(*p));
	if (!p || !(p->paths = strata_calloc(n ? n : 1, sizeof(*p->paths)))) {
		strata_free(p);
		return NULL;
	}
	for (; p->n < n; p->n++)
		if (!(p->paths[p->n] = strata_strdup(paths[p->n]))) {
			release(p);
			return NULL;
		}
	if (repo && !(p->repo = strata_strdup(repo))) {
		release(p);
		return NULL;
	}
	if (pthread_create(&p->th, NULL, run, p)) {
		release(p);
		return NULL;
	}
	return p;
}

void strata_ingest_prewalk_stop(strata_prewalk *p)
{
	if (!p)
		return;
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELAXED);
	pthread_join(p->th, NULL);
	release(p);
}
