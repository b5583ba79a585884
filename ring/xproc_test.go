package ring

// Cross-process tests. The test binary re-executes itself (internal/xproc)
// so that producers and consumers run in separate processes over one arena
// file in t.TempDir(); the parent only creates the rings and orchestrates.
// This file holds what the scenarios share; each xproc_*_test.go holds one
// scenario's tests and child roles:
//
//	xproc_spsc_test.go      SPSC streaming and futex sleeps across processes
//	xproc_mpmc_test.go      MPMC exactly-once and per-producer FIFO
//	xproc_close_test.go     CloseWrite, drain and io.EOF/ErrClosed across processes
//	xproc_handle_test.go    a child's Close: handle released, stream ended only by the SPSC producer
//	xproc_deadline_test.go  deadlines and cancellation in a child
//
// Children take "key=value" arguments (xproc.ParseArgs), report failure by
// returning an error (xproc prints it on stderr and exits 1) and report
// results as "key=value" tokens on stdout (xproc.Field). Every wait on a
// child is bounded: a child still running at its deadline is killed and
// the test fails with the child's output.
//
// Message contents derive from a seed that is logged and can be set with
// SHMRING_SEED (internal/seed) to repeat a run.

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
)

// xpChildTimeout bounds every child process and every blocking call a
// child makes; nothing in these tests should take a tenth of it.
const xpChildTimeout = 60 * time.Second

var xpCRC = crc32.MakeTable(crc32.Castagnoli)

// xpMix is splitmix64's finaliser.
func xpMix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// xpFill fills b with a pseudo-random stream seeded by x.
func xpFill(b []byte, x uint64) {
	for len(b) >= 8 {
		x = xpMix(x)
		binary.LittleEndian.PutUint64(b, x)
		b = b[8:]
	}
	x = xpMix(x)
	for i := range b {
		b[i] = byte(x >> (8 * i))
	}
}

// xpDiff describes how got differs from want.
func xpDiff(got, want []byte) string {
	s := fmt.Sprintf("got %d bytes, want %d", len(got), len(want))
	if len(got) >= 8 {
		s += fmt.Sprintf(" (got's first 8 bytes say seq %d)", binary.LittleEndian.Uint64(got))
	}
	for i := 0; i < min(len(got), len(want)); i++ {
		if got[i] != want[i] {
			return s + fmt.Sprintf("; first difference at byte %d: %#02x, want %#02x", i, got[i], want[i])
		}
	}
	return s
}

// xpArena creates an arena in t.TempDir, closed when the test ends.
func xpArena(t *testing.T, size int64) (*arena.Arena, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "arena")
	a, err := arena.Create(path, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, path
}

func xpCreate(t *testing.T, a *arena.Arena, kind, name string, cfg Config) Ring {
	t.Helper()
	var r Ring
	var err error
	if kind == "mpmc" {
		r, err = CreateMPMC(a, name, cfg)
	} else {
		r, err = CreateSPSC(a, name, cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func xpOpenRing(a *arena.Arena, kind, name string) (Ring, error) {
	switch kind {
	case "spsc":
		return OpenSPSC(a, name)
	case "mpmc":
		return OpenMPMC(a, name)
	}
	return nil, fmt.Errorf("unknown ring kind %q", kind)
}

// xpRingRole makes a child role of body: it opens the arena at args[path]
// and the ring args[ring] of the given kind (args[kind] if kind is ""),
// with the wait strategy args[wait] if given, and runs body with a context
// bounded by xpChildTimeout.
func xpRingRole(kind string, body func(ctx context.Context, a xproc.Args, r Ring) error) xproc.Role {
	return func(args []string) error {
		a := xproc.ParseArgs(args)
		k := kind
		if k == "" {
			k = a["kind"]
		}
		ar, r, err := xpOpen(a, k)
		if err != nil {
			return err
		}
		defer ar.Close()
		defer r.Detach()
		ctx, cancel := context.WithTimeout(context.Background(), xpChildTimeout)
		defer cancel()
		return body(ctx, a, r)
	}
}

// xpOpen opens the arena at args[path] and the ring args[ring] of the given
// kind, with the wait strategy args[wait] if given.
func xpOpen(a xproc.Args, kind string) (*arena.Arena, Ring, error) {
	ar, err := arena.Open(a["path"])
	if err != nil {
		return nil, nil, err
	}
	r, err := xpOpenRing(ar, kind, a["ring"])
	if err != nil {
		ar.Close()
		return nil, nil, err
	}
	if s, ok := a["wait"]; ok {
		w, err := ParseWaitStrategy(s)
		if err != nil {
			ar.Close()
			return nil, nil, err
		}
		r.SetWaitStrategy(w)
	}
	return ar, r, nil
}
