package ring

import (
	"errors"
	"fmt"
)

// Sentinel errors. Operations return them bare on the hot path (no
// allocation); setup and corruption errors wrap them with detail.
var (
	// ErrFull: TryPush found the next slot in ring order not yet free
	// (for SPSC: the ring holds Slots messages; for MPMC also while the
	// consumer of that slot's previous lap still holds it, e.g. a Peek).
	ErrFull = errors.New("ring: full")
	// ErrEmpty: TryPop found the next slot in ring order not yet published
	// (for MPMC also while a committed message waits behind a reservation
	// that is not committed yet).
	ErrEmpty = errors.New("ring: empty")
	// ErrTooLarge: the message is longer than the ring's SlotSize.
	ErrTooLarge = errors.New("ring: message too large")
	// ErrClosed: the ring was closed; no more pushes are accepted.
	// (Consumers get io.EOF once they have drained it.)
	ErrClosed = errors.New("ring: closed")
	// ErrCorrupt: a value in shared memory (an index, a sequence number, a
	// length, the ring header) is impossible. A crashed or hostile peer
	// surfaces as ErrCorrupt, never as a panic or an access outside the
	// ring.
	ErrCorrupt = errors.New("ring: corrupt")
	// ErrNotReady: the ring's creator did not finish initialising it within
	// the open timeout.
	ErrNotReady = errors.New("ring: not ready")
	// ErrKind: the region holds another kind of ring (or no ring).
	ErrKind = errors.New("ring: wrong kind of region")
	// ErrVersion: the ring was written by an incompatible layout version.
	ErrVersion = errors.New("ring: unsupported layout version")
	// ErrInvalid: a Config field or an argument is out of range.
	ErrInvalid = errors.New("ring: invalid argument")
	// ErrNotReserved: Commit or Release was given a reservation or message
	// that is not the handle's outstanding one.
	ErrNotReserved = errors.New("ring: no such reservation")
)

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
