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
	bool virt;    /* file vi of the ingest's repo_source (src: its path) */
	int done;     /* its job ended (read by the staging thread) */
	int ahead;    /* AHEAD_*: what the read-ahead thread did with it */
	int ahead_fd; /* AHEAD_OPEN, AHEAD_READ: the file, open */
	struct ahead_read *ahead_read; /* AHEAD_READ: its bytes */
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
	pthread_cond_t done; /* under lock: every job ended, or fatal set */
	/* chunks handed from a worker busy with a large file to idle ones */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct seal_task *q;
	size_t qhead, qcount;
	int active, idle;
	/* the read-ahead thread (ingest_ahead.c) and the inodes' ahead */
	pthread_mutex_t ahead_lock;
	pthread_cond_t ahead_cond;
	int ahead_stop;
	struct ahead_ring *ahead_ring; /* where whole files are read into */
	repo_uploader *up;
	repo_spool spool;
	const repo_source *source; /* or NULL: files from the file system */
	double t0;		   /* for STRATA_TRACE */
	bool no_extract; /* STRATA_NO_EXTRACT: for measuring what it costs */
	bool staged; /* rows of files read now: staged while they are read */
	/* every file of the previous version (prev_id) carried unchanged,
	 * none added: its catalog rows are copied whole (copy_rows) */
	bool carry_all;
	uint64_t carry_files, carry_bytes;
	uint8_t prev_id[32]; /* the previous version, its files and */
	uint64_t prev_files;
	uint8_t (*prev_meta)[32]; /* its metadata objects */
	uint32_t prev_nmeta;
	uint8_t (*sources)[32];
	dev_t repo_dev; /* the repository's own directory is never ingested */
	ino_t repo_ino;
} ingest;

enum { WARN_NOTE, WARN_ERROR, WARN_SKIP }; /* what a warning counts as */

/* ---- ingest_ahead.c: reading ahead of the workers ---- */
enum {
	AHEAD_NONE,    /* not touched yet */
	AHEAD_READING, /* being opened, or its whole-file read in flight */
	AHEAD_OPEN,    /* open, the kernel asked to read it */
	AHEAD_READ,    /* open, and its bytes in memory */
	AHEAD_TAKEN    /* the worker's (which opens it, if nothing is) */
};

typedef struct ingest_ahead ingest_ahead;

/* What a worker gets for a file: an open descriptor or -1; and, if it
 * was read whole, its bytes and the fstat taken before they were read. */
typedef struct ingest_pre {
	int fd;
	const uint8_t *data;
	size_t len;
	const struct stat *st;
	struct ahead_read *r;
} ingest_pre;

/* Start the thread (NULL if it cannot run: the workers open every file
 * themselves); stop it once the workers are done. */
ingest_ahead *ingest__ahead_start(ingest *g);
void ingest__ahead_stop(ingest *g, ingest_ahead *a);
void ingest__ahead_take(ingest *g, inode *f, ingest_pre *p);
void ingest__ahead_drop(ingest *g, ingest_pre *p);

/* A warning on stderr, counted in the ingest's stats as `kind` says. */
void ingest__warn(ingest *g, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* path[0, base) + "/" + k's name, NUL-terminated (the root's kids have
 * no leading "/"). */
int ingest__kid_path(strata_buf *path, size_t base, const inode *k);

/* Read, chunk and store the files in g->jobs, staging their catalog rows
 * meanwhile (ingest_read.c). */
int ingest__run_workers(ingest *g);

/* Files of this size or more are read first, largest first (and read
 * ahead by the pre-walk). */
#define INGEST_BIG_FILE ((uint64_t)4 << 20)

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
