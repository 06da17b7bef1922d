/* lockprog: test programs for cluster-wide file locks on a dsmfs segment.
 *
 *   lockprog incr  PATH flock|fcntl OFFSET N   N plain (non-atomic) increments
 *                                              of the long at OFFSET, each under
 *                                              the lock; prints interleavings=K
 *   lockprog hold  PATH flock|fcntl SECONDS    take the lock, print "held",
 *                                              sleep, exit WITHOUT unlocking
 *   lockprog try   PATH flock|fcntl            non-blocking attempt: prints
 *                                              "free" or "busy"
 *
 * The fcntl lock covers bytes [0, 8): a byte range, not the whole file, so
 * that ranges are exercised. Exit 1 on a failed lock call, 2 on usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int fd, use_flock;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* lock takes (or with blocking 0, tries) the lock; 0, or EWOULDBLOCK/EAGAIN. */
static int lock(int blocking)
{
	if (use_flock) {
		if (flock(fd, LOCK_EX | (blocking ? 0 : LOCK_NB)) == 0)
			return 0;
	} else {
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 8};

		if (fcntl(fd, blocking ? F_SETLKW : F_SETLK, &fl) == 0)
			return 0;
	}
	if (!blocking && (errno == EWOULDBLOCK || errno == EAGAIN || errno == EACCES))
		return EAGAIN;
	die("lock");
	return 0;
}

static void unlock(void)
{
	struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 8};

	if (use_flock ? flock(fd, LOCK_UN) : fcntl(fd, F_SETLK, &fl))
		die("unlock");
}

static int incr(const char *path, long off, long n)
{
	struct stat st;
	long last = -2, interleavings = 0;

	if (fstat(fd, &st))
		die(path);
	char *seg = mmap((void *)0x40000000, st.st_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (seg == MAP_FAILED)
		die("mmap at 1 GiB");
	volatile long *ctr = (volatile long *)(seg + off);
	for (long i = 0; i < n; i++) {
		lock(1);
		long prev = *ctr;
		*ctr = prev + 1; /* deliberately not atomic: the lock protects it */
		unlock();
		interleavings += i > 0 && prev != last + 1;
		last = prev;
	}
	printf("interleavings=%ld\n", interleavings);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[3], "flock") && strcmp(argv[3], "fcntl"))) {
		fprintf(stderr, "usage: lockprog incr|hold|try PATH flock|fcntl [ARGS]\n");
		return 2;
	}
	use_flock = !strcmp(argv[3], "flock");
	if ((fd = open(argv[2], O_RDWR)) < 0)
		die(argv[2]);
	if (!strcmp(argv[1], "incr") && argc == 6)
		return incr(argv[2], atol(argv[4]), atol(argv[5]));
	if (!strcmp(argv[1], "hold") && argc == 5) {
		lock(1);
		printf("held\n");
		fflush(stdout);
		usleep(atof(argv[4]) * 1e6);
		return 0;
	}
	if (!strcmp(argv[1], "try") && argc == 4) {
		printf(lock(0) ? "busy\n" : "free\n");
		return 0;
	}
	fprintf(stderr, "lockprog: bad arguments\n");
	return 2;
}
