package bench

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestTransportNames checks the peer finds every mechanism's transport, of
// the same type, by the name in its spec.
func TestTransportNames(t *testing.T) {
	for _, m := range mechanisms() {
		got, err := transportNamed(m.transport.name())
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if reflect.TypeOf(got) != reflect.TypeOf(m.transport) {
			t.Errorf("%s: name %q finds a %T, want a %T", m.name, m.transport.name(), got, m.transport)
		}
	}
	if _, err := transportNamed("nonesuch"); err == nil {
		t.Error("an unknown transport name was found")
	}
}

// TestTransportHalves joins both halves of every transport inside the test
// process (the peer's spec passed through JSON, its files handed over
// directly; one peer half per peer process the mechanism has) and sends
// one message each way: every peer half receives the parent's, and the
// parent receives the peers' answer once.
func TestTransportHalves(t *testing.T) {
	e := &engine{cfg: Config{Dir: t.TempDir()}}
	const size = 64
	for _, m := range mechanisms() {
		t.Run(m.name, func(t *testing.T) {
			if m.needsC() {
				t.Skip("the peer half is the C program: TestCPeerRows runs it")
			}
			parent, peers := openHalves(t, e, m, size)
			exchange(t, parent, peers, 42, size) // every peer receives it
			fanIn(t, peers, parent, 43, size)    // every peer answers; the parent receives once
		})
	}
}

// openHalves opens m's transport for messages of size bytes and attaches
// its peer halves in this process, closed when the test ends.
func openHalves(t *testing.T, e *engine, m mechanism, size int) (parent conn, peers []conn) {
	t.Helper()
	spec := peerSpec{Transport: m.transport.name(), Mode: modeEcho, Size: size, Peers: m.peerCount(),
		Deadline: time.Now().Add(10 * time.Second).UnixNano()}
	ep, err := m.transport.open(e, &spec)
	if err != nil {
		t.Fatal(err)
	}
	if ep.cleanup != nil {
		defer ep.cleanup()
	}
	if ep.local != nil {
		peers = []conn{ep.local}
	} else {
		js, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < m.peerCount(); i++ {
			var got peerSpec
			if err := json.Unmarshal(js, &got); err != nil {
				t.Fatal(err)
			}
			got.Index = i
			tr, err := transportNamed(got.Transport)
			if err != nil {
				t.Fatal(err)
			}
			peer, err := tr.attach(got, ep.files)
			if err != nil {
				t.Fatal(err)
			}
			peers = append(peers, peer)
		}
	}
	for _, p := range peers {
		t.Cleanup(func() { p.close() })
	}
	parent = ep.conn
	if ep.accept != nil {
		select {
		case c, ok := <-ep.accept:
			if !ok {
				t.Fatal("accept failed")
			}
			parent = c
		case <-time.After(10 * time.Second):
			t.Fatal("the peer half did not connect")
		}
	}
	t.Cleanup(func() { parent.close() })
	return parent, peers
}

// exchange sends one message tagged v from a and checks each of bs
// receives it.
func exchange(t *testing.T, a conn, bs []conn, v uint64, size int) {
	t.Helper()
	msg, buf := make([]byte, size), make([]byte, size)
	msg[0] = opAck
	putCount(msg, v)
	if err := a.send(msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	for i, b := range bs {
		if err := b.recv(buf); err != nil {
			t.Fatalf("recv %d: %v", i, err)
		}
		if buf[0] != opAck || getCount(buf) != v {
			t.Fatalf("receiver %d got op %d payload %d, want op %d payload %d", i, buf[0], getCount(buf), opAck, v)
		}
	}
}

// fanIn has each of as send one message tagged v and checks b receives
// it (once: a broadcast producer's recv takes one answer from every
// subscriber).
func fanIn(t *testing.T, as []conn, b conn, v uint64, size int) {
	t.Helper()
	msg, buf := make([]byte, size), make([]byte, size)
	msg[0] = opAck
	putCount(msg, v)
	for i, a := range as {
		if err := a.send(msg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := b.recv(buf); err != nil {
		t.Fatalf("recv: %v", err)
	}
	if buf[0] != opAck || getCount(buf) != v {
		t.Fatalf("received op %d payload %d, want op %d payload %d", buf[0], getCount(buf), opAck, v)
	}
}
