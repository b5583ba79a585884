package bridge

import "errors"

// Sentinel errors; every error the package returns about its input or its
// state file wraps one of these (test with errors.Is). Errors of the ring
// and of nats.go are returned wrapped, so errors.Is finds theirs too.
var (
	// ErrInvalid: a configuration value is invalid in itself.
	ErrInvalid = errors.New("bridge: invalid configuration")
	// ErrState: the state file is not a bridge state of this kind, or a
	// value in it is impossible (a hostile or damaged file is refused,
	// never trusted).
	ErrState = errors.New("bridge: bad state")
	// ErrStateMismatch: the state file was made for another geometry
	// (window, slot size, producer) and still holds messages in flight,
	// so it cannot be reused for this one.
	ErrStateMismatch = errors.New("bridge: state made for another configuration")
	// ErrStateBusy: another bridge process holds the state file.
	ErrStateBusy = errors.New("bridge: state in use by another bridge")
	// ErrTooManyProducers: the receiving side's table of producer
	// identities is full.
	ErrTooManyProducers = errors.New("bridge: too many producers")
	// ErrTooLarge: a NATS message is longer than the target ring's slot
	// size (it cannot be pushed, and is not acked).
	ErrTooLarge = errors.New("bridge: message larger than the ring's slot size")
)

// ErrDrain: the end of a run found messages still unacked after the
// drain timeout (they stay in the state file for the next run).
var ErrDrain = errors.New("bridge: drain incomplete")
