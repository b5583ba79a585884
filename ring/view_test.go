package ring

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

// viewArena makes an arena with one ring of each kind, moves a few
// messages through each, and returns the writable arena handle and the
// handles (still open).
func viewArena(t *testing.T) (string, *arena.Arena, map[string]Ring) {
	p, a, rings, _, _ := viewArenaBcast(t)
	return p, a, rings
}

// viewArenaBcast is viewArena that also returns the broadcast ring's
// producer and subscriber handles.
func viewArenaBcast(t *testing.T) (string, *arena.Arena, map[string]Ring, *Broadcast, *Subscriber) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "view")
	a, err := arena.Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	rings := map[string]Ring{}
	for _, k := range []struct {
		name string
		kind arena.Kind
	}{{"s", KindSPSC}, {"m", KindMPMC}} {
		r, err := Create(a, k.name, k.kind, Config{Slots: 8, SlotSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		for i := 0; i < 5; i++ {
			if err := r.TryPush([]byte(fmt.Sprintf("%s-%d", k.name, i))); err != nil {
				t.Fatal(err)
			}
		}
		var buf [64]byte
		if _, err := r.TryPop(buf[:]); err != nil {
			t.Fatal(err)
		}
		rings[k.name] = r
	}
	b, err := CreateBroadcast(a, "b", Config{Slots: 8, SlotSize: 64, Subscribers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s, err := Subscribe(a, "b", SubscribeOptions{From: Oldest})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := 0; i < 11; i++ {
		if err := b.TryPush([]byte(fmt.Sprintf("b-%d", i))); err != nil && !errors.Is(err, ErrFull) {
			t.Fatal(err)
		}
	}
	var buf [64]byte
	for i := 0; i < 3; i++ {
		if _, err := s.TryPop(buf[:]); err != nil {
			t.Fatal(err)
		}
	}
	return p, a, rings, b, s
}

// TestViewReadOnly: every View method runs through an arena mapped
// PROT_READ (a store would kill the test with a fault), agrees with the
// handles' own view, and a healthy ring has no Check problems.
func TestViewReadOnly(t *testing.T) {
	p, w, rings := viewArena(t)
	ro, err := arena.Open(p, arena.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := Open(ro, "s"); !errors.Is(err, ErrReadOnly) || !errors.Is(err, arena.ErrReadOnly) {
		t.Fatalf("Open on a read-only arena: %v, want ErrReadOnly", err)
	}
	if _, err := Subscribe(ro, "b", SubscribeOptions{Lossy: true}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Subscribe on a read-only arena: %v, want ErrReadOnly", err)
	}
	if _, err := Create(ro, "new", KindSPSC, Config{Slots: 8, SlotSize: 8}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Create on a read-only arena: %v, want ErrReadOnly", err)
	}
	for _, tc := range []struct {
		name, kind string
		in, out    uint64
	}{{"s", "spsc", 5, 1}, {"m", "mpmc", 5, 1}, {"b", "broadcast", 8, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := OpenView(ro, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			if v.KindName() != tc.kind || v.Config().Slots != 8 || v.Config().SlotSize != 64 {
				t.Fatalf("kind %s config %+v", v.KindName(), v.Config())
			}
			st := v.Stats()
			if st.MsgsIn != tc.in {
				t.Errorf("MsgsIn %d, want %d", st.MsgsIn, tc.in)
			}
			if tc.name != "b" && st.MsgsOut != tc.out {
				t.Errorf("MsgsOut %d, want %d", st.MsgsOut, tc.out)
			}
			if st.Peers < 1 {
				t.Errorf("Peers %d: the live handles not seen through a read-only arena", st.Peers)
			}
			if got, err := Inspect(ro, tc.name); err != nil || got.MsgsIn != st.MsgsIn {
				t.Errorf("Inspect = %+v, %v", got, err)
			}
			pos := v.Positions()
			if pos.Producer != tc.in || pos.Closed {
				t.Errorf("Positions %+v", pos)
			}
			if ps := v.Peers(); len(ps) == 0 || !ps[0].Alive {
				t.Errorf("Peers %+v", ps)
			}
			if tc.name == "b" {
				subs := v.Subscribers()
				if len(subs) != 1 || subs[0].Cursor != 3 || subs[0].Lag != 5 || !subs[0].Alive {
					t.Errorf("Subscribers %+v", subs)
				}
			}
			fields := v.Header()
			if len(fields) < 20 || fields[0].Name != "Magic" || !strings.Contains(fields[0].Text, "SHMRRING") {
				t.Fatalf("Header %+v", fields)
			}
			for _, f := range fields {
				if f.Name == "Slots" && (f.Offset != 16 || f.Value != 8) {
					t.Errorf("Slots field %+v", f)
				}
			}
			sl := v.Slots(pos.Producer-1, 2)
			if len(sl) != 2 || sl[0].Len == 0 || sl[0].Pos != pos.Producer-1 {
				t.Errorf("Slots %+v", sl)
			}
			var buf [64]byte
			n := v.Payload(pos.Producer-1, buf[:])
			if want := fmt.Sprintf("%s-%d", tc.name, map[string]int{"s": 4, "m": 4, "b": 7}[tc.name]); string(buf[:n]) != want {
				t.Errorf("Payload %q, want %q", buf[:n], want)
			}
			if probs := v.Check(); len(probs) != 0 {
				t.Errorf("healthy ring: Check found %v", probs)
			}
		})
	}
	_ = rings
	// After the read-only arena's Close a view returns zero values.
	v, err := OpenView(ro, "s")
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()
	if st := v.Stats(); st.MsgsIn != 0 || v.Check() != nil || v.Header() != nil {
		t.Errorf("after the arena's Close: %+v", st)
	}
	v.Close()
	_ = w
}

// TestViewCheckFindsDamage plants each kind of damage Check looks for and
// expects it named with the right field.
func TestViewCheckFindsDamage(t *testing.T) {
	for _, tc := range []struct {
		name, ring, field string
		plant             func(c *core)
	}{
		{"consumer ahead", "s", "cons.Pos", func(c *core) { atomic.AddUint64(&c.cons.Pos, 100) }},
		{"producer too far ahead", "m", "prod.Pos", func(c *core) { atomic.AddUint64(&c.prod.Pos, 100) }},
		{"spsc slot seq", "s", "slot[3].Seq", func(c *core) {
			atomic.StoreUint32(&(*spscSlot)(unsafe.Pointer(&c.mem[c.g.slotsOff+3*c.g.stride])).Seq, 77)
		}},
		{"mpmc slot seq", "m", "slot[2].Seq", func(c *core) {
			atomic.StoreUint64(&(*mpmcSlot)(unsafe.Pointer(&c.mem[c.g.slotsOff+2*c.g.stride])).Seq, 999)
		}},
		{"bcast slot seq", "b", "slot[5].Seq", func(c *core) {
			atomic.StoreUint64(&(*bcastSlot)(unsafe.Pointer(&c.mem[c.g.slotsOff+5*c.g.stride])).Seq, 3)
		}},
		{"slot length", "m", "slot[1].Len", func(c *core) {
			atomic.StoreUint32(&(*mpmcSlot)(unsafe.Pointer(&c.mem[c.g.slotsOff+1*c.g.stride])).Len, 1<<20)
		}},
		{"closed mirror", "s", "Closed", func(c *core) { atomic.StoreUint32(&c.hdr.Closed, 1) }},
		{"reserved", "m", "header.reserved", func(c *core) { atomic.StoreUint32((*uint32)(unsafe.Pointer(&c.mem[200])), 5) }},
		{"roles", "s", "peer[1].Roles", func(c *core) { atomic.StoreUint32(&c.peerAt(1).Roles, 1<<9) }},
		{"subscriber roles", "b", ".Roles", func(c *core) {
			for i := c.g.subBase; i < c.g.peers; i++ {
				if atomic.LoadUint32(&c.peerAt(int(i)).PID) != 0 {
					atomic.StoreUint32(&c.peerAt(int(i)).Roles, uint32(RoleProducer))
				}
			}
		}},
		{"cursor ahead", "b", ".Cursor", func(c *core) {
			for i := c.g.subBase; i < c.g.peers; i++ {
				if atomic.LoadUint32(&c.peerAt(int(i)).PID) != 0 {
					atomic.StoreUint64(subCursor(c.peerAt(int(i))), 1000)
				}
			}
		}},
		{"future heartbeat", "m", ".HeartbeatUnixNano", func(c *core) {
			atomic.StoreInt64(&c.peerAt(1).HeartbeatUnixNano, time.Now().Add(time.Hour).UnixNano())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := viewArena(t)
			ro, err := arena.Open(p, arena.ReadOnly())
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			v, err := OpenView(ro, tc.ring)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			if probs := v.Check(); len(probs) != 0 {
				t.Fatalf("before damage: %v", probs)
			}
			// Plant through a writable mapping of the same file.
			rw, err := arena.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer rw.Close()
			reg, err := rw.Lookup(tc.ring)
			if err != nil {
				t.Fatal(err)
			}
			var c core
			k, _ := kindOfRegion(reg.Kind())
			g, err := readHeader(reg.Bytes(), k, uint64(rw.PadUnit()))
			if err != nil {
				t.Fatal(err)
			}
			c.kind = k
			c.layout(reg.Bytes(), g)
			tc.plant(&c)
			probs := v.Check()
			found := false
			for _, pr := range probs {
				if strings.Contains(pr.Field, tc.field) {
					found = true
				}
			}
			if !found {
				t.Fatalf("Check = %v, want a problem in %s", probs, tc.field)
			}
		})
	}
}

// TestViewCheckBusy: Check on rings under traffic from other goroutines
// reports nothing (a check traffic can fail runs only on a snapshot that
// held still).
func TestViewCheckBusy(t *testing.T) {
	p, _, rings, b, sub := viewArenaBcast(t)
	ro, err := arena.Open(p, arena.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	// Broadcast: batches (several slots written before one publish) and a
	// tethered subscriber draining them.
	wg.Add(2)
	go func() {
		defer wg.Done()
		batch := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc")}
		for ctx.Err() == nil {
			_, _ = b.TryPushBatch(batch)
		}
	}()
	go func() {
		defer wg.Done()
		var buf [64]byte
		for ctx.Err() == nil {
			_, _ = sub.TryPop(buf[:])
		}
	}()
	for _, name := range []string{"s", "m"} {
		r := rings[name]
		wg.Add(2)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_ = r.TryPush([]byte("traffic"))
			}
		}()
		go func() {
			defer wg.Done()
			var buf [64]byte
			for ctx.Err() == nil {
				_, _ = r.TryPop(buf[:])
			}
		}()
	}
	var views []*View
	for _, name := range []string{"s", "m", "b"} {
		v, err := OpenView(ro, name)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		views = append(views, v)
	}
	checks := 0
	for ctx.Err() == nil {
		for _, v := range views {
			if probs := v.Check(); len(probs) != 0 {
				cancel()
				wg.Wait()
				t.Fatalf("%s under traffic: %v", v.Name(), probs)
			}
			checks++
		}
	}
	wg.Wait()
	if checks < 3 {
		t.Fatalf("only %d checks ran", checks)
	}
}

// TestOpenViewNoWait: a ring region whose creator never initialised it
// (killed between Alloc and the header) makes OpenView wait the open
// timeout, and WithOpenTimeout(0) look once.
func TestOpenViewNoWait(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nowait")
	a, err := arena.Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.AllocKind("dead", KindSPSC, 64<<10, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := OpenView(a, "dead", WithOpenTimeout(0)); !errors.Is(err, ErrNotReady) {
		t.Fatalf("OpenView(WithOpenTimeout(0)) = %v, want ErrNotReady", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("WithOpenTimeout(0) waited %v", d)
	}
	start = time.Now()
	if _, err := OpenView(a, "dead", WithOpenTimeout(30*time.Millisecond)); !errors.Is(err, ErrNotReady) {
		t.Fatalf("OpenView = %v, want ErrNotReady", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("WithOpenTimeout(30ms) gave up after %v", d)
	}
}
