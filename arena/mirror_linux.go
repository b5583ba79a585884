//go:build linux

package arena

import "golang.org/x/sys/unix"

// mirrorSupported: Mirror maps views on Linux, where it is tested.
const mirrorSupported = true

// mirrorReserveFlags are the flags, beside MAP_PRIVATE, of a mirror's
// address-space reservation: PROT_NONE memory that is never touched, so
// MAP_NORESERVE keeps strict overcommit accounting from charging it.
const mirrorReserveFlags = unix.MAP_ANONYMOUS | unix.MAP_NORESERVE
