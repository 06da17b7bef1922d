/*
 * dsm.h: map a dsmfs segment from C. Header only, C99, Linux.
 *
 *   char err[DSM_ERRLEN];
 *   size_t len;
 *   char *base = dsm_map("/mnt/dsm/segment", &len, err, sizeof err);
 *   if (base == NULL) { fprintf(stderr, "%s\n", err); exit(1); }
 *   ...                              // base == DSM_ADDR on every node
 *   dsm_unmap(base, len);
 *
 * The segment is always mapped at DSM_ADDR (1 GiB), so pointers stored in it
 * mean the same on every node.
 *
 * A program that only reads maps the read-only view instead, whose pages
 * many nodes hold at once as read copies:
 *
 *   const char *ro = dsm_map_ro("/mnt/dsm/segment.ro", &len, err, sizeof err);
 *
 * A program that writes maps segment at DSM_ADDR with dsm_map and may read
 * through segment.ro elsewhere, translating stored pointers:
 *
 *   const char *ro = dsm_map_ro_at("/mnt/dsm/segment.ro", NULL, &len, err, sizeof err);
 *   const struct node *n = dsm_ro_ptr(ro, list_head);  // list_head points into DSM_ADDR
 *
 * On failure dsm_map, dsm_map_ro and dsm_map_ro_at return NULL, write a
 * one-line message to err (if not NULL) and leave in errno:
 *   DSM_ETAKEN  (EEXIST)       something in this process already uses the range
 *   DSM_ENOTSEG (EMEDIUMTYPE)  the file is not the segment (or segment.ro) of
 *                              a dsmfs mount
 *   EINVAL                     dsm_map_ro_at's address is not page-aligned
 *   anything else              from open, fstat or mmap
 *
 * Include it first, or compile with -D_GNU_SOURCE, when using -std=c99.
 * Build position-independent (gcc's default on most distributions): the
 * kernel starts the heap of a -no-pie program anywhere in the first GiB, so
 * now and then over DSM_ADDR (or run such a program under `setarch -R`).
 */
#ifndef DSM_H
#define DSM_H

#if !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* fstatfs, getline, major/minor under -std=c99 */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#if defined(__GLIBC__) && !defined(__USE_XOPEN2K8)
#error "dsm.h needs POSIX.1-2008: include it before other headers, or compile with -D_GNU_SOURCE"
#endif

#define DSM_ADDR ((void *)0x40000000UL)
#define DSM_ERRLEN 256
#define DSM_ETAKEN EEXIST
#define DSM_ENOTSEG EMEDIUMTYPE
#define DSM_FUSE_MAGIC 0x65735546L /* FUSE_SUPER_MAGIC */
#define DSM_FSTYPE "fuse.dsmfs"    /* fstype of a dsmfs mount in mountinfo */

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; same value on all arches */
#endif

/* dsm__fail_ writes the message, sets errno to e and returns NULL. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static inline void *dsm__fail_(int e, char *err, size_t errlen, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	errno = e;
	return NULL;
}

/* dsm__fstype_ finds the file system type of the mount with device dev in
 * /proc/self/mountinfo ("ID PARENT MAJ:MIN ROOT MNT OPTS... - FSTYPE ...").
 * The device number, not the path, identifies the mount: it works through
 * symlinks, bind mounts and relative paths. Returns 0, or an errno. */
static inline int dsm__fstype_(dev_t dev, char *fstype, size_t n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = ENOENT;

	if (f == NULL)
		return errno;
	while (rc == ENOENT && getline(&line, &cap, f) > 0) {
		unsigned maj, min;
		char *dash = strstr(line, " - ");
		if (dash == NULL || sscanf(line, "%*u %*u %u:%u", &maj, &min) != 2)
			continue;
		if (maj != major(dev) || min != minor(dev))
			continue;
		dash += 3;
		size_t len = strcspn(dash, " \n");
		if (len >= n)
			len = n - 1;
		memcpy(fstype, dash, len);
		fstype[len] = '\0';
		rc = 0;
	}
	free(line);
	fclose(f);
	return rc;
}

/* dsm__map_ opens path (read-only if ro), checks that it is a dsmfs segment
 * (segment.ro if ro) and maps all of it MAP_SHARED at addr, or where the
 * kernel likes if addr is NULL. *len_out gets the length. */
