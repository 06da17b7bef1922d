/*
 * counter: N increments of a counter shared by every node, under a spin lock
 * that lives in the segment next to it.
 *
 *   cc -O2 -Wall -Wextra -o counter counter.c
 *   node A$ ./counter /mnt/dsm/segment 100000
 *   node B$ ./counter /mnt/dsm/segment 100000   # at the same time
 *
 * Each prints the counter after its last increment; the one that finishes
 * last prints the sum of all increments. OFFSET (default 0, a multiple of 8)
 * picks where the lock and counter live.
 */
#include "dsm.h"

#include <sched.h>
#include <stdint.h>

/* Lock and counter share a page: one migration brings both. */
struct shared {
	int lock;
	int pad;
	long count;
};

static void lock(int *l)
{
	/* An atomic exchange is a whole-page access like any other, so the
	 * page comes here first; yielding lets the holder's node take it back. */
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

int main(int argc, char **argv)
{
	char err[DSM_ERRLEN];
	size_t len, off = 0;
	long i, n, v = 0;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: counter SEGMENT N [OFFSET]\n");
		return 2;
	}
	n = strtol(argv[2], NULL, 0);
	if (argc == 4)
		off = strtoul(argv[3], NULL, 0);
	char *base = dsm_map(argv[1], &len, err, sizeof err);
	if (base == NULL) {
		fprintf(stderr, "counter: %s\n", err);
		return errno == DSM_ETAKEN ? 3 : errno == DSM_ENOTSEG ? 4 : 1;
	}
	if (off % 8 != 0 || off + sizeof(struct shared) > len) {
		fprintf(stderr, "counter: offset %zu is unaligned or past the segment (%zu bytes)\n", off, len);
		return 2;
	}
	struct shared *s = (struct shared *)(base + off);
	for (i = 0; i < n; i++) {
		lock(&s->lock);
		v = ++s->count; /* a plain increment: the lock is what makes it safe */
		unlock(&s->lock);
	}
	printf("%ld\n", v);
	dsm_unmap(base, len);
	return 0;
}
