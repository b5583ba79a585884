//go:build unix && !linux

package arena

import "golang.org/x/sys/unix"

// mirrorSupported: the BSDs and macOS have MAP_FIXED too, and mapMirror
// builds for them, but it has not been run there; until it has, Mirror
// returns ErrUnsupported and rings fall back to their padding record.
const mirrorSupported = false

// mirrorReserveFlags: see the Linux twin; MAP_NORESERVE is not honoured
// the same way here.
const mirrorReserveFlags = unix.MAP_ANON
