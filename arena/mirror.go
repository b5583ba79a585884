package arena

// Mirrors: a second view of a range of the arena file, mapped twice back
// to back, so that a variable-length record that crosses the end of a
// ring's data area is contiguous in virtual memory (the Linux BPF ring
// buffer maps its data pages twice for the same reason):
//
//	view: base                     base+n                    base+2n
//	      +------------------------+-------------------------+
//	      | file [o, o+n)          | file [o, o+n) again     |
//	      +------------------------+-------------------------+
//	      Bytes()[i] and Bytes()[i+n] are one byte of the file, 0 <= i < n
//
// The view is a mapping of its own, beside the arena's main mapping (which
// maps the same pages once more, so a Region's Bytes and a Mirror's Bytes
// alias too). It is made in three steps: a PROT_NONE anonymous reservation
// of 2n bytes (so nothing else can take the second half's addresses in
// between), then the file range mapped MAP_SHARED|MAP_FIXED over each half.
//
// Invariants (a.mu guards every field below except view and n, which are
// immutable, and a.mirrors):
//
//   - a mirror is in a.mirrors from the moment it is mapped until it is
//     unmapped (mapped is true exactly then);
//   - while it is in a.mirrors its range stays mapped: the file, or, once
//     the arena handle was closed or found its file truncated, or the
//     mirror was closed while the main mapping is still there, private
//     anonymous memory put over all of it with one MAP_FIXED mmap (anon;
//     if that replacement failed the file mapping stays, as the main
//     mapping's does);
//   - the range is unmapped exactly once: by Unmap (its owner knows no
//     slice of it is held), by Close once the main mapping is gone, or,
//     for a closed mirror, with the main mapping (unmapMirrors).

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"unsafe"
)

// Mirror is a second view of a range of the arena file, mapped twice back
// to back (see Arena.Mirror).
type Mirror struct {
	a    *Arena
	view []byte // the pre+2n-byte view; immutable, so Bytes takes no lock
	n    int64
	pre  int64 // MirrorRegion: the region's bytes before the mirrored range

	mapped bool // the range is still mapped (until it is unmapped)
	anon   bool // the range was replaced by anonymous memory
	closed bool // Close was called; the range waits for the arena's unmap
}

// Mirror maps the n bytes of the arena file at region r's offset off
// (r.Offset()+off must be a multiple of the arena's page size, n a positive
// multiple of it, [off, off+n) inside r) twice, back to back: Bytes()[i]
// and Bytes()[i+n] are the same byte of the file for 0 <= i < n.
//
// The alignment unit is PageSize, the page size the arena was created
// with: the huge page size on hugetlbfs (2 MiB, typically), where a
// mapping of the file must start and end on a huge page; the system page
// size elsewhere. A ring that wants its data area mirrored allocates it
// page-aligned and a whole number of pages long.
//
// On a handle opened with ReadOnly the view is mapped PROT_READ, like the
// main mapping. With WithPrefault the view's page tables are populated
// now, as the main mapping's are at Open.
//
// Errors: an argument out of bounds or misaligned, or a region that did
// not come from this handle, yields ErrInvalid; a closed handle ErrClosed;
// a handle that found its file truncated that truncation. Where mirrored
// mappings are not implemented (every system but Linux, for now) Mirror
// fails with ErrUnsupported, which also matches errors.ErrUnsupported; the
// caller then lays its records out without relying on the wrap.
//
// The mirror is tracked by the arena handle: when the handle is closed, or
// CheckSize finds its file truncated, the view is replaced in place by
// private anonymous memory, as the main mapping is (pin.go), so that a late
// access reads zeros and writes nothing another process sees instead of
// faulting. The owner calls Mirror.Close (or Unmap) in either case (after
// arena Close too): Close keeps the range reserved until the main mapping
// goes, Unmap returns it at once. Mirror takes the handle's
// lock exclusively, so it waits for an Alloc of this handle that waits for
// the directory lock.
func (a *Arena) Mirror(r *Region, off, n int64) (*Mirror, error) {
	return a.mirror(r, off, n, false)
}

// MirrorRegion is Mirror for a ring that wants its control words and its
// mirrored data in one view: Bytes() is region r's bytes [0, off+n) (r's
// offset in the file a multiple of the page size) followed by [off, off+n)
// once more, so Bytes()[off+i] and Bytes()[off+n+i] are the same byte for
// 0 <= i < n, and Bytes()[:off+n] is the region's start. Because the
// whole view is replaced by anonymous memory in one mmap when the handle
// closes, an operation under way at that moment sees either the file or
// zeros in all of it, never the file in one part and zeros in another.
func (a *Arena) MirrorRegion(r *Region, off, n int64) (*Mirror, error) {
	return a.mirror(r, off, n, true)
}

func (a *Arena) mirror(r *Region, off, n int64, withPrefix bool) (*Mirror, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: mirror of a nil region", ErrInvalid)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.usable(); err != nil {
		return nil, err
	}
	if !a.owns(r) {
		return nil, fmt.Errorf("%w: region %q is not one of this arena handle's", ErrInvalid, r.info.name)
	}
	if err := a.checkMirror(r, off, n); err != nil {
		return nil, err
	}
	foff, pre := r.info.off+off, int64(0)
	if withPrefix {
		if r.info.off%a.g.pageSize != 0 {
			return nil, fmt.Errorf("%w: mirror of region %q with its start: file offset %d is not a multiple of the page size %d", ErrInvalid, r.info.name, r.info.off, a.g.pageSize)
		}
		if off > math.MaxInt/2-n {
			return nil, fmt.Errorf("%w: mirror of %d+2*%d bytes does not fit in this host's address space", ErrInvalid, off, n)
		}
		foff, pre = r.info.off, off
	}
	if !mirrorSupported {
		return nil, fmt.Errorf("%w: mirrored mappings on %s", ErrUnsupported, runtime.GOOS)
	}
	view, err := mapMirror(int(a.f.Fd()), foff, pre, n, a.g.pageSize, a.o.readOnly)
	if err != nil {
		return nil, err
	}
	if a.o.prefault {
		pf := prefault
		if a.o.readOnly {
			pf = prefaultRead
		}
		if err := pf(view, int(a.g.pageSize)); err != nil {
			_ = unmapMirror(view)
			return nil, fmt.Errorf("arena: %s: mirror prefault: %w", a.path, err)
		}
	}
	m := &Mirror{a: a, view: view, n: n, pre: pre, mapped: true}
	if a.mirrors == nil {
		a.mirrors = map[*Mirror]struct{}{}
	}
	a.mirrors[m] = struct{}{}
	return m, nil
}

