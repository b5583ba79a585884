package ctest

// Parity of the C peer with Go's repairs (issue 15, "in every respect"):
// the surplus sweep of sleeper registrations no entry accounts for
// (ring/peers.go sweepSurplus), and the break-off of a truncated arena
// (arena/truncate.go).

import (
	"testing"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// TestCSweepSurplus: a C handle "killed" between its two registration
// adds leaves NotEmptyWaiters (NotFullWaiters) above every entry's
// sleeping counts; a C shmring_recover takes the surplus out (after its
// 1 ms second look), and so do a C handle's idle wakes without Recover.
// Go's Stats sees the counts come back to 0.
func TestCSweepSurplus(t *testing.T) {
	tool := ctool(t, false)
	for _, k := range []struct {
		name string
		kind arena.Kind
	}{{"spsc", ring.KindSPSC}, {"mpmc", ring.KindMPMC}} {
		t.Run(k.name, func(t *testing.T) {
			cfg := ring.Config{Slots: 8, SlotSize: 64}
			path, a := newArena(t, k.kind, cfg)
			r, err := ring.Create(a, "r", k.kind, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			for _, mode := range []string{"recover", "idle"} {
				leak := startC(t, tool, "leak", path, "r", "1", "2")
				leak.wait(t)
				if st := r.Stats(); st.NotEmptyWaiters != 1 || st.NotFullWaiters != 2 {
					t.Fatalf("%s: after the leak: waiters %d/%d, want 1/2", mode, st.NotEmptyWaiters, st.NotFullWaiters)
				}
				args := []string{"recover", path, "r"}
				if mode == "idle" {
					args = append(args, "idle")
				}
				out := startC(t, tool, args...).wait(t)
				if mode == "recover" && field(t, out, "sleepers") != 3 {
					t.Errorf("C Recover: %s, want sleepers=3", out)
				}
				if field(t, out, "not_empty_waiters") != 0 || field(t, out, "not_full_waiters") != 0 {
					t.Errorf("%s: C sees %s, want both waiter counts 0", mode, out)
				}
				if st := r.Stats(); st.NotEmptyWaiters != 0 || st.NotFullWaiters != 0 {
					t.Errorf("%s: Go sees waiters %d/%d, want 0/0", mode, st.NotEmptyWaiters, st.NotFullWaiters)
				}
			}
		})
	}
}
