package ring

import (
	"errors"
	"fmt"
	"os"

	"github.com/shmring/shmring/arena"
)

// errFull and errEmpty are ErrFull and ErrEmpty as their concrete type,
// so that the Try paths, which return one of them on every unsuccessful
// poll, tell them apart with a type assertion and a pointer comparison
// (inlined) instead of an interface comparison (a call to runtime.ifaceeq,
// measurable in a polling loop).
var (
	errFull  = &busyError{"ring: full"}
	errEmpty = &busyError{"ring: empty"}
)

// busyError is the type of ErrFull and ErrEmpty.
type busyError struct{ s string }

func (e *busyError) Error() string { return e.s }

// Sentinel errors. Operations return them bare on the hot path (no
// allocation); setup and corruption errors wrap them with detail. Test
// with errors.Is.
var (
	// ErrFull: TryPush found the next slot in ring order not yet free
	// (for SPSC: the ring holds Slots messages; for MPMC also while the
	// consumer of that slot's previous lap still holds it, e.g. a Peek).
	ErrFull error = errFull
	// ErrEmpty: TryPop found the next slot in ring order not yet published
	// (for MPMC also while a committed message waits behind a reservation
	// that is not committed yet).
	ErrEmpty error = errEmpty
	// ErrTooLarge: the message is longer than the ring's SlotSize.
	ErrTooLarge = errors.New("ring: message too large")
	// ErrClosed: the stream was ended (CloseWrite, or Close by the SPSC
	// producer): no more pushes are accepted. Consumers get io.EOF once
	// they have drained it. It also matches os.ErrClosed, like the closed
	// errors of os, net and cilium/ebpf.
	//
	// Every operation on a handle after its own Close or Detach returns an
	// error that matches ErrClosed ("ring: handle closed"), consumers'
	// included; after the Close of the arena handle the ring was created
	// or opened through, one that matches ErrClosed and arena.ErrClosed
	// ("ring: arena closed"). Test these with errors.Is: they are not
	// ErrClosed itself.
	ErrClosed error = &wrapsStd{"ring: closed", os.ErrClosed}
	// ErrCorrupt: a value in shared memory (an index, a sequence number, a
	// length, the ring header) is impossible. A crashed or hostile peer
	// surfaces as ErrCorrupt, never as a panic or an access outside the
	// ring.
	ErrCorrupt = errors.New("ring: corrupt")
	// ErrNotReady: the ring's creator did not finish initialising it within
	// the open timeout (WithOpenTimeout).
	ErrNotReady = errors.New("ring: not ready")
	// ErrKind: the region holds another kind of ring (or no ring).
	ErrKind = errors.New("ring: wrong kind of region")
	// ErrVersion: the ring was written by an incompatible layout version.
	ErrVersion = errors.New("ring: unsupported layout version")
	// ErrInvalid: a Config field or an argument is out of range (a negative
	// length, an unknown wait strategy, memory that is too small).
	ErrInvalid = errors.New("ring: invalid argument")
	// ErrNotReserved: Commit or Release was given a reservation or message
	// that is not one this handle has outstanding (another handle's, one
	// already committed or released, or the zero value).
	ErrNotReserved = errors.New("ring: no such reservation")
	// ErrPeerDead: a blocking operation (Push, PushBatch, Reserve; Pop,
	// PopBatch, Peek) found the ring full or empty, and every peer entry
	// that records the other side's role belongs to a dead handle (its
	// process died, or its arena handle was closed, without releasing the
	// entry): nothing will change the ring. Checked at most every 100 ms
	// of waiting, so it comes within about 200 ms. Not returned while any
	// entry with that role is alive (a handle takes its role at its first
	// operation on that side, before it claims anything), once any handle
	// without an entry of its own (the overflow entry) has had that role,
	// or when no entry records it (no handle has worked that side, or the
	// dead ones' entries were reclaimed). A new handle on the other side
	// makes the next call wait again. (A claim a dead handle left in an
	// MPMC ring is repaired, not reported: docs/ring.md, Claim repair.)
	ErrPeerDead = errors.New("ring: every handle on the other side is dead")
	// ErrOutstanding: an SPSC producer (consumer) operation was called
	// while this handle's reservation (peeked message) is outstanding.
	// Commit (Release) it first: SPSC slots are handed over in order, so at
	// most one is held at a time.
	ErrOutstanding = errors.New("ring: a reservation or peeked message is outstanding")
	// ErrUnsupported: the ring needs what this platform or this handle
	// cannot do: a record ring whose data area its handles map twice
	// (docs/ring.md, Record rings) opened where the arena cannot map it
	// twice, or attached over caller memory. It also matches
	// errors.ErrUnsupported.
	ErrUnsupported error = &wrapsStd{"ring: unsupported here", errors.ErrUnsupported}
	// ErrSubscribers: Subscribe found every subscriber entry of the
	// broadcast ring (Config.Subscribers) held by a live subscriber.
	ErrSubscribers = errors.New("ring: too many subscribers")
	// ErrLapped: a lossy broadcast subscriber was overtaken by the
	// producer: messages it had not read were overwritten. The error
	// returned is a *LappedError, which says how many; the subscriber
	// continues from the oldest message still in the ring.
	ErrLapped = errors.New("ring: subscriber lapped")
	// ErrFenced: this handle's claim on the ring was taken from it, and
	// what it tried to publish or hand back was not: an SPSC producer or
	// consumer handle that another handle took over from (its later
	// operations on that side all return ErrFenced, and its Close does
	// not end the stream), or an MPMC reservation or peeked message that
	// a repair passed over because this handle held it past another
	// handle's claim timeout (WithClaimTimeout) or was taken for dead
	// (the reserved slot became a skip record: the message is not
	// published; the peeked message was handed to another consumer). The
	// fenced call's publish or release CAS did not land, but an SPSC
	// producer's message may still have been adopted by its successor, so
	// for a producer call the outcome is unknown (docs/ring.md, Takeover
	// and fencing). MPMC pushes and pops that are fenced claim again
	// instead.
	ErrFenced = errors.New("ring: fenced: another handle took over this claim")
	// ErrReadOnly: Create, Open or Subscribe was given an arena opened
	// with arena.ReadOnly, through which a handle cannot claim its peer
	// entry; read such an arena's rings with OpenView or Inspect. It also
	// matches arena.ErrReadOnly.
	ErrReadOnly = fmt.Errorf("ring: a handle needs a writable arena: %w", arena.ErrReadOnly)
)

