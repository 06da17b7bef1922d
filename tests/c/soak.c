/* soak: one worker of scripts/soak.sh. Until SIGTERM (or SECONDS pass) it
 * writes checksummed records into its own slots of the segment and reads
 * them back, and atomically counts each write in a counter shared by all
 * workers. Slots of all workers interleave, so every page is written from
 * several nodes and keeps migrating.
 *
 *   soak SEGMENT WORKER NWORKERS SECONDS [STATE]
 *
 * Without STATE: prints "ops=N corrupt=K incr=M" at the end; exit 1 if any
 * record read back differs from what this worker last wrote there.
 *
 * With STATE (a local file, created if missing), the sync mode for runs in
 * which nodes are killed (kill -9) and restarted, with --replicas:
 *
 *  - every record written is msync(MS_SYNC)ed before anything else happens,
 *    and only then noted in STATE as this slot's last synced record; every
 *    increment of the shared counter (and of this worker's own counter in
 *    page 0) is followed by an msync of page 0, and only once that returned
 *    is it counted as durable. Before each write, STATE names the write in
 *    flight (slot and sequence number).
 *  - STATE is a MAP_SHARED mapping of a local file, so what this process
 *    stored there survives its kill -9. A worker restarted with the same
 *    WORKER and STATE (a new incarnation) first checks every one of its
 *    slots against STATE: each must hold exactly its last synced record
 *    (all zeros if never written), except the slot whose write was in
 *    flight when the last incarnation died, which may hold the old record,
 *    the new one, or (only if the write was never synced) a word-by-word
 *    mix of the two (a copy taken while the record was half written).
 *    Anything else is a corrupted record. Its own counter in page 0 must lie
 *    between the increments counted durable and those attempted.
 *  - it prints "durable=D attempts=A ops=N" every 1024 operations
 *    (line-buffered), and at the end
 *    "ops=N corrupt=K incr=A durable=D attempts=A own=V torn=T reverted=R
 *    syncretry=S lostsynced=L", all but own, torn and reverted summed over
 *    every incarnation (kept in STATE). own is this worker's counter in page
 *    0, lostsynced the synced increments it misses; torn and reverted count
 *    in-flight writes found mixed or not done at a restart (lost by design).
 *  - SECONDS 0: only the check, no writes (the final verification, run on
 *    another node than the worker's).
 *
 * An msync that fails is retried after writing the same bytes again (an
 * msync retried without a new write could report success with nothing
 * copied), every 100 ms; after 2 minutes of failures the worker gives up
 * with exit 3. */
#include "../../examples/c/dsm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 512 /* per worker */
#define SLOT 64   /* bytes: a record */
#define PAGE 4096
#define OWN 64 /* page 0: the shared counter at 0, worker w's own counter at OWN + 8w */
#define MAXWORKERS ((PAGE - OWN) / 8)
#define UNKNOWN UINT64_MAX /* last[i]: the slot's content is not known (a torn unsynced write) */
#define MAGIC 0x64736d736f616b31ULL

struct record {
	uint64_t seq, worker, slot, sum;
};

/* STATE, as stored in the file. Stores to it are volatile, in program
 * order around the msync calls. */
struct state {
	uint64_t magic, worker, nworkers;
	uint64_t seq;          /* last sequence number used */
	uint64_t pslot, pseq;  /* the write in flight; pseq 0: none */
	uint64_t ops, corrupt; /* over all incarnations */
	uint64_t attempts;     /* increments begun (counted before the atomic add) */
	uint64_t durable;      /* increments whose msync of page 0 returned */
	uint64_t incarnations, syncretry;
	uint64_t last[SLOTS]; /* last synced seq by slot; 0 never written */
};

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static uint64_t checksum(const struct record *r) {
	return (r->seq * 0x9E3779B97F4A7C15ULL) ^ (r->worker << 32) ^ r->slot ^ 0x5a5a5a5aULL;
}

static struct record make(uint64_t seq, uint64_t me, uint64_t slot) {
	struct record r = {0, 0, 0, 0};
	if (seq != 0) {
		r = (struct record){seq, me, slot, 0};
		r.sum = checksum(&r);
	}
	return r;
}

static int same(const struct record *a, const struct record *b) {
	return a->seq == b->seq && a->worker == b->worker && a->slot == b->slot && a->sum == b->sum;
}

/* mixed: every 8-byte word of got is that of a or of b. */
static int mixed(const struct record *got, const struct record *a, const struct record *b) {
	const uint64_t *g = (const uint64_t *)got, *x = (const uint64_t *)a, *y = (const uint64_t *)b;
	for (int k = 0; k < 4; k++)
		if (g[k] != x[k] && g[k] != y[k])
			return 0;
	return 1;
}

static uint64_t me, st_nw;
static volatile struct state *st;

/* stamp: the time now, UTC, as the daemons log it (HH:MM:SS.mmm). */
static const char *stamp(void) {
	static char buf[32];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	return buf;
}

