/*
 * test_prewalk.c - the ingest's pre-walk (src/repo/prewalk.c): it only
 * stats, so what it must get right is what it leaves behind: no descriptor
 * open after a stop, early or late, whatever the tree holds (nesting
 * deeper than its limit, a symlink loop, a fifo, paths that are files or
 * missing), and the tree as it was. ASan checks its memory. And the
 * read-ahead it asks for: the first bytes of large files changed after
 * the repository's newest version, or of all if it holds none, and
 * nothing for a remote repository or one whose versions are newer.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "unit.h"

#include "strata/repo.h"

static size_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static size_t count_entries(const char *dir)
{
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "find '%s' | wc -l", dir);
	FILE *f = popen(cmd, "r");
	size_t n = 0;
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%zu", &n), 1);
	pclose(f);
	return n;
}

static void put_file(const char *path)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("x\n", f);
	fclose(f);
}

/* dir/deep/d/d/... 80 levels, a loop, a fifo, 300 files */
static void make_tree(const char *dir)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/deep", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	for (int i = 0; i < 80; i++) {
		size_t l = strlen(p);
		snprintf(p + l, sizeof(p) - l, "/d");
		assert_int_equal(mkdir(p, 0755), 0);
	}
	snprintf(p, sizeof(p), "%s/loop", dir);
	assert_int_equal(symlink(".", p), 0);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	assert_int_equal(mkfifo(p, 0644), 0);
	snprintf(p, sizeof(p), "%s/many", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	for (int i = 0; i < 300; i++) {
		snprintf(p, sizeof(p), "%s/many/f%03d", dir, i);
		put_file(p);
	}
}

static void test_leaves_nothing(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char file[PATH_MAX], missing[PATH_MAX];
	make_tree(dir);
	snprintf(file, sizeof(file), "%s/many/f000", dir);
	snprintf(missing, sizeof(missing), "%s/no-such", dir);
	size_t fds = open_fds(), entries = count_entries(dir);
	const char *paths[] = {dir, file, missing, dir};
	for (int round = 0; round < 2; round++) {
		strata_prewalk *p = strata_ingest_prewalk(paths, 4, NULL);
		assert_non_null(p);
		if (round) /* let it finish: the walk of a 300-file tree */
			usleep(200 * 1000);
		strata_ingest_prewalk_stop(p); /* round 0: stopped at once */
		assert_int_equal(open_fds(), fds);
	}
	assert_int_equal(count_entries(dir), entries);
	strata_ingest_prewalk_stop(NULL);
	unit_rmtree(dir);
}

static void test_no_paths(void **state)
{
	(void)state;
	size_t fds = open_fds();
	strata_prewalk *p = strata_ingest_prewalk(NULL, 0, NULL);
	assert_non_null(p);
	strata_ingest_prewalk_stop(p);
	assert_int_equal(open_fds(), fds);
}

#define BIG (6 << 20) /* over ingest's BIG_FILE (4 MiB) */

/* Pages of path in the page cache. */
static size_t resident(const char *path)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	void *m = mmap(NULL, BIG, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	static unsigned char vec[BIG / 4096];
	assert_int_equal(mincore(m, BIG, vec), 0);
	size_t n = 0;
	for (size_t i = 0; i < sizeof(vec); i++)
		n += vec[i] & 1;
	munmap(m, BIG);
	close(fd);
	return n;
}

/* Drops path from the page cache; false where that cannot be done. */
static bool evict(const char *path)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	return resident(path) == 0;
}

/* Runs a pre-walk of dir for repo to its end; the pages of file then,
 * waiting for the disk's answer if some are expected. */
static size_t walk_for(const char *dir, const char *repo, const char *file,
		       bool expect)
{
	const char *paths[] = {dir};
	strata_prewalk *p = strata_ingest_prewalk(paths, 1, repo);
	assert_non_null(p);
	usleep(100 * 1000);
	strata_ingest_prewalk_stop(p);
	size_t n = 0;
	for (int i = 0; i < (expect ? 60 : 4) && !(n = resident(file)); i++)
		usleep(50 * 1000);
	return n;
}

static void test_reads_ahead(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char data[PATH_MAX], big[PATH_MAX], small[PATH_MAX], repo[PATH_MAX],
	    snaps[PATH_MAX], snap[PATH_MAX];
	struct statfs sf;
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(big, sizeof(big), "%s/data/big.bin", dir);
	snprintf(small, sizeof(small), "%s/data/small.bin", dir);
	snprintf(repo, sizeof(repo), "%s/repo", dir);
	snprintf(snaps, sizeof(snaps), "%s/repo/snapshots", dir);
	snprintf(snap, sizeof(snap), "%s/repo/snapshots/a1", dir);
	assert_int_equal(mkdir(data, 0755), 0);
	assert_int_equal(mkdir(repo, 0755), 0);
	assert_int_equal(mkdir(snaps, 0755), 0);
	static uint8_t bytes[BIG];
	unit_fill(bytes, sizeof(bytes), 3);
	FILE *f = fopen(big, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, BIG, f), BIG);
	fclose(f);
	f = fopen(small, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, BIG / 2, f), BIG / 2);
	fclose(f);
	if (statfs(dir, &sf) || !evict(big) || !evict(small)) {
		unit_rmtree(dir);
		skip(); /* tmpfs and the like: nothing leaves the cache */
	}
	usleep(20 * 1000);
	put_file(snap); /* a version newer than the files */
	assert_int_equal(walk_for(data, repo, big, false), 0);
	assert_int_equal(walk_for(data, "s3://bucket/repo", big, false), 0);
	assert_int_equal(walk_for(data, NULL, big, false), 0);
	assert_int_equal(unlink(snap), 0); /* no version: all are read */
	assert_true(walk_for(data, repo, big, true) > 0);
	assert_int_equal(resident(small), 0); /* not large: read later */
	assert_true(evict(big));
	usleep(20 * 1000);
	put_file(snap);
	/* changed after the newest version */
	usleep(20 * 1000);
	f = fopen(big, "r+b");
	assert_non_null(f);
	fputc('x', f);
	fclose(f);
	assert_true(evict(big));
	assert_true(walk_for(data, repo, big, true) > 0);
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_leaves_nothing),
	    cmocka_unit_test(test_no_paths),
	    cmocka_unit_test(test_reads_ahead),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
