/* soak: one worker of scripts/soak.sh. Until SIGTERM (or SECONDS pass) it
 * writes checksummed records into its own slots of the segment and reads
 * them back, and atomically counts each write in a counter shared by all
 * workers. Slots of all workers interleave, so every page is written from
 * several nodes and keeps migrating.
 *
 *   soak SEGMENT WORKER NWORKERS SECONDS
 *
 * Prints "ops=N corrupt=K incr=M" at the end; exit 1 if any record read
 * back differs from what this worker last wrote there. */
#include "../../examples/c/dsm.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 512 /* per worker */
#define SLOT 64   /* bytes: a record */

struct record {
	uint64_t seq, worker, slot, sum;
};

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static uint64_t checksum(const struct record *r) {
	return (r->seq * 0x9E3779B97F4A7C15ULL) ^ (r->worker << 32) ^ r->slot ^ 0x5a5a5a5aULL;
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: soak SEGMENT WORKER NWORKERS SECONDS\n");
		return 2;
	}
	uint64_t me = strtoull(argv[2], NULL, 0), nw = strtoull(argv[3], NULL, 0);
	double secs = atof(argv[4]);
	char err[DSM_ERRLEN];
	size_t len;
	char *seg = dsm_map(argv[1], &len, err, sizeof err);
	if (seg == NULL) {
		fprintf(stderr, "soak: %s\n", err);
		return 2;
	}
	if ((1 + SLOTS * nw) * SLOT + 4096 > len) {
		fprintf(stderr, "soak: segment too small for %llu workers\n", (unsigned long long)nw);
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	_Atomic uint64_t *counter = (_Atomic uint64_t *)seg; /* page 0 */
	char *slots = seg + 4096;
	uint64_t *last = calloc(SLOTS, sizeof *last); /* what this worker wrote, by slot */
	uint64_t ops = 0, corrupt = 0, incr = 0, seq = 0;
	unsigned rnd = (unsigned)(me * 7919 + time(NULL));
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		uint64_t i = rand_r(&rnd) % SLOTS;
		struct record *r = (struct record *)(slots + (i * nw + me) * SLOT);
		if (rand_r(&rnd) % 2) {
			struct record w = {++seq, me, i, 0};
			w.sum = checksum(&w);
			*r = w;
			last[i] = seq;
			atomic_fetch_add(counter, 1);
			incr++;
		} else if (last[i] != 0) {
			struct record got = *r;
			if (got.seq != last[i] || got.worker != me || got.slot != i || got.sum != checksum(&got)) {
				if (corrupt++ < 5)
					fprintf(stderr, "soak %llu: slot %llu holds seq %llu worker %llu sum %llx, wrote seq %llu\n",
						(unsigned long long)me, (unsigned long long)i, (unsigned long long)got.seq,
						(unsigned long long)got.worker, (unsigned long long)got.sum, (unsigned long long)last[i]);
			}
		}
		ops++;
		if ((ops & 1023) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) * 1e-9 > secs)
				break;
			struct timespec nap = {0, 200000}; /* leave the CPUs to the daemons now and then */
			nanosleep(&nap, NULL);
		}
	}
	printf("ops=%llu corrupt=%llu incr=%llu\n", (unsigned long long)ops, (unsigned long long)corrupt, (unsigned long long)incr);
	return corrupt > 0;
}
