package arena

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/cpu"
)

// Create makes a new arena file of at least size bytes (rounded up to the
// page size) at path (see Resolve), maps it, initialises the header and an
// empty directory, and only then marks it ready. It fails with ErrExists if
// the file already exists; on any other failure it removes what it created
// (and only that: if the path meanwhile names another file, it is left).
//
// The file is created with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC and mode
// 0600 unless WithMode says otherwise.
func Create(path string, size int64, opts ...Option) (*Arena, error) {
	p, o, err := prepare(path, opts)
	if err != nil {
		return nil, err
	}
	if o.readOnly {
		return nil, fmt.Errorf("%w: ReadOnly is an Open option; Create writes the file", ErrInvalid)
	}
	if size <= 0 || size > maxSize {
		return nil, fmt.Errorf("%w: size %d", ErrInvalid, size)
	}
	// Refuse a size that cannot work before the file exists, so a bad
	// argument never creates (and then has to remove) anything. The system
	// page size is the smallest the file can have; on hugetlbfs the huge
	// page size, known only once the file is open, can still refuse it.
	if _, _, err := createGeometry(size, o.dirCap, int64(os.Getpagesize())); err != nil {
		return nil, err
	}
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(o.mode))
	if err != nil {
		return nil, openErr("create", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	a, err := initArena(f, fd, p, size, o)
	if err != nil {
		removeCreated(fd, p)
		_ = f.Close()
		return nil, err
	}
	return a, nil
}

// testHookInit runs at the start of initArena; an error it returns fails
// the Create. Nil outside tests.
var testHookInit func(path string) error

// initArena sizes, maps and initialises a freshly created file. The caller
// owns f (and closes it if initArena fails); fd is its descriptor.
func initArena(f *os.File, fd int, p string, size int64, o options) (a *Arena, err error) {
	if testHookInit != nil {
		if err := testHookInit(p); err != nil {
			return nil, err
		}
	}
	// fchmod: the umask must not change the mode the caller asked for.
	if err := unix.Fchmod(fd, uint32(o.mode)); err != nil {
		return nil, fmt.Errorf("arena: create %s: fchmod: %w", p, err)
	}
	pageSize := filePageSize(fd)
	pad := o.padUnit
	if pad == 0 {
		pad = cpu.Detect().PadUnit()
	}
	dataOff, total, err := createGeometry(size, o.dirCap, pageSize)
	if err != nil {
		return nil, err
	}
	if err := allocateFile(fd, total); err != nil {
		if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
			return nil, fmt.Errorf("%w: create %s: reserve %d bytes: %w", ErrNoSpace, p, total, err)
		}
		return nil, fmt.Errorf("arena: create %s: reserve %d bytes: %w", p, total, err)
	}
	mem, err := mmap.MapRegion(f, int(total), mmap.RDWR, 0, 0) // total <= MaxInt: createGeometry
	if err != nil {
		return nil, fmt.Errorf("arena: create %s: mmap: %w", p, err)
	}
	defer func() {
		if err != nil {
			_ = mem.Unmap()
		}
	}()
	a = &Arena{path: p, f: f, mem: mem, o: o, created: true}
	if err := a.applyMemOptions(); err != nil {
		return nil, err
	}
	// The file is new and zero-filled, so the directory is empty and the
	// mutable header words are zero (State == 0: not ready).
	h := (*header)(unsafe.Pointer(&mem[0])) // mapping is page-aligned and >= HeaderSize
	copy(h.Magic[:], Magic)
	h.VersionMajor = VersionMajor
	h.VersionMinor = VersionMinor
	h.ByteOrder = byteOrderMark
	h.TotalSize = uint64(total)
	h.PageSize = uint32(pageSize)
	h.PadUnit = uint32(pad)
	h.HeaderSize = HeaderSize
	h.DirEntrySize = DirEntrySize
	h.DirOffset = HeaderSize
	h.DirCapacity = uint32(o.dirCap)
	h.CreatorPID = uint32(os.Getpid())
	h.CreatedUnixNano = time.Now().UnixNano()
	h.DataOffset = uint64(dataOff)
	h.Checksum = h.sum()
	// Plain store: nobody reads AllocNext before State is ready.
	h.AllocNext = uint64(dataOff)

	// Validate what we wrote exactly as an opener will.
	var priv header
	copy(priv.bytes(), mem[:HeaderSize])
	g, err := priv.validate(total)
	if err != nil {
		return nil, fmt.Errorf("arena: create %s: self-check: %w", p, err)
	}
	a.g = g
	// Release: every header byte above (and the zeroed directory) is visible
	// to any process whose acquire load of State sees stateReady.
	atomic.StoreUint32(&h.State, stateReady)
	return a, nil
}

// createGeometry computes where the data area of a new arena starts and
// how big the file is, for a given page size.
func createGeometry(size int64, dirCap int, pageSize int64) (dataOff, total int64, err error) {
	dataOff = alignUp(HeaderSize+int64(dirCap)*DirEntrySize, pageSize)
	total = alignUp(size, pageSize) // no overflow: size <= maxSize, pageSize <= maxPage
	if total <= dataOff {
		return 0, 0, fmt.Errorf("%w: size %d leaves no room after the header and a %d-entry directory (need more than %d bytes)", ErrInvalid, size, dirCap, dataOff)
	}
	if total > maxSize || total > math.MaxInt {
		// MaxInt: on 32-bit hosts the mapping length is an int.
		return 0, 0, fmt.Errorf("%w: size %d (%d once rounded to pages) exceeds the largest arena this host maps (%d bytes)", ErrInvalid, size, total, min(int64(maxSize), int64(math.MaxInt)))
	}
	return dataOff, total, nil
}

// removeCreated unlinks p after a failed Create, but only if p still names
// the file we created: another process may have unlinked ours and put its
// own file there. The comparison runs while fd is open, so our inode
// cannot have been freed and its number reused. unlink(2) has no
// by-descriptor form, so a window between lstat and unlink remains; it
// needs a process that can write the directory and races us on purpose.
func removeCreated(fd int, p string) {
	var ours, now unix.Stat_t
	if unix.Fstat(fd, &ours) != nil || unix.Lstat(p, &now) != nil {
		return
	}
	if ours.Dev != now.Dev || ours.Ino != now.Ino {
		return
	}
	_ = unix.Unlink(p)
}
