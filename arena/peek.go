package arena

import (
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Info is what Peek found in an arena file's header, without waiting for it
// to be ready and without mapping it.
type Info struct {
	// Path is the file's path; FileSize its length and ModTime its
	// modification time (fstat).
	Path     string
	FileSize int64
	ModTime  time.Time
	// Blank: the file holds no header byte yet (empty or all zeros): a
	// creator that has not written it, or died before it did.
	Blank bool
	// Ready: the header's State word says the creator finished. A header
	// that is not ready belongs to a creator still initialising it, or one
	// that died during Create (CreatorPID says which, once written).
	Ready bool
	// The header's fields, as read (zero where the creator had not
	// written them yet). Peek checks only the magic: Open validates.
	VersionMajor, VersionMinor int
	CreatorPID                 int
	Created                    time.Time
	TotalSize, DataOffset      int64
	AllocNext                  int64
	DirCount, DirCapacity      int
}

// Peek reads the header of the arena file at path (see Resolve) with one
// pread, without taking any lock, waiting, validating beyond the magic,
// or mapping the file, so that tools can classify files that Open would
// wait on or refuse: a blank file, one whose creator died during Create,
// one of another kind (ErrNotArena). It opens the file read-only and
// applies Open's checks on the descriptor (regular file, owner, links;
// ErrPermission), so it never follows a symlink or blocks on a FIFO.
func Peek(path string, opts ...Option) (Info, error) {
	p, o, err := prepare(path, opts)
	if err != nil {
		return Info{}, err
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return Info{}, openErr("open", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	size, err := checkFile(fd, &o)
	if err != nil {
		return Info{}, fmt.Errorf("arena: peek %s: %w", p, err)
	}
	in := Info{Path: p, FileSize: size}
	if fi, err := f.Stat(); err == nil {
		in.ModTime = fi.ModTime()
	}
	var h header
	n, err := unix.Pread(fd, h.bytes(), 0)
	if err != nil {
		return in, fmt.Errorf("arena: peek %s: pread: %w", p, err)
	}
	b := h.bytes()[:n]
	in.Blank = true
	for _, c := range b {
		if c != 0 {
			in.Blank = false
			break
		}
	}
	if in.Blank {
		return in, nil
	}
	for i := 0; i < len(Magic); i++ {
		if i >= n || b[i] != Magic[i] {
			return in, fmt.Errorf("%w: %s: bad magic %q", ErrNotArena, p, b[:min(n, len(Magic))])
		}
	}
	// Fields past what was read stay zero. The copy is private: a racing
	// creator's later stores do not reach it.
	in.Ready = n == HeaderSize && *(*uint32)(unsafe.Pointer(&h.State)) == stateReady
	in.VersionMajor, in.VersionMinor = int(h.VersionMajor), int(h.VersionMinor)
	in.CreatorPID = int(h.CreatorPID)
	if h.CreatedUnixNano != 0 {
		in.Created = time.Unix(0, h.CreatedUnixNano)
	}
	in.TotalSize, in.DataOffset = int64(h.TotalSize), int64(h.DataOffset)
	in.AllocNext = int64(h.AllocNext)
	in.DirCount, in.DirCapacity = int(h.DirCount), int(h.DirCapacity)
	return in, nil
}