// The errors of a handle that no longer touches its ring (closed.go),
// returned bare by every operation.
var (
	errHandleClosed error = &matches{"ring: handle closed", []error{ErrClosed}}
	errArenaClosed  error = &matches{"ring: arena closed", []error{ErrClosed, arena.ErrClosed}}
	// errTruncated: the arena file was found shorter than the mapping
	// (arena.CheckSize, run by Recover): the ring's memory may be gone.
	errTruncated error = &matches{"ring: arena file truncated under the mapping", []error{ErrCorrupt, arena.ErrTruncated}}
)

// The errors of a broadcast handle asked for the other side's operation
// (through kindOps only: the types have no such methods).
var (
	errNotSubscriber error = &matches{"ring: a broadcast producer handle does not consume", []error{ErrInvalid}}
	errNotProducer   error = &matches{"ring: a broadcast subscriber does not produce", []error{ErrInvalid}}
)

// matches is an error with its own text that matches each of a list of
// others (and whatever they match) under errors.Is.
type matches struct {
	msg string
	is  []error
}

func (e *matches) Error() string { return e.msg }
func (e *matches) Is(target error) bool {
	for _, m := range e.is {
		if errors.Is(m, target) {
			return true
		}
	}
	return false
}

// wrapsStd is a sentinel with its own text that also matches a standard
// library sentinel under errors.Is.
type wrapsStd struct {
	msg string
	std error
}

func (e *wrapsStd) Error() string        { return e.msg }
func (e *wrapsStd) Is(target error) bool { return target == e.std }

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// LappedError is the error a lapped lossy subscriber gets (errors.Is
// ErrLapped): Missed messages it had not read were overwritten by the
// producer and are lost to it. Missed is exact: over a subscriber's life,
// the messages it was delivered plus every Missed add up to the messages
// pushed from its first position on.
type LappedError struct {
	Missed uint64
}

func (e *LappedError) Error() string {
	return fmt.Sprintf("ring: subscriber lapped (%d missed)", e.Missed)
}

// Is makes errors.Is(err, ErrLapped) true.
func (e *LappedError) Is(target error) bool { return target == ErrLapped }

// PassedError is View.ReadRecord's answer for a record the consumer took
// before the reader read it: its bytes may already hold another record,
// so it is lost to the reader, which resumes at Consumer (the consumer
// position it found). Pos is the position asked for.
type PassedError struct {
	Pos, Consumer uint64
	// Bytes is how far the consumer is past Pos (modulo the ring's
	// position modulus): the bytes of records lost to the reader.
	Bytes uint64
}

func (e *PassedError) Error() string {
	return fmt.Sprintf("ring: record at %d passed by the consumer (now at %d)", e.Pos, e.Consumer)
}
