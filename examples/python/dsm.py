"""Map a dsmfs segment from Python (standard library only; Linux x86_64/aarch64).

    import dsm
    with dsm.map("/mnt/dsm/segment") as seg:   # seg.addr == 0x40000000 on every node
        seg.buf[0:5] = b"hello"                 # a writable memoryview of the segment
        n = seg.at(ctypes.c_int64, 4096)        # a ctypes object living in the segment

    with dsm.map_ro("/mnt/dsm/segment.ro") as ro:  # read copies: many readers at once
        print(bytes(ro.buf[0:5]))               # a read-only memoryview

Call dsm.exec_without_randomization() first thing in a script: Debian's
/usr/bin/python3 is not position-independent, so the kernel puts its heap
anywhere in the first GiB, sometimes over 0x40000000.

Errors: AddressTakenError (errno EEXIST) when something in this process already
uses the range at 1 GiB (or at map_ro's addr); NotSegmentError (errno
EMEDIUMTYPE) when the file is not a dsmfs segment (for map_ro: not segment.ro);
plain OSError when open fails. Never map a segment from the
process that runs its dsmfs daemon.
"""

import ctypes
import errno
import os
import platform
import stat
import sys

ADDR = 0x40000000  # every node maps here, so stored pointers mean the same everywhere
FUSE_SUPER_MAGIC = 0x65735546
FSTYPE = "fuse.dsmfs"
PAGE = 4096

# <sys/mman.h> values; Python's mmap module cannot map at a fixed address.
if platform.machine() not in ("x86_64", "aarch64"):
    raise ImportError("dsm.py knows the mmap constants of x86_64 and aarch64 Linux only")
PROT_READ, PROT_WRITE, MAP_SHARED = 0x1, 0x2, 0x1
MAP_FIXED_NOREPLACE = 0x100000  # Linux 4.17
MAP_FAILED = ctypes.c_void_p(-1).value
ADDR_NO_RANDOMIZE = 0x0040000  # <sys/personality.h>
ET_EXEC = 2  # ELF e_type of an executable that is not position-independent

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.fstatfs.argtypes = [ctypes.c_int, ctypes.c_void_p]
_libc.personality.argtypes = [ctypes.c_ulong]


def exec_without_randomization():
    """Re-run this program, once, with address randomization off (as `setarch -R`
    does) if the interpreter is not position-independent; else do nothing.

    The kernel starts the heap of such a program at a random place in the first
    GiB (Debian's /usr/bin/python3 is one), and a heap there covers ADDR in a few
    percent of runs. Without randomization it starts right after the program.
    Call it before any other work: when it re-executes, it does not return."""
    with open(sys.executable, "rb") as f:
        hdr = f.read(18)
    if hdr[:4] != b"\x7fELF" or int.from_bytes(hdr[16:18], "little") != ET_EXEC:
        return
    cur = _libc.personality(0xFFFFFFFF)  # query
    if cur == -1 or cur & ADDR_NO_RANDOMIZE:
        return
    if _libc.personality(cur | ADDR_NO_RANDOMIZE) == -1:
        return  # forbidden (some container sandboxes): take the chance
    os.execv(sys.executable, sys.orig_argv)


class DsmError(OSError):
    """A segment could not be mapped; errno says why."""


class AddressTakenError(DsmError):
    """The range at ADDR is already in use in this process."""


class NotSegmentError(DsmError):
    """The file is not the segment of a dsmfs mount."""


class Segment:
    """A mapped segment. Views of it (buf, at(), numpy arrays) die with close()."""

    def __init__(self, addr, size, ro=False):
        self.addr, self.size = addr, size
        self.buf = memoryview((ctypes.c_ubyte * size).from_address(addr)).cast("B")
        if ro:
            self.buf = self.buf.toreadonly()

    def translate(self, p):
        """The address in this mapping of p, a pointer into the segment as stored
        in it (at ADDR); 0 stays 0. (p - ADDR is its offset, for at() and buf.)"""
        return 0 if p == 0 else self.addr + (p - ADDR)

    def at(self, ctype, offset=0):
        """The ctypes object of type ctype at offset in the segment."""
        if offset < 0 or offset + ctypes.sizeof(ctype) > self.size:
            raise ValueError(f"{ctype.__name__} at {offset} lies outside the segment")
        return ctype.from_address(self.addr + offset)

    def close(self):
        if self.buf is None:
            return
        # release() refuses while e.g. a numpy array still uses the memory,
        # which would otherwise crash on its next access.
        self.buf.release()
        self.buf = None
        _libc.munmap(self.addr, self.size)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _occupant(lo, hi):
    """The first line of /proc/self/maps that overlaps [lo, hi), shortened."""
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            a, b = (int(x, 16) for x in fields[0].split("-"))
            if a < hi and b > lo:
                return f"{fields[0]} {fields[5] if len(fields) > 5 else '(anonymous)'}"
    return "unknown"


