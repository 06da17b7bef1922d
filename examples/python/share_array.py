"""Share a 64x64 float64 matrix between nodes: node A writes it, node B checks it.

    node A$ /usr/bin/python3 share_array.py write /mnt/dsm/segment --seed 7
    node B$ /usr/bin/python3 share_array.py check /mnt/dsm/segment --seed 7

The matrix lives in a ctypes Structure at OFFSET (default 0) in the segment,
behind a small header. With numpy installed (Debian: apt-get install
python3-numpy, then run /usr/bin/python3, not a pyenv/venv python without it)
the matrix is used as a numpy array; otherwise, or with --ctypes, through
ctypes alone. Both see the same bytes, so a numpy writer and a ctypes reader
agree. Exit status: 0 ok, 1 mismatch or error, 3 address taken, 4 not a segment.
"""

import argparse
import ctypes
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dsm  # noqa: E402

try:
    import numpy as np
except ImportError:
    np = None

ROWS = COLS = 64  # 32 KiB of data: eight pages, so several pages migrate
MAGIC = 0x4453_4D41_5252_4159  # "DSMARRAY"


class Shared(ctypes.Structure):
    _fields_ = [("magic", ctypes.c_uint64), ("seed", ctypes.c_uint64),
                ("rows", ctypes.c_uint32), ("cols", ctypes.c_uint32),
                ("data", ctypes.c_double * (ROWS * COLS))]


def expected(i, seed):
    return i + seed + 0.5  # exact in float64, different for every seed


def write(seg, shared, seed, use_numpy):
    shared.magic = 0  # a reader must not trust a half-written matrix
    shared.rows, shared.cols, shared.seed = ROWS, COLS, seed
    if use_numpy:
        m = matrix(seg, shared)
        m[:] = np.arange(ROWS * COLS, dtype=np.float64).reshape(ROWS, COLS) + seed + 0.5
        del m  # release the view before the segment is closed
    else:
        for i in range(ROWS * COLS):
            shared.data[i] = expected(i, seed)
    shared.magic = MAGIC
    return True


def check(seg, shared, seed, use_numpy):
    if (shared.magic, shared.seed, shared.rows, shared.cols) != (MAGIC, seed, ROWS, COLS):
        print(f"header: magic {shared.magic:#x} seed {shared.seed} shape {shared.rows}x{shared.cols}, "
              f"want {MAGIC:#x} seed {seed} shape {ROWS}x{COLS}", file=sys.stderr)
        return False
    if use_numpy:
        m = matrix(seg, shared)
        want = np.arange(ROWS * COLS, dtype=np.float64).reshape(ROWS, COLS) + seed + 0.5
        bad = np.argwhere(m != want)
        total = float(m.sum())
        del m
    else:
        bad = [i for i in range(ROWS * COLS) if shared.data[i] != expected(i, seed)]
        total = sum(shared.data)
    if len(bad):
        print(f"{len(bad)} of {ROWS * COLS} values differ, first at {bad[0]}", file=sys.stderr)
        return False
    print(f"sum {total}")
    return True


def matrix(seg, shared):
    """The data field as a ROWS x COLS numpy array over the segment's memory."""
    off = ctypes.addressof(shared) - seg.addr + Shared.data.offset
    return np.frombuffer(seg.buf, np.float64, ROWS * COLS, off).reshape(ROWS, COLS)


def main():
    dsm.exec_without_randomization()  # before anything lands on the heap
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["write", "check"])
    ap.add_argument("segment")
    ap.add_argument("--offset", type=lambda s: int(s, 0), default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ctypes", action="store_true", help="do not use numpy even if installed")
    args = ap.parse_args()
    use_numpy = np is not None and not args.ctypes
    try:
        seg = dsm.map(args.segment)
    except dsm.AddressTakenError as e:
        print(f"share_array: {e}", file=sys.stderr)
        return 3
    except dsm.NotSegmentError as e:
        print(f"share_array: {e}", file=sys.stderr)
        return 4
    except OSError as e:
        print(f"share_array: {e}", file=sys.stderr)
        return 1
    with seg:
        shared = seg.at(Shared, args.offset)
        ok = (write if args.mode == "write" else check)(seg, shared, args.seed, use_numpy)
        del shared
    print(f"{args.mode} {'ok' if ok else 'FAILED'} with {'numpy' if use_numpy else 'ctypes'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
