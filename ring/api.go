package ring

// The API types every ring kind shares.

import (
	"context"
	"fmt"

	"github.com/shmring/shmring/arena"
)

// Ring is the method set SPSC and MPMC share, for code that works with
// either (benchmarks, tools, tests).
type Ring interface {
	TryPush(msg []byte) error
	TryPop(dst []byte) (int, error)
	Push(ctx context.Context, msg []byte) error
	Pop(ctx context.Context, dst []byte) (int, error)

	TryPushBatch(msgs [][]byte) (int, error)
	TryPopBatch(bufs [][]byte) (int, error)
	PushBatch(ctx context.Context, msgs [][]byte) (int, error)
	PopBatch(ctx context.Context, bufs [][]byte) (int, error)

	TryReserve(n int) (Reservation, error)
	Reserve(ctx context.Context, n int) (Reservation, error)
	Commit(res Reservation, n int) error
	TryPeek() (Message, error)
	Peek(ctx context.Context) (Message, error)
	Release(m Message) error
	// Discard drops up to n of the messages a consumer would take next,
	// without copying them (n < 0: every message in the ring at the
	// call), and returns how many it dropped: a restarted consumer skips
	// what it no longer wants. It never blocks.
	Discard(n int) (int, error)

	// Close releases the handle; an SPSC producer's Close also ends the
	// stream. CloseWrite ends the stream for everyone without releasing
	// the handle; Detach releases the handle without ending the stream.
	Close() error
	CloseWrite() error
	Detach() error
	IsClosed() bool

	Peers() []Peer
	WaitPeers(ctx context.Context, role Role, n int) error
	Recover() Recovery

	Len() int
	Slots() int
	SlotSize() int
	Stats() Stats
	SetWaitStrategy(w WaitStrategy)
	WaitStrategy() WaitStrategy
	Region() *arena.Region
}

var (
	_ Ring = (*SPSC)(nil)
	_ Ring = (*MPMC)(nil)
)

// Reservation is a slot reserved for zero-copy writing. Write the message
// into Buf (len as asked, cap SlotSize) and Commit it.
type Reservation struct {
	Buf  []byte
	pos  uint64
	span uint64 // a record ring's: the bytes the record takes
	ring *core  // the handle that made it; Commit refuses another's
}

// Message is a committed message viewed in place. Data aliases the slot
// and is valid until Release.
type Message struct {
	Data []byte
	pos  uint64
	end  uint64 // a record ring's: the position after the record
	ring *core  // the handle that peeked it; Release refuses another's
}

// Stats are a ring's counters, read from shared memory by any process.
type Stats struct {
	// MsgsIn and MsgsOut are exact: they are the producer and consumer
	// positions. For a broadcast ring MsgsIn is the producer position and
	// MsgsOut the sum of the subscriber entries' delivered counts, which
	// restart at a new subscriber's join.
	MsgsIn, MsgsOut uint64
	// Len is the number of messages committed or claimed and not yet
	// consumed.
	Len uint64
	// The rest are summed over the peer table. Every operation publishes
	// its counts into its handle's entry before it returns (single-threaded
	// sides with plain stores of their own words, MPMC handles with locked
	// adds), so they do not lag: a monitor sees each message once the call
	// that moved it has returned. A full or empty event is counted once
	// per message refused (a batch counts every message it left out) and
	// once per blocking call that had to wait.
	BytesIn, BytesOut       uint64
	FullEvents, EmptyEvents uint64
	Sleeps, Wakes           uint64
	// Peers is the number of live attached handles; DeadPeers the entries
	// still held by handles whose process died (or, for a ring in an
	// arena, whose arena handle was closed) without releasing them, until
	// a new handle reclaims them. Peers lists them. Telling live from dead
	// costs one system call per occupied entry (an fcntl lock test, or
	// without locks a kill and a /proc read): the rest of Stats only reads
	// memory.
	Peers, DeadPeers int
	Closed           bool
	// Skipped counts MPMC slots that a producer claimed but never
	// committed (it died, or held the claim past a claim timeout) and that
	// were turned into skip records, which consumers pass over: the
	// messages lost by killed producers. Redelivered counts MPMC messages
	// that a consumer claimed and never released (it died, or held them
	// past a claim timeout) and that were handed to another consumer.
	// Both are ring-wide and exact; MsgsIn and MsgsOut count skipped and
	// redelivered positions too. On a broadcast ring Skipped counts the
	// holes takeovers published: positions a dead (or paused) producer had
	// marked and not completed, which subscribers pass. It is an upper
	// bound, not exact: a takeover counts its holes just before it
	// publishes them, so one killed in between counts them, and its
	// successor again.
	Skipped, Redelivered uint64
	// NotEmptyWaiters and NotFullWaiters are the futex registrations of
	// sleeping consumers and producers. Non-zero on an idle ring whose
	// handles are all awake, they are registrations leaked by a handle
	// killed asleep that Recover could not repair: each one costs every
	// publish (or release) a FUTEX_WAKE system call.
	NotEmptyWaiters, NotFullWaiters uint32
}

// WaitStrategy says how a blocking operation waits when the ring is full
// (Push) or empty (Pop). It is a property of one handle, not of the ring:
// a busy-spinning consumer and a sleeping producer can share a ring.
type WaitStrategy int

const (
	// WaitAdaptive spins with the CPU's pause instruction for a few
	// microseconds, then yields the processor for a while, then sleeps in
	// a futex until the other side signals. The default: microsecond
	// hand-offs while traffic flows, no CPU while idle.
	WaitAdaptive WaitStrategy = iota
	// WaitSpin busy-spins with the pause instruction and never sleeps:
	// lowest latency, one core burnt per waiter.
	WaitSpin
	// WaitYield calls runtime.Gosched between checks.
	WaitYield
	// WaitBlock sleeps in the futex at once.
	WaitBlock
)

func (w WaitStrategy) String() string {
	switch w {
	case WaitAdaptive:
		return "adaptive"
	case WaitSpin:
		return "spin"
	case WaitYield:
		return "yield"
	case WaitBlock:
		return "block"
	}
	return fmt.Sprintf("WaitStrategy(%d)", int(w))
}

// ParseWaitStrategy parses the names String returns.
func ParseWaitStrategy(s string) (WaitStrategy, error) {
	for _, w := range []WaitStrategy{WaitAdaptive, WaitSpin, WaitYield, WaitBlock} {
		if w.String() == s {
			return w, nil
		}
	}
	return 0, fmt.Errorf("%w: wait strategy %q (want adaptive, spin, yield or block)", ErrInvalid, s)
}
