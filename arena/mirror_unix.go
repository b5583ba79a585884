//go:build unix

package arena

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapMirror maps the pre+n bytes of the file fd at file offset foff, then
// the last n of them again right after, and returns the pre+2n-byte view
// (pre 0: the n bytes twice, back to back). unit is the arena's page
// size, a multiple of the system page size that foff, pre and n are
// multiples of; the view starts on a multiple of it (hugetlbfs needs
// that). On failure nothing stays mapped.
func mapMirror(fd int, foff, pre, n, unit int64, readOnly bool) ([]byte, error) {
	sys := uintptr(os.Getpagesize())
	size := uintptr(pre + 2*n) // checkMirror: it fits in an int
	// Reserve room to start the view on a multiple of unit: an anonymous
	// mapping is only aligned to the system page.
	slack := uintptr(unit) - sys
	total := size + slack
	res, err := unix.MmapPtr(-1, 0, nil, total, unix.PROT_NONE, unix.MAP_PRIVATE|mirrorReserveFlags)
	if err != nil {
		return nil, fmt.Errorf("arena: mirror: reserve %d bytes of address space: %w", total, err)
	}
	lead := (uintptr(unit) - uintptr(res)%uintptr(unit)) % uintptr(unit)
	base := unsafe.Add(res, lead)
	if slack != 0 {
		// Trim the reservation to the view, so that unmapping the view
		// later releases all of it.
		var err error
		if lead != 0 {
			err = unix.MunmapPtr(res, lead)
		}
		if tail := total - lead - size; err == nil && tail != 0 {
			err = unix.MunmapPtr(unsafe.Add(base, size), tail)
		}
		if err != nil {
			_ = unix.MunmapPtr(res, total) // whatever is left of it
			return nil, fmt.Errorf("arena: mirror: trim the reservation: %w", err)
		}
	}
	prot := unix.PROT_READ | unix.PROT_WRITE
	if readOnly {
		prot = unix.PROT_READ // as the main mapping: the file is open read-only
	}
	for half := int64(0); half < 2; half++ {
		// The first half: file [foff, foff+pre+n) at base; the second:
		// file [foff+pre, foff+pre+n) at base+pre+n.
		at, fo, ln := base, foff, pre+n
		if half == 1 {
			at, fo, ln = unsafe.Add(base, pre+n), foff+pre, n
		}
		// MAP_FIXED over our own reservation: replaces that part of it in
		// one step, and nothing else can be there.
		got, err := unix.MmapPtr(fd, fo, at, uintptr(ln), prot, unix.MAP_SHARED|unix.MAP_FIXED)
		if err == nil && got != at {
			// MAP_FIXED maps at addr or fails; a system that ignored it
			// mapped somewhere else.
			_ = unix.MunmapPtr(got, uintptr(ln))
			err = fmt.Errorf("the system mapped %p, not %p", got, at)
		}
		if err != nil {
			_ = unix.MunmapPtr(base, size) // the reservation and any half mapped over it
			return nil, fmt.Errorf("arena: mirror: map half %d (%d bytes of the file at %d): %w", half, ln, fo, err)
		}
	}
	return unsafe.Slice((*byte)(base), size), nil
}

// unmapMirror unmaps a view made by mapMirror (both halves, or the
// anonymous memory that replaced them).
func unmapMirror(view []byte) error {
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(view)), uintptr(len(view)))
}
