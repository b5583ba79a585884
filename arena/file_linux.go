//go:build linux

package arena

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// allocateFile sizes a new file to size bytes. fallocate reserves the
// memory on tmpfs and hugetlbfs now, so a full /dev/shm is an error at
// Create rather than a SIGBUS on first touch; filesystems without it fall
// back to ftruncate.
func allocateFile(fd int, size int64) error {
	err := unix.Fallocate(fd, 0, 0, size)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return unix.Ftruncate(fd, size)
	}
	return err
}

// filePageSize is the page size of the file's filesystem: the huge page
// size on hugetlbfs, the system page size elsewhere.
func filePageSize(fd int) int64 {
	ps := int64(os.Getpagesize())
	var sfs unix.Statfs_t
	// Statfs_t.Type is int32 on 32-bit hosts, where the magic 0x958458f6
	// does not fit: compare the 32 bits the kernel's f_type holds.
	if unix.Fstatfs(fd, &sfs) == nil && uint32(sfs.Type) == uint32(unix.HUGETLBFS_MAGIC) {
		if b := int64(sfs.Bsize); b > ps && b <= maxPage && b&(b-1) == 0 {
			return b
		}
	}
	return ps
}

// prefault faults the whole mapping in: MADV_POPULATE_WRITE (Linux 5.14+)
// in one call, else a write-touch of every page.
func prefault(mem []byte, pageSize int) error {
	if err := unix.Madvise(mem, unix.MADV_POPULATE_WRITE); err == nil {
		return nil
	}
	touchPages(mem, pageSize)
	return nil
}

// adviseHugePages asks for transparent huge pages on the mapping.
func prefaultRead(mem []byte, pageSize int) error {
	if err := unix.Madvise(mem, unix.MADV_POPULATE_READ); err == nil {
		return nil
	}
	readPages(mem, pageSize)
	return nil
}

func adviseHugePages(mem []byte) error {
	return unix.Madvise(mem, unix.MADV_HUGEPAGE)
}