def _mount_type(dev):
    """The fstype of the mount with device dev in mountinfo
    ("ID PARENT MAJ:MIN ROOT MNT OPTS... - FSTYPE ..."). The device, not the
    path, names the mount, so symlinks and bind mounts don't matter."""
    want = f"{os.major(dev)}:{os.minor(dev)}"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[2] == want and " - " in line:
                return line.split(" - ", 1)[1].split()[0]
    return "(not in /proc/self/mountinfo)"


def _check(fd, path, ro):
    """The size of the segment (segment.ro if ro) open as fd; raises
    NotSegmentError. FUSE's magic alone would accept any FUSE file, and mapping
    one would share nothing. segment opens read-only too, but its pages are
    exclusive: segment.ro is the only dsmfs file with no write bit."""
    st = os.fstat(fd)
    sfs = ctypes.create_string_buffer(256)  # struct statfs; f_type is the first long
    if _libc.fstatfs(fd, sfs) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{path}: statfs: {os.strerror(e)}")
    if ctypes.c_long.from_buffer(sfs).value != FUSE_SUPER_MAGIC or not stat.S_ISREG(st.st_mode):
        why = f"not a regular file on a FUSE mount; expected MOUNTPOINT/{'segment.ro' if ro else 'segment'} of a running dsmfs"
    elif (typ := _mount_type(st.st_dev)) != FSTYPE:
        why = f"file system type {typ}, want {FSTYPE}"
    elif st.st_size <= 0 or st.st_size % PAGE:
        why = f"size {st.st_size} is not a positive multiple of {PAGE}"
    elif ro and st.st_mode & 0o222:
        raise NotSegmentError(errno.EMEDIUMTYPE, f"{path}: not a dsmfs segment.ro (the file is writable: "
                              "read copies come only through MOUNTPOINT/segment.ro)")
    else:
        return st.st_size
    raise NotSegmentError(errno.EMEDIUMTYPE, f"{path}: not a dsmfs segment ({why})")


def map(path):  # noqa: A001 (the name users expect: dsm.map)
    """Open path read-write, check it is a dsmfs segment, map it MAP_SHARED at ADDR."""
    return _map(path, ADDR, False)


def map_ro(path, addr=ADDR):
    """Map MOUNTPOINT/segment.ro, the segment's read-only view, PROT_READ at addr
    (ADDR by default; None lets the kernel choose), for reading only: many nodes
    may hold a read copy of a page at once, and a copy rereads at memory speed.

    seg.buf is a read-only memoryview (a write raises TypeError); a store through
    seg.at() or numpy's writeable flag reaches read-only memory and kills the
    process with SIGSEGV. A program that writes maps segment at ADDR with map()
    and this one elsewhere (addr=None), following stored pointers with
    seg.translate(). Errors as map()'s, and NotSegmentError for the writable
    segment, whose pages are exclusive."""
    return _map(path, addr, True)


def _map(path, addr, ro):
    if addr is not None and addr % PAGE:
        raise ValueError(f"{path}: address {addr:#x} is not a multiple of {PAGE}")
    fd = os.open(path, (os.O_RDONLY if ro else os.O_RDWR) | os.O_CLOEXEC)
    try:
        size = _check(fd, path, ro)
        # Never plain MAP_FIXED: it would silently replace whatever this
        # process has at the address.
        p = _libc.mmap(addr, size, PROT_READ if ro else PROT_READ | PROT_WRITE,
                       MAP_SHARED | (MAP_FIXED_NOREPLACE if addr is not None else 0), fd, 0)
        e = ctypes.get_errno()
    finally:
        os.close(fd)  # the mapping keeps the file open
    if p == MAP_FAILED and e == errno.EEXIST:
        who = _occupant(addr, addr + size)
        hint = "; call dsm.exec_without_randomization() first" if who.endswith("[heap]") else ""
        raise AddressTakenError(errno.EEXIST, f"{path}: address range {addr:#x}-{addr + size:#x} is "
                                f"already in use in this process, by {who}{hint}")
    if p == MAP_FAILED:
        raise OSError(e, f"{path}: mmap: {os.strerror(e)}")
    if addr is not None and p != addr:
        # Kernels before 4.17 take the unknown flag as a hint and map elsewhere.
        _libc.munmap(p, size)
        raise AddressTakenError(errno.EEXIST, f"{path}: the kernel mapped it at {p:#x} instead of {addr:#x}: the "
                                "range is in use (or the kernel predates MAP_FIXED_NOREPLACE, Linux 4.17)")
    return Segment(p, size, ro)
