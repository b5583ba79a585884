package arena

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// Arena is one process's handle on a mapped arena. Its methods are safe for
// concurrent use. The geometry it reports is a private copy taken when the
// arena was created or opened and validated then.
type Arena struct {
	path    string
	f       *os.File
	mem     mmap.MMap
	g       geometry
	o       options
	created bool

	// allocMu serialises this handle's allocators: the flock directory lock
	// belongs to the open file description, so it does not exclude
	// goroutines sharing a.f. It is taken before mu.
	allocMu sync.Mutex
	// mu: Close takes it exclusively; Alloc, Lookup and Regions shared, so
	// that no directory access runs on an unmapped arena, and an Alloc
	// waiting for the directory lock does not hold up Lookup or Regions.
	// It also guards the pin fields below (pin.go).
	mu     sync.RWMutex
	closed bool
	// broken is the truncation CheckSize found (nil until then): the
	// mapping was replaced and every method fails with it.
	broken error

	// Pins (pin.go): the users of the mapping outside this handle's own
	// methods (ring handles), told when the handle is closed or broken.
	// anon says the file mapping was replaced by anonymous memory;
	// retired that Close has finished with the mapping, which then lives
	// only until the last pin goes.
	pins    map[*Pin]struct{}
	anon    bool
	retired bool
	// mirrors are the live mirrored views (mirror.go), replaced by
	// anonymous memory with the main mapping and unmapped by their own
	// Close.
	mirrors map[*Mirror]struct{}

	closeOnce sync.Once

	// hold is the second open file description liveness locks are taken
	// through (nil until the first LockLive), held the bytes this handle
	// holds; holdMu guards both.
	holdMu sync.Mutex
	hold   *os.File
	held   map[int64]struct{}
	fid    fileID // the file's identity, taken when hold is opened
}

// hostLittleEndian is fixed at init; the layout is little-endian only.
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// prepare does what Create and Open do first: apply the options, resolve
// the path and refuse a big-endian host.
func prepare(path string, opts []Option) (string, options, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return "", o, err
	}
	p, err := Resolve(path)
	if err != nil {
		return "", o, err
	}
	if !hostLittleEndian {
		return "", o, fmt.Errorf("%w: this host is big-endian; the layout is little-endian", ErrByteOrder)
	}
	return p, o, nil
}

// Close releases the handle: it closes the file (which releases the
// handle's liveness locks) and ends the mapping. It is idempotent, and a
// Close that runs while another is in progress waits for it. It waits for
// a pending Alloc on this handle (at most the lock timeout).
//
// Users of the mapping that pinned it (Pin: ring handles) are told first,
// while the mapping is still the file's, and their later operations fail
// instead of touching the memory. An operation of theirs that was already
// past that check when Close came must not fault either, so while any pin
// remains the mapping is not unmapped but replaced, at the same address
// and size, by private anonymous memory (mmap MAP_FIXED, which swaps the
// pages in one step): such an operation reads zeros and writes nothing
// that any other process sees. The replacement is unmapped when the last
// pin is released; without pins Close unmaps at once. Region byte slices
// obtained from this handle must not be used after Close.
func (a *Arena) Close() error {
	var err error
	a.closeOnce.Do(func() { err = a.close() })
	return err
}

func (a *Arena) close() error {
	// First refuse new users, and tell the present ones outside mu: a
	// user may wait for its goroutines to leave the memory, and they may
	// call methods of this handle (which now fail at once with ErrClosed).
	a.mu.Lock()
	a.closed = true
	pins := a.takePins()
	a.mu.Unlock()
	notifyPins(pins, ErrClosed)

	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	if a.o.mlock && !a.anon {
		_ = unix.Munlock(a.mem)
	}
	if err := a.retire(); err != nil {
		errs = append(errs, err)
	}
	if err := a.closeHold(); err != nil {
		errs = append(errs, fmt.Errorf("arena: close liveness locks: %w", err))
	}
	if err := a.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("arena: close: %w", err))
	}
	return errors.Join(errs...)
}

