package bridge

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/arena"
)

// Counters are a bridge's counts, cumulative over the life of its state
// file (or of the process, without one). Out fills the first group, In
// the second.
type Counters struct {
	// Out: Published counts messages read from the ring and handed to
	// NATS (each once); Acked those JetStream acknowledged (core NATS:
	// those a Flush confirmed the server received); Retried the publishes
	// repeated after a failed or timed-out ack (or a full reconnect
	// buffer); InFlight the messages published and not yet acked (held in
	// the spool, still recoverable).
	Published, Acked, Retried, InFlight uint64
	// In: Received counts messages taken from NATS (duplicates
	// included); Pushed those pushed into the ring; Duplicates those
	// dropped as seen before (by producer and sequence); Gaps the
	// sequence numbers skipped and not seen since (a late arrival takes
	// one back); Redelivered the JetStream deliveries after the first;
	// Foreign the messages without identity headers, pushed as they are.
	Received, Pushed, Duplicates, Gaps, Redelivered, Foreign uint64
	// Blocked is the time spent waiting: In for room in a full ring, Out
	// for acks with its window full.
	Blocked time.Duration
	// Updated is when a counter last moved.
	Updated time.Time
}

func (c Counters) String() string {
	return fmt.Sprintf("published=%d acked=%d retried=%d inflight=%d received=%d pushed=%d duplicates=%d gaps=%d redelivered=%d foreign=%d blocked=%v",
		c.Published, c.Acked, c.Retried, c.InFlight, c.Received, c.Pushed, c.Duplicates, c.Gaps, c.Redelivered, c.Foreign, c.Blocked.Round(time.Millisecond))
}

func (sc *stateCounters) snapshot() Counters {
	// Atomic loads: the bridge updates these words while we read them.
	c := Counters{
		Published:   atomic.LoadUint64(&sc.Published),
		Acked:       atomic.LoadUint64(&sc.Acked),
		Retried:     atomic.LoadUint64(&sc.Retried),
		InFlight:    atomic.LoadUint64(&sc.InFlight),
		Received:    atomic.LoadUint64(&sc.Received),
		Pushed:      atomic.LoadUint64(&sc.Pushed),
		Duplicates:  atomic.LoadUint64(&sc.Duplicates),
		Gaps:        atomic.LoadUint64(&sc.Gaps),
		Redelivered: atomic.LoadUint64(&sc.Redelivered),
		Foreign:     atomic.LoadUint64(&sc.Foreign),
		Blocked:     time.Duration(atomic.LoadUint64(&sc.Blocked)),
	}
	if u := atomic.LoadInt64(&sc.Updated); u != 0 {
		c.Updated = time.Unix(0, u)
	}
	return c
}

// add adds n to a counter word and stamps Updated.
func (sc *stateCounters) add(w *uint64, n uint64) {
	atomic.AddUint64(w, n) // whole word for monitors; no ordering needed
	atomic.StoreInt64(&sc.Updated, time.Now().UnixNano())
}

// StateInfo is what a state file says about its bridge, for monitors
// (shmring stat).
type StateInfo struct {
	Role     string // "out" or "in"
	Producer string // Out: the producer id on the wire
	Subject  string
	PID      int // the bridge process that last opened it
	Created  time.Time
	// Head and Tail are the Out spool's positions (seqs): Tail-Head
	// messages are held until JetStream acks them.
	Head, Tail uint64
	Counters   Counters
}

// ReadState reads the counters of the bridge state region r of an arena
// (opened read-only is enough); it fails with ErrState if r is not one.
func ReadState(r *arena.Region) (StateInfo, error) {
	b := r.Bytes()
	if r.Kind() != KindState || len(b) < stateHeaderSize {
		return StateInfo{}, fmt.Errorf("%w: region %q is not a bridge state", ErrState, r.Name())
	}
	h := (*stateHeader)(unsafeAt(b))
	if atomic.LoadUint32(&h.Magic) != stateMagic || atomic.LoadUint32(&h.Version) != stateVersion {
		return StateInfo{}, fmt.Errorf("%w: region %q: magic or version", ErrState, r.Name())
	}
	var role string
	switch atomic.LoadUint32(&h.Role) {
	case roleOut:
		role = "out"
	case roleIn:
		role = "in"
	default:
		return StateInfo{}, fmt.Errorf("%w: region %q: role %d", ErrState, r.Name(), h.Role)
	}
	// The text fields are written once, at initialisation; copy them out
	// (a torn read shows as garbage text, never as a fault).
	var prod [64]byte
	var subj [128]byte
	copy(prod[:], h.Producer[:])
	copy(subj[:], h.Subject[:])
	return StateInfo{
		Role:     role,
		Producer: cstring(prod[:]),
		Subject:  cstring(subj[:]),
		PID:      int(atomic.LoadUint64(&h.PID)),
		Created:  time.Unix(0, atomic.LoadInt64(&h.Created)),
		Head:     atomic.LoadUint64(&h.Head),
		Tail:     atomic.LoadUint64(&h.Tail),
		Counters: h.Counters.snapshot(),
	}, nil
}