static void complain(uint64_t *corrupt, const char *what, uint64_t i, const struct record *got, uint64_t want) {
	if ((*corrupt)++ < 5)
		fprintf(stderr, "%s soak %llu: %s: slot %llu (page %llu) holds seq %llu worker %llu slot %llu sum %llx, want seq %llu\n",
			stamp(), (unsigned long long)me, what, (unsigned long long)i,
			(unsigned long long)(1 + (i * st_nw + me) * SLOT / PAGE), (unsigned long long)got->seq,
			(unsigned long long)got->worker, (unsigned long long)got->slot,
			(unsigned long long)got->sum, (unsigned long long)want);
}

/* sync_page msyncs the page at p; on failure it calls redo (which writes
 * the same bytes again, so that the page is dirty again) and retries every
 * 100 ms, for up to 2 minutes (msync fails while fewer than --replicas
 * peers live: with 2 nodes, while the other one is down). */
static void sync_page(void *p, void (*redo)(void *), void *arg) {
	void *page = (void *)((uintptr_t)p / PAGE * PAGE);
	for (int tries = 0;; tries++) {
		if (msync(page, PAGE, MS_SYNC) == 0) {
			if (tries > 0)
				fprintf(stderr, "%s soak %llu: msync of page %llu succeeded after %d failures\n", stamp(),
					(unsigned long long)me, (unsigned long long)(((uintptr_t)page - (uintptr_t)DSM_ADDR) / PAGE), tries);
			return;
		}
		int e = errno;
		if (tries % 50 == 0 || tries == 1199)
			fprintf(stderr, "%s soak %llu: msync of page %llu: %s%s\n", stamp(), (unsigned long long)me,
				(unsigned long long)(((uintptr_t)page - (uintptr_t)DSM_ADDR) / PAGE), strerror(e),
				tries < 1199 ? "; writing again and retrying" : "; giving up after 2 minutes");
		if (tries == 1199)
			exit(3);
		st->syncretry++;
		struct timespec nap = {0, 100000000};
		nanosleep(&nap, NULL);
		redo(arg);
	}
}

struct rewrite {
	volatile struct record *r;
	struct record w;
};
static void redo_record(void *arg) {
	struct rewrite *rw = arg;
	rw->r->seq = rw->w.seq;
	rw->r->worker = rw->w.worker;
	rw->r->slot = rw->w.slot;
	rw->r->sum = rw->w.sum;
}
static void redo_own(void *arg) {
	volatile uint64_t *own = arg;
	*own = *own;
}

