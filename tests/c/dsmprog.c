/*
 * dsmprog: the C workloads of the dsmfs end-to-end tests.
 *
 * Every subcommand maps MNT/segment MAP_SHARED at the fixed address BASE, so
 * absolute pointers stored in the segment by one node are valid on the other.
 * Exit status: 0 success, 1 the shared memory misbehaved, 2 usage or setup.
 *
 *   write PATH OFFSET COUNT SEED   store pattern(i, SEED) at every i in range
 *   check PATH OFFSET COUNT SEED   verify that pattern
 *   write-sync PATH OFFSET COUNT SEED
 *                                  write, then msync(MS_SYNC) the pages
 *   check-zero PATH OFFSET COUNT   verify that every byte in range is 0
 *   set PATH OFFSET VALUE...       store longs at OFFSET, OFFSET+8, ...
 *   get PATH OFFSET                print the long at OFFSET
 *   list-build PATH N              linked list of N nodes, head at offset 0
 *   list-walk PATH N               walk and verify that list
 *   atomic-incr PATH OFFSET N [PARTIES]
 *                                  N atomic increments of the long at OFFSET
 *   spin-incr PATH OFFSET N [PARTIES]
 *                                  N plain increments of the long at
 *                                  OFFSET+4096 under a spin lock at OFFSET
 *   mp-init PATH                   zero the message-passing flag and ack
 *   mp-send PATH ROUNDS            message-passing sender
 *   mp-recv PATH ROUNDS            message-passing receiver
 *   hold PATH SECONDS              touch every page, print "mapped", sleep
 *   turns PATH OFFSET ME PARTIES N take N strict turns on the long at OFFSET
 *                                  with PARTIES programs: this one adds 1
 *                                  whenever the value mod PARTIES is ME
 *   share-incr PATH OFFSET SLOT N [PARTIES]
 *                                  N plain increments of this program's own
 *                                  long OFFSET+16+8*SLOT, on a page that the
 *                                  others' slots share (false sharing)
 *   rewrite PATH OFFSET COUNT ROUNDS
 *                                  ROUNDS times, one byte of every page
 *   publish PATH ROUNDS PAGES      message passing to many readers: each
 *                                  round fills PAGES data pages (after
 *                                  page 0) with the round, then sets the
 *                                  flag (page 0) to it
 *   observe PATH ROUNDS PAGES      its reader: until the flag reaches
 *                                  ROUNDS, no data page may hold a round
 *                                  older than the flag it read first
 *   monotonic PATH OFFSET SLOTS N  share-incr's reader: no slot may go
 *                                  back; it watches until all reach N
 *   read-turns PATH ro|rw ME PARTIES N FIRST COUNT
 *                                  N strict turns (the long at offset 0 of
 *                                  PATH, segment) among PARTIES programs;
 *                                  each turn reads COUNT pages from FIRST,
 *                                  through PATH.ro (ro) or PATH (rw)
 *
 * A PATH ending in .ro (segment.ro) is mapped read-only, as programs that
 * only read map it.
 *
 * With DSMPROG_TIMER_US=T in the environment, a no-op SIGALRM handler
 * (SA_RESTART) runs every T microseconds once the segment is mapped, so
 * that signals keep interrupting the program's page faults, as a profiler,
 * an interval timer or a language runtime's preemption would.
 *
 * turns, atomic-incr, spin-incr and share-incr print the longest time the
 * program went without progress (longest_wait_ms=), so that a hand-off that
 * stalled shows even when every count comes out exact.
 *
 * The two incr commands first meet the programs on the other nodes at a
 * barrier (the long at OFFSET+8, which must start at 0) until PARTIES
 * programs in all (default 2) arrived, so that all really run at the same
 * time, and rest briefly after every BURST increments: without rests, a
 * program hammering the page kept it for most of its run (measured: 1M
 * increments per node never interleaved), and the test would prove little.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BASE ((char *)0x40000000UL)
#define PAGE 4096UL
/* Longest any wait for the other node may take before we call it lost. */
#define WAIT_SECONDS 45

static char *seg;
static size_t seg_size;

__attribute__((noreturn, format(printf, 2, 3)))
static void fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("dsmprog: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *s == '\0' || *end != '\0')
		fail(2, "bad number %s", s);
	return v;
}

