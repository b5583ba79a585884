package arena

import (
	"fmt"
	"os"

	"github.com/shmring/shmring/internal/cpu"
)

// PadUnitFor is the padding unit Create would record with these options:
// WithPadUnit's, or the one internal/cpu picks for this machine.
func PadUnitFor(opts ...Option) (int, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return 0, err
	}
	if o.padUnit != 0 {
		return o.padUnit, nil
	}
	return cpu.Detect().PadUnit(), nil
}

// SizeFor returns the size to give Create (with the same options) for an
// arena that holds regions of the given sizes, allocated in that order,
// each aligned to align bytes (0: the padding unit, as Alloc's align 0 and
// every ring use): the header, the directory (WithDirCapacity's, default
// DefaultDirCapacity; it must have room for every region), the alignment
// gaps Alloc leaves, rounded up to the system page size. It does not cover
// hugetlbfs, where Create aligns the data area and the size to the huge
// page: there, add one huge page to the result and round it up to one.
func SizeFor(sizes []int64, align int64, opts ...Option) (int64, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return 0, err
	}
	if align == 0 {
		pad, _ := PadUnitFor(opts...)
		align = int64(pad)
	}
	page := int64(os.Getpagesize())
	if align < minAlign || !isPow2(uint64(align)) || align > page {
		return 0, fmt.Errorf("%w: alignment %d not a power of two in [%d,%d]", ErrInvalid, align, minAlign, page)
	}
	if len(sizes) > o.dirCap {
		return 0, fmt.Errorf("%w: %d regions, directory capacity %d", ErrNoSpace, len(sizes), o.dirCap)
	}
	next := alignUp(HeaderSize+int64(o.dirCap)*DirEntrySize, page) // the data offset, as createGeometry
	for _, s := range sizes {
		if s <= 0 || s > maxSize {
			return 0, fmt.Errorf("%w: region size %d", ErrInvalid, s)
		}
		next = alignUp(next, align) + s
		if next > maxSize {
			return 0, fmt.Errorf("%w: regions total more than the largest arena (%d bytes)", ErrInvalid, int64(maxSize))
		}
	}
	if len(sizes) == 0 {
		next++ // Create needs a data area of at least one byte
	}
	return alignUp(next, page), nil
}