static inline void *dsm__map_(const char *path, void *addr, int ro, size_t *len_out, char *err, size_t errlen)
{
	struct stat st;
	struct statfs sfs;
	char fstype[64];
	int fd, e;
	void *p;

	if (len_out != NULL)
		*len_out = 0;
	if ((uintptr_t)addr % 4096 != 0)
		return dsm__fail_(EINVAL, err, errlen, "%s: address %p is not a multiple of 4096", path, addr);
	fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return dsm__fail_(errno, err, errlen, "%s: open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0) {
		e = errno;
		close(fd);
		return dsm__fail_(e, err, errlen, "%s: stat: %s", path, strerror(e));
	}
	/* FUSE magic alone would accept any FUSE file (sshfs...); mapping one
	 * at 1 GiB would "work" and share nothing, so ask for the fstype too. */
	if (sfs.f_type != DSM_FUSE_MAGIC || !S_ISREG(st.st_mode)) {
		close(fd);
		return dsm__fail_(DSM_ENOTSEG, err, errlen,
				  "%s: not a dsmfs segment (not a regular file on a FUSE mount; "
				  "expected MOUNTPOINT/%s of a running dsmfs)", path, ro ? "segment.ro" : "segment");
	}
	if ((e = dsm__fstype_(st.st_dev, fstype, sizeof fstype)) != 0) {
		close(fd);
		return dsm__fail_(e == ENOENT ? DSM_ENOTSEG : e, err, errlen,
				  "%s: cannot find its mount in /proc/self/mountinfo: %s", path, strerror(e));
	}
	if (strcmp(fstype, DSM_FSTYPE) != 0) {
		close(fd);
		return dsm__fail_(DSM_ENOTSEG, err, errlen,
				  "%s: not a dsmfs segment (file system type %s, want %s)", path, fstype, DSM_FSTYPE);
	}
	if (st.st_size <= 0 || st.st_size % 4096 != 0) {
		close(fd);
		return dsm__fail_(DSM_ENOTSEG, err, errlen,
				  "%s: not a dsmfs segment (size %lld is not a positive multiple of 4096)",
				  path, (long long)st.st_size);
	}
	/* segment itself opens read-only too, but its pages are exclusive:
	 * a read-only mapping of it would pull every page away from the
	 * writer. segment.ro is the only dsmfs file with no write bit. */
	if (ro && (st.st_mode & 0222) != 0) {
		close(fd);
		return dsm__fail_(DSM_ENOTSEG, err, errlen,
				  "%s: not a dsmfs segment.ro (the file is writable: read copies come only "
				  "through MOUNTPOINT/segment.ro)", path);
	}
	/* Never plain MAP_FIXED: it would silently replace whatever this
	 * program already has at the address (heap, a library, a segment). */
	p = mmap(addr, (size_t)st.st_size, ro ? PROT_READ : PROT_READ | PROT_WRITE,
		 MAP_SHARED | (addr != NULL ? MAP_FIXED_NOREPLACE : 0), fd, 0);
	e = errno;
	close(fd); /* the mapping keeps the file open */
	if (p == MAP_FAILED && e == EEXIST)
		return dsm__fail_(DSM_ETAKEN, err, errlen,
				  "%s: address range %p-%p is already in use in this process "
				  "(another mapping, a large heap, or the segment mapped twice)",
				  path, addr, (void *)((char *)addr + st.st_size));
	if (p == MAP_FAILED)
		return dsm__fail_(e, err, errlen, "%s: mmap: %s", path, strerror(e));
	if (addr != NULL && p != addr) {
		/* Kernels before 4.17 take the unknown flag as a mere hint and
		 * map elsewhere when the range is taken. */
		munmap(p, (size_t)st.st_size);
		return dsm__fail_(DSM_ETAKEN, err, errlen,
				  "%s: the kernel mapped it at %p instead of %p: the range is in use "
				  "(or the kernel predates MAP_FIXED_NOREPLACE, Linux 4.17)",
				  path, p, addr);
	}
	if (len_out != NULL)
		*len_out = (size_t)st.st_size;
	return p;
}

/* dsm_map opens path read-write, checks that it is a dsmfs segment and maps
 * all of it MAP_SHARED at DSM_ADDR. *len_out gets the length. */
static inline void *dsm_map(const char *path, size_t *len_out, char *err, size_t errlen)
{
	return dsm__map_(path, DSM_ADDR, 0, len_out, err, errlen);
}

/* dsm_map_ro maps MOUNTPOINT/segment.ro, the segment's read-only view,
 * PROT_READ at DSM_ADDR, for a program that only reads: many nodes may
 * hold a read copy of a page at once, and a copy rereads at memory speed.
 * A store through the mapping is a SIGSEGV. Errors as dsm_map's, and
 * DSM_ENOTSEG for the writable segment: its pages are exclusive. */
static inline void *dsm_map_ro(const char *path, size_t *len_out, char *err, size_t errlen)
{
	return dsm__map_(path, DSM_ADDR, 1, len_out, err, errlen);
}

/* dsm_map_ro_at is dsm_map_ro at addr (a multiple of 4096), or wherever
 * the kernel finds room if addr is NULL: for a program that writes, which
 * maps segment at DSM_ADDR with dsm_map and reads through segment.ro
 * elsewhere. Pointers stored in the segment point into DSM_ADDR; follow
 * them in this mapping with dsm_ro_ptr. */
static inline void *dsm_map_ro_at(const char *path, void *addr, size_t *len_out, char *err, size_t errlen)
{
	return dsm__map_(path, addr, 1, len_out, err, errlen);
}

/* dsm_ro_ptr translates p, a pointer into the segment as stored in it (at
 * DSM_ADDR), into the same byte of the segment.ro mapping at ro_base.
 * NULL stays NULL. */
static inline const void *dsm_ro_ptr(const void *ro_base, const void *p)
{
	if (p == NULL)
		return NULL;
	return (const char *)ro_base + ((uintptr_t)p - (uintptr_t)DSM_ADDR);
}

/* dsm_unmap undoes dsm_map. Dirty pages stay with this node until another
 * node asks for them, so nothing is lost. */
static inline int dsm_unmap(void *base, size_t len)
{
	return munmap(base, len);
}

#endif /* DSM_H */
