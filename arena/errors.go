package arena

import (
	"errors"
	"fmt"
	"io/fs"
)

// Sentinel errors. Every error that describes the arena or the caller's
// input wraps one of these (and sometimes a more specific one beside it), so
// callers test with errors.Is and read the wrapped detail for humans; raw
// system-call failures (out of memory, too many open files) are returned
// wrapped with their errno.
var (
	// ErrNotArena: the file does not start with the arena magic.
	ErrNotArena = errors.New("arena: not an arena")
	// ErrVersion: the layout version, byte order or a required feature is
	// one this build does not understand; from Alloc, the arena uses a
	// read-only-compatible feature this build does not know.
	ErrVersion = errors.New("arena: unsupported layout version")
	// ErrByteOrder: the arena was written by a host of the other byte order.
	// It also matches ErrVersion.
	ErrByteOrder = fmt.Errorf("%w: byte order", ErrVersion)
	// ErrCorrupt: the file claims to be an arena but a field is out of range
	// or inconsistent. Shared memory is hostile input: a crashed or malicious
	// peer surfaces as ErrCorrupt, never as a panic.
	ErrCorrupt = errors.New("arena: corrupt")
	// ErrChecksum: a checksum over immutable fields does not match. It also
	// matches ErrCorrupt.
	ErrChecksum = fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	// ErrTruncated: the file is shorter than its header says. It also
	// matches ErrCorrupt.
	ErrTruncated = fmt.Errorf("%w: truncated", ErrCorrupt)
	// ErrExists: Create found the file already there, or Alloc found the
	// region name taken. It also matches fs.ErrExist.
	ErrExists = fmt.Errorf("arena: already exists: %w", fs.ErrExist)
	// ErrNotFound: no such arena file (ENOENT, or ENOTDIR: an element of
	// the path is not a directory) or region. It also matches
	// fs.ErrNotExist.
	ErrNotFound = fmt.Errorf("arena: not found: %w", fs.ErrNotExist)
	// ErrNotReady: the arena (or a region's contents) was not marked ready
	// within the ready timeout: its creator is still initialising it, or
	// died while doing so.
	ErrNotReady = errors.New("arena: not ready")
	// ErrPermission: the file is not a regular file, is a symlink, is owned
	// by another user, has more than one link, or is writable by group or
	// others without WithAllowShared; or the system refused access (EACCES,
	// EPERM, EROFS). It also matches fs.ErrPermission.
	ErrPermission = fmt.Errorf("arena: file refused: %w", fs.ErrPermission)
	// ErrBadName: the arena name is empty, too long, or contains NUL or
	// ".."; or the region name is empty, longer than MaxNameLen, holds a
	// byte that is not printable ASCII (NUL and other control characters
	// included) or a '/', or is "." or "..". It also matches fs.ErrInvalid.
	ErrBadName = fmt.Errorf("arena: bad name: %w", fs.ErrInvalid)
	// ErrInvalid: an argument (size, alignment, option value) is invalid in
	// itself. A region too large for the arena is ErrNoSpace.
	ErrInvalid = errors.New("arena: invalid argument")
	// ErrNoSpace: the arena has no room for the region, or its directory is
	// full; from Create, the filesystem has no room for the file (ENOSPC,
	// EDQUOT).
	ErrNoSpace = errors.New("arena: no space")
	// ErrBusy: the directory lock could not be taken within the lock
	// timeout.
	ErrBusy = errors.New("arena: directory busy")
	// ErrHeld: LockLive found the liveness byte held, by another handle
	// (this Arena handle's or another's, in this process or another): what
	// the byte stands for is alive.
	ErrHeld = errors.New("arena: liveness byte held")
	// ErrInUse: Remove found live handles of another process on the arena
	// (liveness locks held in its file); WithForce removes it anyway.
	ErrInUse = errors.New("arena: in use by another process")
	// ErrReadOnly: a method that writes was called on a handle opened with
	// ReadOnly.
	ErrReadOnly = errors.New("arena: read-only handle")
	// ErrClosed: the arena handle was closed.
	ErrClosed = fmt.Errorf("arena: closed: %w", fs.ErrClosed)
	// ErrUnsupported: this system cannot do what was asked: liveness locks
	// where there are no open-file-description locks (only Linux 3.15+
	// has them), Mirror where mirrored mappings are not implemented. It
	// also matches errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("arena: unsupported: %w", errors.ErrUnsupported)
)

// errNoLiveLocks is ErrUnsupported from the liveness lock methods.
var errNoLiveLocks = fmt.Errorf("%w: liveness locks (open-file-description locks)", ErrUnsupported)

// Region errors. ErrNotFound and ErrExists wrap fs sentinels whose text
// says "file", which a region is not; these match them (errors.Is) and say
// "region" instead.
var (
	errRegionNotFound error = &regionError{"arena: region not found", ErrNotFound}
	errRegionExists   error = &regionError{"arena: region already exists", ErrExists}
)

// regionError is a sentinel with its own text that matches another one.
type regionError struct {
	msg  string
	base error
}

func (e *regionError) Error() string { return e.msg }
func (e *regionError) Unwrap() error { return e.base }

// corruptf wraps ErrCorrupt with a formatted detail.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
