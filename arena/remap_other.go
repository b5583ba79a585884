//go:build unix && !linux

package arena

import "golang.org/x/sys/unix"

// remapAnon replaces the mapping mem with private anonymous memory at the
// same address (see remapAnonFlags). The same semantics as the Linux twin,
// without MAP_NORESERVE, which the BSDs and macOS do not honour the same
// way.
func remapAnon(mem []byte) error {
	return remapAnonFlags(mem, unix.MAP_ANON)
}