/*
 * map_at maps path at addr, read-only if ro, and returns its size.
 */
static size_t map_at(const char *path, char *addr, int ro)
{
	struct stat st;
	void *p;
	int fd = open(path, ro ? O_RDONLY : O_RDWR);

	if (fd < 0)
		fail(2, "open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		fail(2, "stat %s: %s", path, strerror(errno));
	if (st.st_size <= 0 || st.st_size % PAGE)
		fail(2, "%s: size %lld is not a positive multiple of %lu",
		     path, (long long)st.st_size, PAGE);
	p = mmap(addr, st.st_size, ro ? PROT_READ : PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (p == MAP_FAILED && errno == EEXIST)
		fail(2, "address range %p-%p is already in use in this process",
		     addr, addr + st.st_size);
	if (p == MAP_FAILED)
		fail(2, "mmap %s: %s", path, strerror(errno));
	/* Kernels before 4.17 treat the flag as a mere hint. */
	if (p != addr)
		fail(2, "mmap placed %s at %p instead of %p", path, p, addr);
	close(fd); /* the mapping keeps the file open */
	return st.st_size;
}

/*
 * map_segment maps path at BASE: `segment` read-write, `segment.ro` (any
 * path ending in .ro) read-only.
 */
static void map_segment(const char *path)
{
	size_t len = strlen(path);

	seg_size = map_at(path, BASE, len > 3 && !strcmp(path + len - 3, ".ro"));
	seg = BASE;
}

static void on_alarm(int sig) { (void)sig; }

/* See DSMPROG_TIMER_US above. */
static void start_timer(void)
{
	const char *env = getenv("DSMPROG_TIMER_US");
	struct sigaction sa;
	struct itimerval it;
	uint64_t us;

	if (env == NULL || *env == '\0')
		return;
	us = num(env);
	if (us == 0 || us >= 1000000)
		fail(2, "DSMPROG_TIMER_US=%s: want 1 to 999999", env);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		fail(2, "sigaction: %s", strerror(errno));
	it.it_interval.tv_sec = 0;
	it.it_interval.tv_usec = us;
	it.it_value = it.it_interval;
	if (setitimer(ITIMER_REAL, &it, NULL) < 0)
		fail(2, "setitimer: %s", strerror(errno));
}

static void need_range(uint64_t off, uint64_t count)
{
	if (off > seg_size || count > seg_size - off)
		fail(2, "range %llu+%llu exceeds the segment (%zu bytes)",
		     (unsigned long long)off, (unsigned long long)count, seg_size);
}

/* The byte expected at offset off for seed; gomap/main.go has the same. */
static uint8_t pattern(uint64_t off, uint64_t seed)
{
	uint64_t h = off * 0x9E3779B97F4A7C15ULL + seed;

	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ULL;
	h ^= h >> 32;
	return (uint8_t)h;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Spin until *p >= want, return what was seen; the acquire load pairs with
 * the other node's release store. */
static long wait_at_least(long *p, long want, const char *what)
{
	double deadline = now() + WAIT_SECONDS;
	unsigned long spins = 0;
	long v;

	while ((v = __atomic_load_n(p, __ATOMIC_ACQUIRE)) < want) {
		if (++spins % 4096 == 0 && now() > deadline)
			fail(1, "waited %ds for %s to reach %ld, it is %ld",
			     WAIT_SECONDS, what, want, v);
		__builtin_ia32_pause();
	}
	return v;
}

/* The longest time between two steps of progress, for longest_wait_ms. */
static double last_progress, longest_wait;

static void progress(void)
{
	double t = now();

	if (last_progress > 0 && t - last_progress > longest_wait)
		longest_wait = t - last_progress;
	last_progress = t;
}

#define BURST 100

/* Sleep about 20 us after every BURST-th increment i. */
static void rest_after_burst(uint64_t i)
{
	struct timespec ts = {0, 20000};

	if (i % BURST == BURST - 1)
		nanosleep(&ts, NULL);
}

static void barrier(long *b, long parties)
{
	__atomic_add_fetch(b, 1, __ATOMIC_SEQ_CST);
	wait_at_least(b, parties, "the start barrier");
	progress();
}

static int cmd_write(uint64_t off, uint64_t count, uint64_t seed)
{
	need_range(off, count);
	for (uint64_t i = off; i < off + count; i++)
		seg[i] = pattern(i, seed);
	printf("wrote %llu bytes\n", (unsigned long long)count);
	return 0;
}

/* rewrite: ROUNDS times, one byte in every page of [off, off+count). */
static int cmd_rewrite(uint64_t off, uint64_t count, uint64_t rounds)
{
	need_range(off, count);
	for (uint64_t r = 1; r <= rounds; r++)
		for (uint64_t i = off; i < off + count; i += PAGE)
			seg[i] = (uint8_t)r;
	printf("rewrote %llu bytes %llu times\n", (unsigned long long)count,
	       (unsigned long long)rounds);
	return 0;
}

static int cmd_check(uint64_t off, uint64_t count, uint64_t seed)
{
	uint64_t bad = 0;

	need_range(off, count);
	for (uint64_t i = off; i < off + count; i++) {
		uint8_t got = seg[i], want = pattern(i, seed);

		if (got == want)
			continue;
		if (++bad <= 5)
			fprintf(stderr, "offset %llu (page %llu): got %02x want %02x\n",
				(unsigned long long)i,
				(unsigned long long)(i / PAGE), got, want);
	}
	if (bad)
		fail(1, "%llu of %llu bytes differ", (unsigned long long)bad,
		     (unsigned long long)count);
	printf("checked %llu bytes\n", (unsigned long long)count);
	return 0;
}

/* write, then msync(MS_SYNC) the pages the range touches: with --replicas,
 * msync returns only once they have copies on other nodes. */
static int cmd_write_sync(uint64_t off, uint64_t count, uint64_t seed)
{
	uint64_t first = off / PAGE * PAGE;

	need_range(off, count);
	for (uint64_t i = off; i < off + count; i++)
		seg[i] = pattern(i, seed);
	if (msync(seg + first, off + count - first, MS_SYNC) < 0)
		fail(1, "msync %llu+%llu: %s", (unsigned long long)first,
		     (unsigned long long)(off + count - first), strerror(errno));
	printf("wrote and synced %llu bytes\n", (unsigned long long)count);
	return 0;
}

static int cmd_check_zero(uint64_t off, uint64_t count)
{
	uint64_t bad = 0;

	need_range(off, count);
	for (uint64_t i = off; i < off + count; i++) {
		uint8_t got = seg[i];

		if (got == 0)
			continue;
		if (++bad <= 5)
			fprintf(stderr, "offset %llu (page %llu): got %02x want 00\n",
				(unsigned long long)i,
				(unsigned long long)(i / PAGE), got);
	}
	if (bad)
		fail(1, "%llu of %llu bytes are not zero", (unsigned long long)bad,
		     (unsigned long long)count);
	printf("checked %llu zero bytes\n", (unsigned long long)count);
	return 0;
}

struct node {
	struct node *next;
	long value;
};

static long node_value(long i) { return i * 1000003L + 17; }

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Node i lives in 16-byte slot (i*step) mod nslots after the first page.
 * step is about 0.62 of the segment, so consecutive nodes sit far apart and
 * usually in different halves, i.e. on pages owned by different nodes. */
static struct node *node_addr(uint64_t n)
{
	uint64_t nslots = (seg_size - PAGE) / sizeof(struct node);
	uint64_t step = nslots * 5 / 8 + 1;

	while (gcd(step, nslots) != 1)
		step++;
	return (struct node *)(seg + PAGE) + (n * step) % nslots;
}

static void need_nodes(uint64_t n)
{
	if (seg_size < 2 * PAGE || n < 2 ||
	    n > (seg_size - PAGE) / sizeof(struct node) / 4)
		fail(2, "%llu nodes do not fit the segment usefully",
		     (unsigned long long)n);
}

static int cmd_list_build(uint64_t n)
{
	struct node **link = (struct node **)seg;
	uint64_t low = 0;

	need_nodes(n);
	for (uint64_t i = 0; i < n; i++) {
		struct node *p = node_addr(i);

		low += (char *)p < seg + seg_size / 2;
		p->value = node_value(i);
		*link = p;
		link = &p->next;
	}
	*link = NULL;
	if (low == 0 || low == n)
		fail(2, "list placement does not use both halves");
	printf("built %llu nodes, %llu in the lower half\n",
	       (unsigned long long)n, (unsigned long long)low);
	return 0;
}

static int cmd_list_walk(uint64_t n)
{
	struct node *p = *(struct node **)seg;
	uint64_t i = 0;

	need_nodes(n);
	for (; p != NULL; p = p->next, i++) {
		if (i == n)
			fail(1, "list is longer than %llu nodes",
			     (unsigned long long)n);
		if (p != node_addr(i))
			fail(1, "node %llu is at %p, expected %p",
			     (unsigned long long)i, (void *)p,
			     (void *)node_addr(i));
		if (p->value != node_value(i))
			fail(1, "node %llu at %p holds %ld, expected %ld",
			     (unsigned long long)i, (void *)p, p->value,
			     node_value(i));
	}
	if (i != n)
		fail(1, "list ends after %llu nodes, expected %llu",
		     (unsigned long long)i, (unsigned long long)n);
	printf("walked %llu nodes\n", (unsigned long long)n);
	return 0;
}

/* interleavings counts the times another node incremented between two of
 * ours: evidence that the run was really concurrent. */
static int cmd_atomic_incr(uint64_t off, uint64_t n, long parties)
{
	long *ctr, last = -2, interleavings = 0;

	need_range(off, 16);
	ctr = (long *)(seg + off);
	barrier(ctr + 1, parties);
	for (uint64_t i = 0; i < n; i++) {
		long prev = __atomic_fetch_add(ctr, 1, __ATOMIC_SEQ_CST);

		interleavings += i > 0 && prev != last + 1;
		last = prev;
		progress();
		rest_after_burst(i);
	}
	printf("interleavings=%ld longest_wait_ms=%.1f\n", interleavings,
	       longest_wait * 1e3);
	return 0;
}

static int cmd_spin_incr(uint64_t off, uint64_t n, long parties)
{
	char *lock;
	long *ctr, last = -2, interleavings = 0;

	need_range(off, PAGE + 8);
	lock = seg + off;
	ctr = (long *)(seg + off + PAGE);
	barrier((long *)(lock + 8), parties);
	for (uint64_t i = 0; i < n; i++) {
		long prev;

		while (__atomic_test_and_set(lock, __ATOMIC_ACQUIRE))
			while (__atomic_load_n(lock, __ATOMIC_RELAXED))
				__builtin_ia32_pause();
		prev = *ctr;
		*ctr = prev + 1; /* deliberately not atomic: the lock protects it */
		__atomic_clear(lock, __ATOMIC_RELEASE);
		interleavings += i > 0 && prev != last + 1;
		last = prev;
		progress();
		rest_after_burst(i);
	}
	printf("interleavings=%ld longest_wait_ms=%.1f\n", interleavings,
	       longest_wait * 1e3);
	return 0;
}

/* Strict turns: every turn moves the page to the next program's node. */
static int cmd_turns(uint64_t off, long me, long parties, long n)
{
	long *word;

	need_range(off, 8);
	if (parties < 1 || me < 0 || me >= parties)
		fail(2, "turns: ME %ld must be below PARTIES %ld", me, parties);
	word = (long *)(seg + off);
	progress();
	for (long t = 0; t < n; t++) {
		long want = t * parties + me;

		/* The turns of the others come in between, in order. */
		long v = wait_at_least(word, want, "the word");

		if (v != want)
			fail(1, "turn %ld: the word is %ld, want %ld", t, v, want);
		__atomic_store_n(word, v + 1, __ATOMIC_RELEASE);
		progress();
	}
	printf("turns=%ld longest_wait_ms=%.1f\n", n, longest_wait * 1e3);
	return 0;
}

/* Each program owns one long of a shared page; the page holds the barrier
 * too, so all of it migrates at every increment of another node. */
static int cmd_share_incr(uint64_t off, long slot, uint64_t n, long parties)
{
	long *mine;

	need_range(off, 16 + 8 * (uint64_t)parties);
	if (slot < 0 || slot >= parties || (off % PAGE) + 16 + 8 * parties > PAGE)
		fail(2, "share-incr: slot %ld of %ld does not fit the page", slot, parties);
	mine = (long *)(seg + off + 16) + slot;
	barrier((long *)(seg + off + 8), parties);
	for (uint64_t i = 0; i < n; i++) {
		*(volatile long *)mine += 1; /* plain: only this program writes it */
		progress();
		rest_after_burst(i);
	}
	if (*mine != (long)n)
		fail(1, "slot %ld holds %ld after %llu increments", slot, *mine,
		     (unsigned long long)n);
	printf("slot=%ld value=%ld longest_wait_ms=%.1f\n", slot, *mine,
	       longest_wait * 1e3);
	return 0;
}

/* monotonic: a reader of share-incr's slots, through segment.ro: no slot
 * may ever go back, and it watches until every slot reached n. */
static int cmd_monotonic(uint64_t off, long slots, long n)
{
	double deadline = now() + WAIT_SECONDS;
	long last[64] = {0}, looks = 0;

	need_range(off, 16 + 8 * (uint64_t)slots);
	if (slots < 1 || slots > 64)
		fail(2, "monotonic: %ld slots", slots);
	for (int done = 0; !done; looks++) {
		done = 1;
		for (long k = 0; k < slots; k++) {
			long v = __atomic_load_n((long *)(seg + off + 16) + k, __ATOMIC_ACQUIRE);

			if (v < last[k])
				fail(1, "slot %ld went back from %ld to %ld", k, last[k], v);
			last[k] = v;
			done = done && v == n;
		}
		if (now() > deadline)
			fail(1, "waited %ds for every slot to reach %ld", WAIT_SECONDS, n);
	}
	printf("watched %ld slots to %ld in %ld looks\n", slots, n, looks);
	return 0;
}

/* Message passing layout, spread over pages of both owners: the payload on
 * pages 1-2, the flag on the second-to-last page, the ack on the last page of
 * the lower half. */
#define MP_PAYLOAD (2 * PAGE)

static uint8_t *mp_data(void) { return (uint8_t *)seg + PAGE; }
static long *mp_flag(void) { return (long *)(seg + seg_size - 2 * PAGE); }
static long *mp_ack(void) { return (long *)(seg + (seg_size / PAGE / 2 - 1) * PAGE); }

static void mp_need(void)
{
	if (seg_size < 8 * PAGE)
		fail(2, "message passing needs at least 8 pages");
}

static int cmd_mp_init(void)
{
	mp_need();
	*mp_flag() = 0;
	*mp_ack() = 0;
	printf("message passing state zeroed\n");
	return 0;
}

static int cmd_mp_send(long rounds)
{
	mp_need();
	for (long r = 1; r <= rounds; r++) {
		long a = wait_at_least(mp_ack(), r - 1, "ack");

		if (a != r - 1)
			fail(1, "round %ld: ack is %ld before we sent", r, a);
		for (uint64_t j = 0; j < MP_PAYLOAD; j++)
			mp_data()[j] = pattern(j, r);
		__atomic_store_n(mp_flag(), r, __ATOMIC_RELEASE);
	}
	wait_at_least(mp_ack(), rounds, "final ack");
	printf("sent %ld rounds\n", rounds);
	return 0;
}

static int cmd_mp_recv(long rounds)
{
	mp_need();
	for (long r = 1; r <= rounds; r++) {
		long f = wait_at_least(mp_flag(), r, "flag");

		if (f != r)
			fail(1, "round %ld: flag jumped to %ld", r, f);
		for (uint64_t j = 0; j < MP_PAYLOAD; j++) {
			uint8_t got = mp_data()[j];

			if (got == pattern(j, r))
				continue;
			fail(1, "round %ld: flag is set but payload byte %llu "
			     "(page %llu) is %02x, want %02x%s", r,
			     (unsigned long long)j,
			     (unsigned long long)(1 + j / PAGE), got,
			     pattern(j, r),
			     r > 1 && got == pattern(j, r - 1) ?
			     " (the previous round's value)" : "");
		}
		__atomic_store_n(mp_ack(), r, __ATOMIC_RELEASE);
	}
	printf("received %ld rounds\n", rounds);
	return 0;
}

/* publish and observe: the flag is the long at offset 0, data page k
 * (1 <= k <= pages) holds the round in its first and last longs. */
static long *pub_word(uint64_t page, int last)
{
	return (long *)(seg + page * PAGE + (last ? PAGE - sizeof(long) : 0));
}

static void pub_need(uint64_t pages)
{
	if (pages < 1 || (pages + 1) * PAGE > seg_size)
		fail(2, "%llu data pages do not fit the segment",
		     (unsigned long long)pages);
}

static int cmd_publish(long rounds, uint64_t pages)
{
	pub_need(pages);
	for (long r = 1; r <= rounds; r++) {
		for (uint64_t k = 1; k <= pages; k++) {
			__atomic_store_n(pub_word(k, 0), r, __ATOMIC_RELAXED);
			__atomic_store_n(pub_word(k, 1), r, __ATOMIC_RELAXED);
		}
		__atomic_store_n(pub_word(0, 0), r, __ATOMIC_RELEASE);
	}
	printf("published %ld rounds\n", rounds);
	return 0;
}

static int cmd_observe(long rounds, uint64_t pages)
{
	double deadline = now() + WAIT_SECONDS;
	long seen = 0, last = 0;

	pub_need(pages);
	for (;;) {
		long f = __atomic_load_n(pub_word(0, 0), __ATOMIC_ACQUIRE);

		if (f < last)
			fail(1, "the flag went back from %ld to %ld", last, f);
		seen += f != last;
		last = f;
		for (uint64_t k = 1; k <= pages; k++)
			for (int end = 0; end < 2; end++) {
				long d = __atomic_load_n(pub_word(k, end), __ATOMIC_ACQUIRE);

				if (d < f)
					fail(1, "flag %ld, but data page %llu holds round %ld: a stale read",
					     f, (unsigned long long)k, d);
			}
		if (f == rounds)
			break;
		if (now() > deadline)
			fail(1, "waited %ds for the flag to reach %ld, it is %ld",
			     WAIT_SECONDS, rounds, f);
	}
	printf("observed %ld flag values, the last %ld\n", seen, last);
	return 0;
}

/* read-turns: the other mapping, for ro, lies just above the segment. */
static int cmd_read_turns(const char *path, const char *how, long me, long parties,
			  long n, uint64_t first, uint64_t count)
{
	long *turn = (long *)seg;
	char *data = seg;
	unsigned long sum = 0;
	double t0;

	if (first < 1 || first + count > seg_size / PAGE)
		fail(2, "pages %llu+%llu do not fit the segment",
		     (unsigned long long)first, (unsigned long long)count);
	if (!strcmp(how, "ro")) {
		char ro[4096];

		snprintf(ro, sizeof ro, "%s.ro", path);
		data = BASE + seg_size;
		map_at(ro, data, 1);
	} else if (strcmp(how, "rw")) {
		fail(2, "read-turns: %s is neither ro nor rw", how);
	}
	t0 = now();
	for (long i = 0; i < n; i++) {
		wait_at_least(turn, i * parties + me, "the turn");
		for (uint64_t k = first; k < first + count; k++)
			sum += *(volatile uint8_t *)(data + k * PAGE);
		__atomic_store_n(turn, i * parties + me + 1, __ATOMIC_RELEASE);
	}
	printf("read_turns_seconds=%.6f sum=%lu\n", now() - t0, sum);
	return 0;
}

static int cmd_hold(long seconds)
{
	unsigned long sum = 0;

	for (size_t off = 0; off < seg_size; off += PAGE)
		sum += *(volatile uint8_t *)(seg + off);
	printf("mapped (sum %lu)\n", sum);
	fflush(stdout);
	sleep(seconds);
	return 0;
}

__attribute__((noreturn))
static void usage(void)
{
	fail(2, "usage: dsmprog write|check|write-sync PATH OFFSET COUNT SEED | "
	     "rewrite PATH OFFSET COUNT ROUNDS | "
	     "check-zero PATH OFFSET COUNT | "
	     "set PATH OFFSET VALUE... | get PATH OFFSET | "
	     "list-build|list-walk PATH N | "
	     "atomic-incr|spin-incr PATH OFFSET N [PARTIES] | mp-init PATH | "
	     "mp-send|mp-recv PATH ROUNDS | hold PATH SECONDS | "
	     "turns PATH OFFSET ME PARTIES N | "
	     "share-incr PATH OFFSET SLOT N [PARTIES] | "
	     "publish|observe PATH ROUNDS PAGES | "
	     "monotonic PATH OFFSET SLOTS N | "
	     "read-turns PATH ro|rw ME PARTIES N FIRST COUNT");
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 3)
		usage();
	cmd = argv[1];
	map_segment(argv[2]);
	start_timer();
	if (argc == 6 && !strcmp(cmd, "write"))
		return cmd_write(num(argv[3]), num(argv[4]), num(argv[5]));
	if (argc == 6 && !strcmp(cmd, "rewrite"))
		return cmd_rewrite(num(argv[3]), num(argv[4]), num(argv[5]));
	if (argc == 6 && !strcmp(cmd, "check"))
		return cmd_check(num(argv[3]), num(argv[4]), num(argv[5]));
	if (argc == 6 && !strcmp(cmd, "write-sync"))
		return cmd_write_sync(num(argv[3]), num(argv[4]), num(argv[5]));
	if (argc == 5 && !strcmp(cmd, "check-zero"))
		return cmd_check_zero(num(argv[3]), num(argv[4]));
	if (argc >= 5 && !strcmp(cmd, "set")) {
		uint64_t off = num(argv[3]);

		need_range(off, 8 * (uint64_t)(argc - 4));
		for (int i = 4; i < argc; i++)
			((long *)(seg + off))[i - 4] = (long)num(argv[i]);
		return 0;
	}
	if (argc == 4 && !strcmp(cmd, "get")) {
		uint64_t off = num(argv[3]);

		need_range(off, 8);
		printf("%ld\n", *(long *)(seg + off));
		return 0;
	}
	if (argc == 4 && !strcmp(cmd, "list-build"))
		return cmd_list_build(num(argv[3]));
	if (argc == 4 && !strcmp(cmd, "list-walk"))
		return cmd_list_walk(num(argv[3]));
	if ((argc == 5 || argc == 6) && !strcmp(cmd, "atomic-incr"))
		return cmd_atomic_incr(num(argv[3]), num(argv[4]),
				       argc == 6 ? (long)num(argv[5]) : 2);
	if ((argc == 5 || argc == 6) && !strcmp(cmd, "spin-incr"))
		return cmd_spin_incr(num(argv[3]), num(argv[4]),
				     argc == 6 ? (long)num(argv[5]) : 2);
	if (argc == 3 && !strcmp(cmd, "mp-init"))
		return cmd_mp_init();
	if (argc == 4 && !strcmp(cmd, "mp-send"))
		return cmd_mp_send(num(argv[3]));
	if (argc == 4 && !strcmp(cmd, "mp-recv"))
		return cmd_mp_recv(num(argv[3]));
	if (argc == 4 && !strcmp(cmd, "hold"))
		return cmd_hold(num(argv[3]));
	if (argc == 7 && !strcmp(cmd, "turns"))
		return cmd_turns(num(argv[3]), (long)num(argv[4]),
				 (long)num(argv[5]), (long)num(argv[6]));
	if (argc == 6 && !strcmp(cmd, "monotonic"))
		return cmd_monotonic(num(argv[3]), (long)num(argv[4]), (long)num(argv[5]));
	if (argc == 5 && !strcmp(cmd, "publish"))
		return cmd_publish((long)num(argv[3]), num(argv[4]));
	if (argc == 5 && !strcmp(cmd, "observe"))
		return cmd_observe((long)num(argv[3]), num(argv[4]));
	if (argc == 9 && !strcmp(cmd, "read-turns"))
		return cmd_read_turns(argv[2], argv[3], (long)num(argv[4]), (long)num(argv[5]),
				      (long)num(argv[6]), num(argv[7]), num(argv[8]));
	if ((argc == 6 || argc == 7) && !strcmp(cmd, "share-incr"))
		return cmd_share_incr(num(argv[3]), (long)num(argv[4]), num(argv[5]),
				      argc == 7 ? (long)num(argv[6]) : 2);
	usage();
}
