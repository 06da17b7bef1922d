/* matmul: dense C = A x B shared through dsmfs.
 *
 *   matmul SEGMENT WORKER_ID NWORKERS N
 *
 * Start one worker per node, each on its node's mount, all on one cluster.
 * Worker 0 puts A and B (N x N doubles, small integers so every product and
 * sum is exact) in the segment. Worker w computes a band of C's rows: it
 * copies B into private memory once, then multiplies its band of A into its
 * band of C. Worker 0 checks C against weighted checksums computed from the
 * formulas for A and B, not from the segment, and prints one line: the
 * placement time (each band moving to its worker once), the timed part
 * (copying B, multiplying, the final barrier) and the slowest worker's copy
 * and multiply.
 *
 * Needs a cluster that is fresh or whose last run finished: the header's
 * ready flag is how workers know worker 0 has initialised.
 */
#include "../apps.h" /* first: it includes dsm.h */

#include <stdint.h>
#include <string.h>

#define PAGE 4096
#define MAGIC 0x6d61746d756cULL /* "matmul" */
#define MAXW 64

/* The header gets a page of its own: every worker touches it at every
 * barrier, and matrix rows on the same page would migrate with it. */
struct hdr {
	_Atomic uint64_t ready; /* MAGIC once worker 0 has initialised */
	struct barrier bar;
	_Atomic int done;	/* workers finished; the last lets worker 0 reset */
	double copy_s[MAXW];	/* per worker: copying B, then multiplying */
	double mult_s[MAXW];
};

static int64_t a_at(int64_t i, int64_t k) { return (i * 31 + k * 17) % 8; }
static int64_t b_at(int64_t k, int64_t j) { return (k * 13 + j * 5 + 3) % 8; }
static int64_t wi(int64_t i) { return i % 5 + 1; }
static int64_t wj(int64_t j) { return j % 3 + 1; }

/* sum_ij wi(i) wj(j) C[i][j] = sum_k (sum_i wi(i) A[i][k]) (sum_j wj(j) B[k][j]),
 * O(N^2) from the formulas; under 2^53, so exact both as int64 and in C. */
static int check(const double *c, size_t stride, int n) {
	int64_t want = 0, got = 0;
	for (int k = 0; k < n; k++) {
		int64_t sa = 0, sb = 0;
		for (int i = 0; i < n; i++)
			sa += wi(i) * a_at(i, k);
		for (int j = 0; j < n; j++)
			sb += wj(j) * b_at(k, j);
		want += sa * sb;
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			got += wi(i) * wj(j) * (int64_t)c[i * stride + j];
	return got == want;
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: matmul SEGMENT WORKER_ID NWORKERS N\n");
		return 2;
	}
	int me = atoi(argv[2]), nw = atoi(argv[3]), n = atoi(argv[4]);
	if (nw < 1 || nw > MAXW || me < 0 || me >= nw || n < nw || n > 4096) {
		fprintf(stderr, "matmul: need 0 <= WORKER_ID < NWORKERS <= N <= 4096, NWORKERS <= %d\n", MAXW);
		return 2;
	}
	/* Rows are padded to whole pages (stride) so that a band boundary never
	 * splits a page: a page of C holding rows of two workers would bounce
	 * between them while both write it (false sharing at page granularity). */
	size_t per = PAGE / sizeof(double), stride = (n + per - 1) / per * per;
	size_t mat = n * stride * sizeof(double), need = PAGE + 3 * mat;

	char *base = map_segment("matmul", argv[1], need);
	struct hdr *h = (struct hdr *)base;
	double *a = (double *)(base + PAGE), *b = (double *)(base + PAGE + mat), *c = (double *)(base + PAGE + 2 * mat);
	double *bp = malloc(n * stride * sizeof(double));
	if (!bp) {
		fprintf(stderr, "matmul: out of memory\n");
		return 1;
	}

	if (me == 0) {
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++) {
				a[i * stride + j] = a_at(i, j);
				b[i * stride + j] = b_at(i, j);
			}
		atomic_store(&h->bar.count, 0);
		atomic_store(&h->bar.sense, 0);
		atomic_store(&h->done, 0);
		atomic_store(&h->ready, MAGIC);
	} else {
		while (atomic_load(&h->ready) != MAGIC)
			nap();
	}

	/* Bring this worker's bands of A and C here before timing: a one-time
	 * cost, like first-touch placement on a NUMA machine. */
	int lo = (int)((long)me * n / nw), hi = (int)((long)(me + 1) * n / nw);
	int sense = 0;
	double t0 = now();
	for (char *p = (char *)(a + lo * stride); p < (char *)(a + hi * stride); p += PAGE)
		(void)*(volatile char *)p;
	for (char *p = (char *)(c + lo * stride); p < (char *)(c + hi * stride); p += PAGE)
		(void)*(volatile char *)p;
	barrier(&h->bar, nw, &sense);
	double t1 = now();

	/* Every worker needs all of B, and a page has one owner at a time: reading
	 * B in the inner loop would bounce its pages between workers on every row
	 * of C. So each copies B once, starting at its own band's rows so that the
	 * workers ask for different pages at the same moment. */
	for (int r = 0; r < n; r++) {
		int k = (lo + r) % n;
		memcpy(bp + k * stride, b + k * stride, n * sizeof(double));
	}
	double tc = now();
	for (int i = lo; i < hi; i++) {
		double *ci = c + i * stride;
		const double *ai = a + i * stride;
		memset(ci, 0, n * sizeof(double));
		for (int k = 0; k < n; k++) {
			const double aik = ai[k], *bk = bp + k * stride;
			for (int j = 0; j < n; j++)
				ci[j] += aik * bk[j];
		}
	}
	double tm = now();
	barrier(&h->bar, nw, &sense);
	double t2 = now();
	h->copy_s[me] = tc - t1;
	h->mult_s[me] = tm - tc;
	atomic_fetch_add(&h->done, 1);
	if (me != 0)
		return 0;

	int ok = check(c, stride, n);
	/* Only once every worker has left the last barrier may the header be
	 * reset for the next run. */
	while (atomic_load(&h->done) != nw)
		nap();
	atomic_store(&h->ready, 0);
	double copy = 0, mult = 0;
	for (int w = 0; w < nw; w++) {
		copy = h->copy_s[w] > copy ? h->copy_s[w] : copy;
		mult = h->mult_s[w] > mult ? h->mult_s[w] : mult;
	}
	printf("matmul workers=%d n=%d place_s=%.3f time_s=%.3f max_copy_s=%.3f max_mult_s=%.3f check=%s\n", nw, n,
	       t1 - t0, t2 - t1, copy, mult, ok ? "ok" : "FAIL");
	if (!ok)
		fprintf(stderr, "matmul: C does not match the checksum of A x B\n");
	return !ok;
}