// owns says whether r was handed out by this handle: its bytes are the
// main mapping's at its offset. A Region of another handle on the same
// file has the same offset but other addresses. The caller holds a.mu and
// has checked usable (so a.mem is mapped).
func (a *Arena) owns(r *Region) bool {
	off, size := r.info.off, r.info.size
	if size <= 0 || off < 0 || off >= a.g.size || size > a.g.size-off || int64(len(r.mem)) != size {
		return false
	}
	return unsafe.SliceData(r.mem) == &a.mem[off] // off < a.g.size == len(a.mem)
}

// checkMirror applies Mirror's bounds and alignment rules.
func (a *Arena) checkMirror(r *Region, off, n int64) error {
	unit := a.g.pageSize
	size := r.info.size
	switch {
	case n <= 0:
		return fmt.Errorf("%w: mirror size %d", ErrInvalid, n)
	case off < 0 || off > size || n > size-off:
		return fmt.Errorf("%w: mirror [%d,+%d) outside region %q of %d bytes", ErrInvalid, off, n, r.info.name, size)
	case (r.info.off+off)%unit != 0:
		return fmt.Errorf("%w: mirror of region %q at %d: file offset %d is not a multiple of the page size %d", ErrInvalid, r.info.name, off, r.info.off+off, unit)
	case n%unit != 0:
		return fmt.Errorf("%w: mirror size %d is not a multiple of the page size %d", ErrInvalid, n, unit)
	case n > math.MaxInt/2:
		return fmt.Errorf("%w: mirror size %d: twice that does not fit in this host's address space", ErrInvalid, n)
	case unit%int64(os.Getpagesize()) != 0:
		// An arena sized on a host with smaller pages: its page offsets
		// are not all offsets mmap takes here.
		return fmt.Errorf("%w: the arena's page size %d is not a multiple of this system's %d", ErrUnsupported, unit, os.Getpagesize())
	}
	return nil
}

// Bytes returns the view: 2n bytes (Mirror), or off+2n (MirrorRegion).
// After Close, or the arena handle's Close, it reads zeros (see Close).
func (m *Mirror) Bytes() []byte { return m.view }

// Close ends the owner's use of the view (idempotent). While the arena
// handle's main mapping is still mapped (the handle is open, or pinned),
// the view is not unmapped but replaced in place by private anonymous
// memory, so that a slice of it still held somewhere (a record a caller
// forgot to drop, a call that outlived its handle's Close) reads zeros
// and writes nothing another process sees, instead of faulting; it is
// unmapped with the main mapping. Once that is gone, Close unmaps it at
// once. A nil *Mirror does nothing.
func (m *Mirror) Close() error {
	if m == nil {
		return nil
	}
	a := m.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if !m.mapped || m.closed {
		return nil
	}
	if a.mem != nil {
		if !m.anon {
			if err := remapAnon(m.view); err != nil {
				// Left as it is: unmapped with the main mapping.
				m.closed = true
				return fmt.Errorf("arena: mirror: replace with anonymous memory: %w", err)
			}
			m.anon = true
		}
		m.closed = true // stays in a.mirrors: unmapMirrors unmaps it
		return nil
	}
	if err := unmapMirror(m.view); err != nil {
		return fmt.Errorf("arena: mirror: unmap: %w", err) // still mapped and tracked: Close may be retried
	}
	m.mapped = false
	delete(a.mirrors, m)
	return nil
}

// Unmap unmaps the view now, whether or not the arena handle is open
// (idempotent; after Close it unmaps what Close left anonymous). For an
// owner that knows no slice of the view is held any more: unlike Close,
// it returns the address space at once. A nil *Mirror does nothing.
func (m *Mirror) Unmap() error {
	if m == nil {
		return nil
	}
	a := m.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if !m.mapped {
		return nil
	}
	if err := unmapMirror(m.view); err != nil {
		return fmt.Errorf("arena: mirror: unmap: %w", err)
	}
	m.mapped, m.closed = false, true
	delete(a.mirrors, m)
	return nil
}

// unmapMirrors unmaps the closed mirrors, with the main mapping. The
// caller holds a.mu.
func (a *Arena) unmapMirrors() {
	for m := range a.mirrors {
		if m.closed && m.mapped {
			if unmapMirror(m.view) == nil {
				m.mapped = false
				delete(a.mirrors, m)
			}
		}
	}
}

// anonMirrors replaces every live mirror's view by private anonymous
// memory in place (one MAP_FIXED mmap over both halves), for Close and
// for a truncation. A failed replacement leaves the file mapping, as
// retire does for the main mapping. The caller holds a.mu.
func (a *Arena) anonMirrors() {
	for m := range a.mirrors {
		if !m.anon {
			if err := remapAnon(m.view); err == nil {
				m.anon = true
			}
		}
	}
}
