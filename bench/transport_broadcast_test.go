package bench

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shmring/shmring/ring"
)

// twoSubscribers is a broadcast mechanism with two subscriber halves, for
// the tests below.
var twoSubscribers = mechanism{name: "broadcast-test", transport: broadcastTransport{wait: ring.WaitSpin}, peers: 2}

// TestBroadcastTransportStream pushes more messages than the ring holds
// while both subscriber halves read them: each must get every message, in
// order (the tethered subscribers hold the producer back), and the
// parent's one receive takes both answers.
func TestBroadcastTransportStream(t *testing.T) {
	e := &engine{cfg: Config{Dir: t.TempDir()}}
	const size, n = 64, 200 // the echo ring has 16 slots
	parent, peers := openHalves(t, e, twoSubscribers, size)
	errs := make(chan error, len(peers))
	for i, p := range peers {
		go func() {
			buf := make([]byte, size)
			for v := uint64(0); v < n; v++ {
				if err := p.recv(buf); err != nil {
					errs <- err
					return
				}
				if got := getCount(buf); got != v {
					errs <- fmt.Errorf("subscriber %d got message %d, want %d", i, got, v)
					return
				}
			}
			errs <- p.send(buf) // answers with the last message
		}()
	}
	msg := make([]byte, size)
	msg[0] = opData
	for v := uint64(0); v < n; v++ {
		putCount(msg, v)
		if err := parent.send(msg); err != nil {
			t.Fatalf("send %d: %v", v, err)
		}
	}
	for range peers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, size)
	if err := parent.recv(buf); err != nil || getCount(buf) != n-1 {
		t.Fatalf("answer: %v, payload %d, want %d", err, getCount(buf), n-1)
	}
}

// TestBroadcastTransportDiverged checks that subscribers answering
// differently are an error, for recv and for discard, not a message.
func TestBroadcastTransportDiverged(t *testing.T) {
	e := &engine{cfg: Config{Dir: t.TempDir()}}
	const size = 64
	parent, peers := openHalves(t, e, twoSubscribers, size)
	buf := make([]byte, size)
	answer := func(ops ...uint64) {
		t.Helper()
		for i, p := range peers {
			buf[0] = opAck
			putCount(buf, ops[i])
			if err := p.send(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	answer(1, 2)
	if err := parent.recv(buf); !errors.Is(err, errDiverged) {
		t.Errorf("recv of two different answers: %v, want errDiverged", err)
	}
	answer(3, 4)
	if _, _, err := parent.(discarder).discard(size); !errors.Is(err, errDiverged) {
		t.Errorf("discard of two different acks: %v, want errDiverged", err)
	}
	answer(5, 5)
	if op, n, err := parent.(discarder).discard(size); err != nil || op != opAck || n != 5 {
		t.Errorf("discard of two equal acks: op %d payload %d, %v; want op %d payload 5", op, n, err, opAck)
	}
}

// TestBroadcastTransportWatch checks the parent gives up on a subscriber
// only once that subscriber's process has exited: one that exits after
// answering does not cut short the wait for the other's answer, and once
// both have exited a receive returns at once.
func TestBroadcastTransportWatch(t *testing.T) {
	e := &engine{cfg: Config{Dir: t.TempDir()}}
	const size = 64
	parent, peers := openHalves(t, e, twoSubscribers, size)
	exited := []chan struct{}{make(chan struct{}), make(chan struct{})}
	parent.(interface{ watch([]<-chan struct{}) }).watch([]<-chan struct{}{exited[0], exited[1]})

	buf := make([]byte, size)
	buf[0] = opAck
	putCount(buf, 7)
	if err := peers[0].send(buf); err != nil {
		t.Fatal(err)
	}
	close(exited[0]) // subscriber 0 answered and exited
	sent := make(chan error, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		sent <- peers[1].send(buf)
	}()
	got := make([]byte, size)
	if err := parent.recv(got); err != nil || getCount(got) != 7 {
		t.Fatalf("answer after subscriber 0 exited: %v, payload %d", err, getCount(got))
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}

	close(exited[1])
	start := time.Now()
	if err := parent.recv(got); !errors.Is(err, context.Canceled) {
		t.Errorf("recv with every subscriber gone: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("recv with every subscriber gone took %v", d)
	}
}
