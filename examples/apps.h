/* apps.h: what the example applications (jacobi, matmul) share: mapping the
 * segment through the C client, a clock, and a barrier in the segment.
 * Include it first: it includes ../c/dsm.h, which wants to be first. */
#ifndef APPS_H
#define APPS_H
#include "c/dsm.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* map_segment maps the segment at path (through dsm.h, so at 1 GiB with
 * its checks) and exits with a message unless it holds need bytes. */
static char *map_segment(const char *prog, const char *path, size_t need) {
	char err[DSM_ERRLEN];
	size_t len;
	char *base = dsm_map(path, &len, err, sizeof err);
	if (base == NULL) {
		fprintf(stderr, "%s: %s\n", prog, err);
		exit(1);
	}
	if (len < need) {
		fprintf(stderr, "%s: segment has %zu bytes, this size needs %zu\n", prog, len, need);
		exit(1);
	}
	return base;
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Looking at a page another node owns pulls it here (reads migrate too), and a
 * spinning worker would take a CPU from the daemons that move the pages:
 * waiters sleep between looks. */
static void nap(void) {
	struct timespec ts = {0, 20000};
	nanosleep(&ts, NULL);
}

/* A sense-reversing barrier in the segment: the last to arrive resets the
 * count and flips the sense the others are waiting on. */
struct barrier {
	_Atomic int count; /* arrivals at the current barrier */
	_Atomic int sense; /* flips when the last worker arrives */
};

static void barrier(struct barrier *b, int nw, int *sense) {
	*sense = !*sense;
	if (atomic_fetch_add(&b->count, 1) == nw - 1) {
		atomic_store(&b->count, 0);
		atomic_store(&b->sense, *sense);
		return;
	}
	while (atomic_load(&b->sense) != *sense)
		nap();
}
#endif