int main(int argc, char **argv) {
	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: soak SEGMENT WORKER NWORKERS SECONDS [STATE]\n");
		return 2;
	}
	signal(SIGTERM, on_term); /* first: a worker told to stop early stops cleanly */
	signal(SIGINT, on_term);
	me = strtoull(argv[2], NULL, 0);
	uint64_t nw = st_nw = strtoull(argv[3], NULL, 0);
	double secs = atof(argv[4]);
	int synced = argc == 6;
	if (nw == 0 || me >= nw || nw > MAXWORKERS) {
		fprintf(stderr, "soak: worker %llu of %llu: want 0 <= WORKER < NWORKERS <= %d\n",
			(unsigned long long)me, (unsigned long long)nw, MAXWORKERS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char err[DSM_ERRLEN];
	size_t len;
	char *seg = dsm_map(argv[1], &len, err, sizeof err);
	if (seg == NULL) {
		fprintf(stderr, "soak: %s\n", err);
		return 2;
	}
	if ((1 + SLOTS * nw) * SLOT + PAGE > len) {
		fprintf(stderr, "soak: segment too small for %llu workers\n", (unsigned long long)nw);
		return 2;
	}
	_Atomic uint64_t *counter = (_Atomic uint64_t *)seg; /* page 0 */
	volatile uint64_t *own = (volatile uint64_t *)(seg + OWN) + me;
	char *slots = seg + PAGE;
	uint64_t ops = 0, corrupt = 0, incr = 0, seq = 0;
	uint64_t torn = 0, reverted = 0, ownbad = 0, ownexp = 0;
	volatile uint64_t *last;
	if (synced) {
		int fd = open(argv[5], O_RDWR | O_CREAT, 0644);
		if (fd < 0 || ftruncate(fd, sizeof(struct state)) < 0) {
			fprintf(stderr, "soak: %s: %s\n", argv[5], strerror(errno));
			return 2;
		}
		st = mmap(NULL, sizeof(struct state), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (st == MAP_FAILED) {
			fprintf(stderr, "soak: mmap %s: %s\n", argv[5], strerror(errno));
			return 2;
		}
		close(fd);
		if (st->magic == 0) {
			st->worker = me, st->nworkers = nw;
			st->magic = MAGIC;
		} else if (st->magic != MAGIC || st->worker != me || st->nworkers != nw) {
			fprintf(stderr, "soak: %s is not the state of worker %llu of %llu\n", argv[5],
				(unsigned long long)me, (unsigned long long)nw);
			return 2;
		}
		st->incarnations++;
		last = st->last;
		/* The check of a new incarnation: every slot against STATE. */
		corrupt = st->corrupt;
		uint64_t before = corrupt;
		for (uint64_t i = 0; i < SLOTS; i++) {
			struct record got = *(volatile struct record *)(slots + (i * nw + me) * SLOT);
			struct record old = make(last[i] == UNKNOWN ? 0 : last[i], me, i);
			if (st->pseq != 0 && st->pslot == i) {
				struct record new = make(st->pseq, me, i);
				if (same(&got, &new)) {
					last[i] = st->pseq;
				} else if (last[i] == UNKNOWN) {
					; /* nothing known before, nothing known now */
				} else if (same(&got, &old)) {
					reverted++;
				} else if (mixed(&got, &old, &new)) {
					torn++;
					last[i] = UNKNOWN;
				} else {
					complain(&corrupt, "after a restart, the slot written last", i, &got, st->pseq);
				}
				st->pseq = 0;
			} else if (last[i] != UNKNOWN && !same(&got, &old)) {
				complain(&corrupt, "after a restart", i, &got, last[i]);
			}
		}
		st->corrupt = corrupt;
		ownexp = *own;
		if (ownexp < st->durable || ownexp > st->attempts) {
			fprintf(stderr, "%s soak %llu: own counter %llu, want %llu (synced) to %llu (attempted)\n",
				stamp(), (unsigned long long)me, (unsigned long long)ownexp, (unsigned long long)st->durable,
				(unsigned long long)st->attempts);
			ownbad++;
		}
		fprintf(stderr, "%s soak %llu: incarnation %llu: %llu corrupted, %llu torn and %llu reverted unsynced records, own counter %llu (synced %llu, attempted %llu)\n",
			stamp(), (unsigned long long)me, (unsigned long long)st->incarnations, (unsigned long long)(corrupt - before),
			(unsigned long long)torn, (unsigned long long)reverted, (unsigned long long)ownexp,
			(unsigned long long)st->durable, (unsigned long long)st->attempts);
		seq = st->seq;
		if (secs <= 0)
			stop = 1;
	} else {
		last = calloc(SLOTS, sizeof *last); /* what this worker wrote, by slot */
	}
	unsigned rnd = (unsigned)(me * 7919 + time(NULL) + getpid());
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		uint64_t i = rand_r(&rnd) % SLOTS;
		volatile struct record *r = (volatile struct record *)(slots + (i * nw + me) * SLOT);
		if (rand_r(&rnd) % 2) {
			struct record w = make(++seq, me, i);
			if (synced) {
				st->pseq = 0;
				st->pslot = i;
				st->seq = seq;
				st->pseq = seq;
			}
			r->seq = w.seq, r->worker = w.worker, r->slot = w.slot, r->sum = w.sum;
			if (synced) {
				struct rewrite rw = {r, w};
				sync_page((void *)r, redo_record, &rw);
			}
			last[i] = seq;
			if (synced) {
				if (*own != ownexp && ownbad++ < 5)
					fprintf(stderr, "%s soak %llu: own counter %llu, want %llu: synced increments lost or invented\n",
						stamp(), (unsigned long long)me, (unsigned long long)*own, (unsigned long long)ownexp);
				st->attempts++;
				atomic_fetch_add(counter, 1);
				ownexp = *own + 1;
				*own = ownexp;
				sync_page(seg, redo_own, (void *)own);
				st->durable++;
			} else {
				atomic_fetch_add(counter, 1);
			}
			incr++;
		} else if (last[i] != UNKNOWN) {
			struct record got = {r->seq, r->worker, r->slot, r->sum};
			struct record want = make(last[i], me, i);
			if (!same(&got, &want)) {
				complain(&corrupt, "read back", i, &got, last[i]);
				if (synced)
					st->corrupt = corrupt;
			}
		}
		ops++;
		if (synced)
			st->ops++;
		if ((ops & 1023) == 0) {
			if (synced)
				printf("durable=%llu attempts=%llu ops=%llu\n", (unsigned long long)st->durable,
					(unsigned long long)st->attempts, (unsigned long long)st->ops);
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) * 1e-9 > secs)
				break;
			struct timespec nap = {0, 200000}; /* leave the CPUs to the daemons now and then */
			nanosleep(&nap, NULL);
		}
	}
	if (!synced) {
		printf("ops=%llu corrupt=%llu incr=%llu\n", (unsigned long long)ops, (unsigned long long)corrupt, (unsigned long long)incr);
		return corrupt > 0;
	}
	uint64_t v = *own;
	uint64_t lost = st->durable > v ? st->durable - v : 0;
	printf("ops=%llu corrupt=%llu incr=%llu durable=%llu attempts=%llu own=%llu torn=%llu reverted=%llu syncretry=%llu lostsynced=%llu\n",
		(unsigned long long)st->ops, (unsigned long long)st->corrupt, (unsigned long long)incr,
		(unsigned long long)st->durable, (unsigned long long)st->attempts, (unsigned long long)v,
		(unsigned long long)torn, (unsigned long long)reverted, (unsigned long long)st->syncretry,
		(unsigned long long)lost);
	return st->corrupt > 0 || lost > 0 || v > st->attempts || ownbad > 0;
}
