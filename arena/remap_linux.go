//go:build linux

package arena

import "golang.org/x/sys/unix"

// remapAnon replaces the mapping mem with private anonymous memory at the
// same address (see remapAnonFlags). MAP_NORESERVE: the replacement is
// there so that a late access does not fault, not to hold data, so it
// must not be refused (or charged) as the arena's size in private memory
// under strict overcommit accounting.
func remapAnon(mem []byte) error {
	return remapAnonFlags(mem, unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
}