// usable says why the handle may not touch its mapping any more
// (ErrClosed, or the truncation CheckSize found), or nil. The caller holds
// a.mu.
func (a *Arena) usable() error {
	if a.closed {
		return ErrClosed
	}
	return a.broken
}

// Remove unlinks an arena file (see Resolve for names). It refuses with
// ErrInUse while another process holds a live handle on one of the
// arena's rings (a liveness lock in the file: see LockLive), because that
// process would go on using the unlinked file while a new Create of the
// name made another; WithForce removes it anyway. Handles of the calling
// process do not count (close them first, or they keep the unlinked
// mapping too). Processes that have it mapped keep their mapping until
// they Close. Where liveness locks are unsupported no process is seen.
func Remove(path string, opts ...Option) error {
	p, err := Resolve(path)
	if err != nil {
		return err
	}
	o, err := applyOptions(opts)
	if err != nil {
		return err
	}
	if !o.force {
		if err := checkNotInUse(p); err != nil {
			return err
		}
	}
	if err := unix.Unlink(p); err != nil {
		return openErr("remove", p, err)
	}
	return nil
}

// Path is the file path the arena was created or opened at.
func (a *Arena) Path() string { return a.path }

// Size is the total size of the arena (and of its mapping) in bytes.
func (a *Arena) Size() int64 { return a.g.size }

// PadUnit is the padding unit recorded at Create: hot fields of rings in
// this arena are placed on separate units of this many bytes.
func (a *Arena) PadUnit() int { return int(a.g.padUnit) }

// PageSize is the page size the arena was sized with.
func (a *Arena) PageSize() int { return int(a.g.pageSize) }

// DataOffset is the offset of the first byte available to regions.
func (a *Arena) DataOffset() int64 { return a.g.dataOffset }

// DirCapacity is the number of directory entries.
func (a *Arena) DirCapacity() int { return int(a.g.dirCap) }

// Version returns the layout version recorded in the header.
func (a *Arena) Version() (major, minor int) { return VersionMajor, int(a.g.minor) }

// CreatorPID is the pid of the process that created the arena.
func (a *Arena) CreatorPID() int { return int(a.g.creatorPID) }

// Created is when the arena was created.
func (a *Arena) Created() time.Time { return time.Unix(0, a.g.created) }

// IsCreator reports whether this handle created the arena (rather than
// opening it).
func (a *Arena) IsCreator() bool { return a.created }

func (a *Arena) applyMemOptions() error {
	if a.o.hugePages {
		if err := adviseHugePages(a.mem); err != nil {
			return fmt.Errorf("arena: %s: huge page advice: %w", a.path, err)
		}
	}
	if a.o.prefault {
		pf := prefault
		if a.o.readOnly {
			pf = prefaultRead
		}
		if err := pf(a.mem, int(a.pageSizeForTouch())); err != nil {
			return fmt.Errorf("arena: %s: prefault: %w", a.path, err)
		}
	}
	if a.o.mlock {
		if err := unix.Mlock(a.mem); err != nil {
			return fmt.Errorf("arena: %s: mlock: %w", a.path, err)
		}
	}
	return nil
}

func (a *Arena) pageSizeForTouch() int64 {
	if a.g.pageSize != 0 {
		return a.g.pageSize
	}
	return int64(os.Getpagesize())
}

// ReadOnly reports whether the handle was opened with ReadOnly.
func (a *Arena) ReadOnly() bool { return a.o.readOnly }

// readPages read-faults every page of a read-only mapping.
func readPages(mem []byte, pageSize int) {
	for off := 0; off+4 <= len(mem); off += pageSize {
		_ = atomic.LoadUint32((*uint32)(unsafe.Pointer(&mem[off]))) // page-aligned, so 4-byte aligned
	}
}

// touchPages write-faults every page without changing its contents: an
// atomic add of zero is a write to the page and a no-op on its value, even
// while another process writes the same word.
func touchPages(mem []byte, pageSize int) {
	for off := 0; off+4 <= len(mem); off += pageSize {
		atomic.AddUint32((*uint32)(unsafe.Pointer(&mem[off])), 0) // page-aligned, so 4-byte aligned
	}
}
