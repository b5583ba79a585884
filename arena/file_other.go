//go:build unix && !linux

package arena

import (
	"os"

	"golang.org/x/sys/unix"
)

// allocateFile sizes a new file; without fallocate the pages are reserved
// lazily.
func allocateFile(fd int, size int64) error { return unix.Ftruncate(fd, size) }

// filePageSize is the system page size.
func filePageSize(fd int) int64 { return int64(os.Getpagesize()) }

// prefault write-touches every page.
func prefault(mem []byte, pageSize int) error {
	touchPages(mem, pageSize)
	return nil
}

func prefaultRead(mem []byte, pageSize int) error {
	readPages(mem, pageSize)
	return nil
}

// adviseHugePages is a no-op where transparent huge pages do not exist.
func adviseHugePages(mem []byte) error { return nil }
