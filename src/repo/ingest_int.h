/*
 * ingest_int.h - what the two halves of ingest share: the in-memory tree
 * the walk builds (ingest.c) and the workers read into (ingest_read.c).
 */
#ifndef STRATA_REPO_INGEST_INT_H
#define STRATA_REPO_INGEST_INT_H

#include "repo/repo_int.h"
#include "strata/formats.h"

typedef struct inode {
	strata_node n;
	struct inode *kids;
	size_t nkids, cap;
	char *src; /* source path, for files that must be read */
	bool kept; /* taken whole from the previous version (--update) */
	bool failed;
	bool virt; /* file vi of the ingest's repo_source (src: its path) */
	int done;  /* its job ended (read by the staging thread) */
	/* opened by the read-ahead thread: 1 + its fd, 0 none yet, -1 taken
	 * (the worker opens the file itself) */
	int ahead_fd;
	size_t vi;
	repo_meta meta; /* extracted metadata, in the spool */
} inode;

typedef struct ingest {
	repo_subject_map subjects;
	strata_repo *r;
	const strata_ingest_opts *o;
	strata_ingest_stats *st;
	inode root;
	inode **jobs;
	size_t njobs, capjobs;
	size_t next_job;
	uint64_t files_done;
	int fatal;
	char fatal_msg[1024];
	pthread_mutex_t lock;
	/* chunks handed from a worker busy with a large file to idle ones */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct seal_task *q;
	size_t qhead, qcount;
	int active, idle;
	int prefetch_stop;
	repo_uploader *up;
	repo_spool spool;
	const repo_source *source; /* or NULL: files from the file system */
	double t0;		   /* for STRATA_TRACE */
	bool no_extract; /* STRATA_NO_EXTRACT: for measuring what it costs */
	bool staged; /* rows of files read now: staged while they are read */
	uint8_t (*sources)[32];
	dev_t repo_dev; /* the repository's own directory is never ingested */
	ino_t repo_ino;
} ingest;

enum { WARN_NOTE, WARN_ERROR, WARN_SKIP }; /* what a warning counts as */

/* A warning on stderr, counted in the ingest's stats as `kind` says. */
void ingest__warn(ingest *g, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* path[0, base) + "/" + k's name, NUL-terminated (the root's kids have
 * no leading "/"). */
int ingest__kid_path(strata_buf *path, size_t base, const inode *k);

/* Read, chunk and store the files in g->jobs, staging their catalog rows
 * meanwhile (ingest_read.c). */
int ingest__run_workers(ingest *g);

static inline int64_t ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void fill_stat(strata_node *n, const struct stat *sb)
{
	n->mode = sb->st_mode & 07777;
	n->mtime_ns = ts_ns(sb->st_mtim);
	n->ctime_ns = ts_ns(sb->st_ctim);
	n->ino = (uint64_t)sb->st_ino;
	n->size = (uint64_t)sb->st_size;
}

#endif
