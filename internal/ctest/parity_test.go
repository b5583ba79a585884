package ctest

// Parity of the C peer with Go's repairs (issue 15, "in every respect"):
// the surplus sweep of sleeper registrations no entry accounts for
// (ring/peers.go sweepSurplus), and the break-off of a truncated arena
// (arena/truncate.go).

import (
	"errors"
	"os"
	"strings"
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

// TestCTruncated: Go truncates the arena file under a C process holding
// a ring handle. The C shmring_recover finds it (SHMRING_ETRUNCATED, also
// SHMRING_ECORRUPT), replaces its mappings (a record ring's double
// mapping too) with anonymous memory and does not die of SIGBUS; every
// later call fails with SHMRING_ETRUNCATED, and close (which writes the
// ring's peer entry: SIGBUS on the lost pages without the break-off) works.
func TestCTruncated(t *testing.T) {
	for _, sanitize := range []bool{false, true} {
		tool := ctool(t, sanitize)
		for _, k := range []string{"spsc", "mpmc", "records"} {
			name := k
			if sanitize {
				name += "-asan"
			}
			t.Run(name, func(t *testing.T) {
				var path string
				var a *arena.Arena
				if k == "records" {
					path, a, _ = newRecords(t, recCase{cfg: ring.Config{Capacity: 4 * 4096, SlotSize: 1000}, mirrored: true})
				} else {
					kind := ring.KindSPSC
					if k == "mpmc" {
						kind = ring.KindMPMC
					}
					cfg := ring.Config{Slots: 8, SlotSize: 64}
					path, a = newArena(t, kind, cfg)
					r, err := ring.Create(a, "r", kind, cfg)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = r.Close() })
				}
				c := startC(t, tool, "truncwait", path, "r")
				c.waitOutput(t, "ready")
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
				// The Go handle's own check finds the truncation too, and
				// breaks its handle off before anything here (the cleanups'
				// Close) touches the lost pages.
				if err := a.CheckSize(); !errors.Is(err, arena.ErrTruncated) {
					t.Errorf("Go CheckSize: %v, want ErrTruncated", err)
				}
				out := c.wait(t)
				for _, want := range []string{"recover=ETRUNCATED", "push=ETRUNCATED", "pop=ETRUNCATED",
					"peek=ETRUNCATED", "stats=ETRUNCATED", "recover2=ETRUNCATED", "lookup=ETRUNCATED",
					"check=ETRUNCATED", "corrupt=1", "closed"} {
					if !strings.Contains(out, want) {
						t.Errorf("C after the truncation: %q, want %s", out, want)
					}
				}
			})
		}
	}
}
