package bench

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// lively lets a test reach a floor conn's liveness.
func (l *liveness) lively() *liveness { return l }

func mechanismNamed(t *testing.T, name string) mechanism {
	t.Helper()
	for _, m := range mechanisms() {
		if m.name == name {
			return m
		}
	}
	t.Fatalf("no mechanism %q", name)
	return mechanism{}
}

// TestStreamFloorInOrder streams many times the ring's slots through the
// stream floor, from a goroutine to the test, in place (discard) and
// copied out (recv): every message arrives once, in order, across
// wrap-around, the producer's batched publishes (a partial batch is
// published by the control message that ends the stream) and waits for
// room.
func TestStreamFloorInOrder(t *testing.T) {
	e := &engine{cfg: Config{Dir: t.TempDir()}}
	const size = 64
	parent, peers := openHalves(t, e, mechanismNamed(t, nameStreamFloor), size)
	slots := parent.(*streamFloorConn).tx.n
	n := 7*slots + streamPublishEvery/2 + 3 // not a whole number of batches
	done := make(chan error, 1)
	go func() {
		msg := make([]byte, size)
		msg[0] = opData
		for i := uint64(0); i < n; i++ {
			putCount(msg, i)
			if err := parent.send(msg); err != nil {
				done <- err
				return
			}
		}
		msg[0] = opStop
		done <- parent.send(msg)
	}()
	peer := peers[0].(*streamFloorConn)
	buf := make([]byte, size)
	for i := uint64(0); ; i++ {
		var op byte
		var got uint64
		if i%2 == 0 {
			m, err := peer.next()
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			op, got = m[0], getCount(m)
		} else {
			if err := peer.recv(buf); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			op, got = buf[0], getCount(buf)
		}
		if op == opStop {
			if i != n {
				t.Fatalf("stop after %d messages, want %d", i, n)
			}
			break
		}
		if op != opData || got != i {
			t.Fatalf("message %d: op %d count %d", i, op, got)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Running dry ends a drain: the consumer publishes its head, every
	// message, before it waits (here, past its deadline, in vain).
	peer.deadline = time.Now().Add(-time.Second)
	if _, err := peer.next(); !errors.Is(err, errDeadline) {
		t.Fatalf("next on an empty ring: %v, want errDeadline", err)
	}
	if h := atomic.LoadUint64(&peer.rx.idx.head); h != n+1 {
		t.Errorf("published head %d, want %d", h, n+1)
	}
}

// TestStreamFloorHostileIndex has the peer write indices no correct peer
// writes: each side reports errFloorIndex instead of reading or writing
// out of bounds.
func TestStreamFloorHostileIndex(t *testing.T) {
	e := &engine{cfg: Config{Dir: t.TempDir()}}
	const size = 64
	parent, peers := openHalves(t, e, mechanismNamed(t, nameStreamFloor), size)
	p, c := parent.(*streamFloorConn), peers[0].(*streamFloorConn)
	c.deadline = time.Now().Add(5 * time.Second)
	p.deadline = c.deadline

	// A tail more than a ring ahead of the consumer's head.
	atomic.StoreUint64(&p.tx.idx.tail, p.tx.n+1)
	if _, err := c.next(); !errors.Is(err, errFloorIndex) {
		t.Errorf("consumer on a tail past the ring: %v, want errFloorIndex", err)
	}
	atomic.StoreUint64(&p.tx.idx.tail, 0)

	// A head ahead of the producer's tail, seen when the ring is full.
	msg := make([]byte, size)
	msg[0] = opData
	for i := uint64(0); i < p.tx.n; i++ {
		if err := p.send(msg); err != nil {
			t.Fatal(err)
		}
	}
	atomic.StoreUint64(&p.tx.idx.head, p.tx.pos+1)
	if err := p.send(msg); !errors.Is(err, errFloorIndex) {
		t.Errorf("producer on a head past its tail: %v, want errFloorIndex", err)
	}
}

// TestFloorConnsGiveUp checks that the futex and stream floor conns stop
// waiting for a peer that never answers: at the deadline, or when the
// peer process has exited (a closed exit channel), and that a wrong
// message size is refused.
func TestFloorConnsGiveUp(t *testing.T) {
	e := &engine{cfg: Config{Dir: t.TempDir()}}
	const size = 64
	exited := make(chan struct{})
	close(exited)
	for _, name := range []string{nameFutex, nameStreamFloor} {
		t.Run(name, func(t *testing.T) {
			parent, _ := openHalves(t, e, mechanismNamed(t, name), size)
			l := parent.(interface{ lively() *liveness }).lively()
			buf := make([]byte, size)

			l.deadline = time.Now().Add(-time.Second)
			start := time.Now()
			if err := parent.recv(buf); !errors.Is(err, errDeadline) {
				t.Errorf("past the deadline: %v, want errDeadline", err)
			}
			l.deadline = time.Now().Add(time.Minute)
			l.watch([]<-chan struct{}{exited})
			if err := parent.recv(buf); !errors.Is(err, errPeerExited) {
				t.Errorf("peer exited: %v, want errPeerExited", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("giving up took %v", d)
			}
			if err := parent.send(make([]byte, 4)); !errors.Is(err, errShort) {
				t.Errorf("4-byte send: %v, want errShort", err)
			}
		})
	}
}
