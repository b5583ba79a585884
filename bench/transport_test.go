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
// directly) and sends one message each way.
func TestTransportHalves(t *testing.T) {
	e := &engine{cfg: Config{Dir: t.TempDir()}}
	const size = 64
	for _, m := range mechanisms() {
		t.Run(m.name, func(t *testing.T) {
			spec := peerSpec{Transport: m.transport.name(), Mode: modeEcho, Size: size,
				Deadline: time.Now().Add(10 * time.Second).UnixNano()}
			ep, err := m.transport.open(e, &spec)
			if err != nil {
				t.Fatal(err)
			}
			if ep.cleanup != nil {
				defer ep.cleanup()
			}
			peer := ep.local
			if peer == nil {
				js, err := json.Marshal(spec)
				if err != nil {
					t.Fatal(err)
				}
				var got peerSpec
				if err := json.Unmarshal(js, &got); err != nil {
					t.Fatal(err)
				}
				tr, err := transportNamed(got.Transport)
				if err != nil {
					t.Fatal(err)
				}
				if peer, err = tr.attach(got, ep.files); err != nil {
					t.Fatal(err)
				}
			}
			defer peer.close()
			parent := ep.conn
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
			defer parent.close()
			exchange(t, parent, peer, 42, size)
			exchange(t, peer, parent, 43, size)
		})
	}
}

// exchange sends one message tagged v from a to b and checks it arrives.
func exchange(t *testing.T, a, b conn, v uint64, size int) {
	t.Helper()
	msg, buf := make([]byte, size), make([]byte, size)
	msg[0] = opAck
	putCount(msg, v)
	if err := a.send(msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := b.recv(buf); err != nil {
		t.Fatalf("recv: %v", err)
	}
	if buf[0] != opAck || getCount(buf) != v {
		t.Fatalf("received op %d payload %d, want op %d payload %d", buf[0], getCount(buf), opAck, v)
	}
}
