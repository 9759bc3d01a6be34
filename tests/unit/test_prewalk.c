/*
 * test_prewalk.c - the ingest's pre-walk (src/repo/prewalk.c): it only
 * stats, so what it must get right is what it leaves behind: no descriptor
 * open after a stop, early or late, whatever the tree holds (nesting
 * deeper than its limit, a symlink loop, a fifo, paths that are files or
 * missing), and the tree as it was. ASan checks its memory.
 */
#include <dirent.h>
#include <sys/stat.h>
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
		strata_prewalk *p = strata_ingest_prewalk(paths, 4);
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
	strata_prewalk *p = strata_ingest_prewalk(NULL, 0);
	assert_non_null(p);
	strata_ingest_prewalk_stop(p);
	assert_int_equal(open_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_leaves_nothing),
	    cmocka_unit_test(test_no_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
