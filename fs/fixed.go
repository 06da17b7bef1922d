package fs

import (
	"github.com/hanwen/go-fuse/v2/fuse"
)

// fixedTree refuses, with EPERM, every request that would change the
// mount's names or the attributes of a file in it, whatever file it names:
// the directory holds the same files on every node for the mount's whole
// life, and each file's mode, owner and times are what Getattr says.
// go-fuse's node API would otherwise accept an unlink or an rmdir
// silently and drop the name from this node's mount.
//
// It sits under the node API, so a file added to the root later is
// covered without a handler of its own. A size change passes on to the
// file, which refuses it unless the size stays (see segmentNode.Setattr).
type fixedTree struct {
	fuse.RawFileSystem
}

// attrChanges are the SETATTR fields that no file of the mount lets change.
const attrChanges = fuse.FATTR_MODE | fuse.FATTR_UID | fuse.FATTR_GID |
	fuse.FATTR_ATIME | fuse.FATTR_MTIME | fuse.FATTR_ATIME_NOW | fuse.FATTR_MTIME_NOW | fuse.FATTR_CTIME

func (t *fixedTree) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	if in.Valid&attrChanges != 0 {
		return fuse.EPERM
	}
	return t.RawFileSystem.SetAttr(cancel, in, out)
}

func (t *fixedTree) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	return fuse.EPERM
}

func (t *fixedTree) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	return fuse.EPERM
}

func (t *fixedTree) Unlink(cancel <-chan struct{}, in *fuse.InHeader, name string) fuse.Status {
	return fuse.EPERM
}

func (t *fixedTree) Rmdir(cancel <-chan struct{}, in *fuse.InHeader, name string) fuse.Status {
	return fuse.EPERM
}

func (t *fixedTree) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	return fuse.EPERM
}

func (t *fixedTree) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	return fuse.EPERM
}

func (t *fixedTree) Symlink(cancel <-chan struct{}, in *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	return fuse.EPERM
}

func (t *fixedTree) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	return fuse.EPERM
}
