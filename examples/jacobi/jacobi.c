/* jacobi: Jacobi relaxation of a 2-D grid shared through dsmfs.
 *
 *   jacobi SEGMENT WORKER_ID NWORKERS N ITERS
 *
 * Start one worker per node, each on its node's mount, all on one cluster.
 * Worker 0 puts two N x N grids of doubles in the segment (top edge 1.0,
 * everything else 0.0). Each worker owns a band of interior rows; sweep s
 * reads grid s%2 and writes grid (s+1)%2, so swapping grids is just an index,
 * and a barrier in the segment separates sweeps. Worker 0 then repeats the
 * same sweeps alone in private memory, checks the shared result is bit-for-bit
 * equal, and prints one line: the placement time (each band moving to its
 * worker once), the timed sweeps, the slowest worker's time inside sweeps
 * (the rest is waiting at barriers), and the private sequential time.
 *
 * Needs a cluster that is fresh or whose last run finished: the header's
 * ready flag is how workers know worker 0 has initialised.
 */
#include "../apps.h" /* first: it includes dsm.h */

#include <stdint.h>
#include <string.h>

#define PAGE 4096
#define MAGIC 0x6a61636f6269ULL /* "jacobi" */
#define MAXW 64

/* The header gets a page of its own: every worker touches it at every
 * barrier, and a grid row on the same page would migrate with it. */
struct hdr {
	_Atomic uint64_t ready; /* MAGIC once worker 0 has initialised */
	struct barrier bar;
	_Atomic int done;	/* workers finished; the last lets worker 0 reset */
	double sweep_s[MAXW];	/* per worker: time in sweeps, halo faults included */
};

/* Rows are padded to whole pages (stride) so that a band boundary never
 * splits a page: a page holding rows of two workers would bounce between
 * them on every sweep (false sharing at page granularity). */
static void init(double *g, size_t stride, int n) {
	memset(g, 0, n * stride * sizeof(double));
	for (int j = 0; j < n; j++)
		g[j] = 1.0;
}

/* One sweep over rows [lo, hi): each point becomes the mean of its four
 * neighbours. The shared run and the private reference both use this, so the
 * results must match exactly whatever the split. */
static void sweep(double *dst, const double *src, size_t stride, int n, int lo, int hi) {
	for (int i = lo; i < hi; i++) {
		const double *up = src + (i - 1) * stride, *mid = src + i * stride, *down = src + (i + 1) * stride;
		double *out = dst + i * stride;
		for (int j = 1; j < n - 1; j++)
			out[j] = 0.25 * (up[j] + down[j] + mid[j - 1] + mid[j + 1]);
	}
}

static int verify(const double *shared, size_t stride, int n, int iters, double *seq_s) {
	size_t bytes = n * stride * sizeof(double);
	double *g[2] = {aligned_alloc(PAGE, bytes), aligned_alloc(PAGE, bytes)};
	if (!g[0] || !g[1])
		return -1;
	init(g[0], stride, n);
	init(g[1], stride, n);
	double t = now();
	for (int s = 0; s < iters; s++)
		sweep(g[(s + 1) % 2], g[s % 2], stride, n, 1, n - 1);
	*seq_s = now() - t;
	int bad = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			bad += shared[i * stride + j] != g[iters % 2][i * stride + j];
	free(g[0]);
	free(g[1]);
	return bad;
}

int main(int argc, char **argv) {
	if (argc != 6) {
		fprintf(stderr, "usage: jacobi SEGMENT WORKER_ID NWORKERS N ITERS\n");
		return 2;
	}
	int me = atoi(argv[2]), nw = atoi(argv[3]), n = atoi(argv[4]), iters = atoi(argv[5]);
	if (nw < 1 || nw > MAXW || me < 0 || me >= nw || n < 3 || iters < 1 || n - 2 < nw) {
		fprintf(stderr, "jacobi: need 0 <= WORKER_ID < NWORKERS <= N-2, NWORKERS <= %d, ITERS >= 1\n", MAXW);
		return 2;
	}
	size_t stride = (n + PAGE / sizeof(double) - 1) / (PAGE / sizeof(double)) * (PAGE / sizeof(double));
	size_t grid = n * stride * sizeof(double), need = PAGE + 2 * grid;

	char *base = map_segment("jacobi", argv[1], need);
	struct hdr *h = (struct hdr *)base;
	double *g[2] = {(double *)(base + PAGE), (double *)(base + PAGE + grid)};

	if (me == 0) {
		init(g[0], stride, n);
		init(g[1], stride, n);
		atomic_store(&h->bar.count, 0);
		atomic_store(&h->bar.sense, 0);
		atomic_store(&h->done, 0);
		atomic_store(&h->ready, MAGIC);
	} else {
		while (atomic_load(&h->ready) != MAGIC)
			nap();
	}

	/* Bring this worker's band of both grids here before timing: a one-time
	 * cost, like first-touch placement on a NUMA machine. */
	int lo = 1 + (int)((long)me * (n - 2) / nw), hi = 1 + (int)((long)(me + 1) * (n - 2) / nw);
	int sense = 0;
	double t0 = now();
	for (int k = 0; k < 2; k++)
		for (char *p = (char *)(g[k] + lo * stride); p < (char *)(g[k] + hi * stride); p += PAGE)
			(void)*(volatile char *)p;
	barrier(&h->bar, nw, &sense);
	double t1 = now();
	double busy = 0;
	for (int s = 0; s < iters; s++) {
		double ts = now();
		sweep(g[(s + 1) % 2], g[s % 2], stride, n, lo, hi);
		busy += now() - ts;
		barrier(&h->bar, nw, &sense);
	}
	double t2 = now();
	h->sweep_s[me] = busy;
	atomic_fetch_add(&h->done, 1);
	if (me != 0)
		return 0;

	double seq = 0;
	int bad = verify(g[iters % 2], stride, n, iters, &seq);
	/* Only once every worker has left the last barrier may the header be
	 * reset for the next run. */
	while (atomic_load(&h->done) != nw)
		nap();
	atomic_store(&h->ready, 0);
	double most = 0;
	for (int w = 0; w < nw; w++)
		most = h->sweep_s[w] > most ? h->sweep_s[w] : most;
	printf("jacobi workers=%d n=%d iters=%d place_s=%.3f time_s=%.3f max_sweep_s=%.3f seq_s=%.3f check=%s\n", nw,
	       n, iters, t1 - t0, t2 - t1, most, seq, bad ? "FAIL" : "ok");
	if (bad)
		fprintf(stderr, bad < 0 ? "jacobi: out of memory for the reference\n"
					: "jacobi: %d points differ from the sequential reference\n", bad);
	return bad != 0;
}
