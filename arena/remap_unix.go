//go:build unix

package arena

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// remapAnonFlags replaces the mapping mem (exactly a mapping this package
// made) with private anonymous memory of the same size at the same
// address: mmap with MAP_FIXED over it, which POSIX defines to replace any
// mapping in the range in one step, so no access ever finds the range
// unmapped. anon is the platform's anonymous-mapping flag plus any others.
// The mapping-library bookkeeping (mmap-go) still names the range, so it
// is unmapped later with mem.Unmap as usual.
func remapAnonFlags(mem []byte, anon int) error {
	if len(mem) == 0 {
		return nil
	}
	addr := unsafe.Pointer(unsafe.SliceData(mem))
	got, err := unix.MmapPtr(-1, 0, addr, uintptr(len(mem)), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|anon)
	if err != nil {
		return fmt.Errorf("arena: replace the mapping with anonymous memory: %w", err)
	}
	if got != addr {
		// MAP_FIXED maps at addr or fails; a system that ignored it mapped
		// somewhere else and left the file mapping in place.
		_ = unix.MunmapPtr(got, uintptr(len(mem)))
		return fmt.Errorf("arena: replace the mapping: the system mapped %p, not %p", got, addr)
	}
	return nil
}
