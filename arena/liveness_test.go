package arena

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/xproc"
)

func skipWithoutLiveLocks(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("open-file-description locks are Linux-only")
	}
}

// childHoldLive opens the arena args[0], takes the liveness lock on byte
// args[1], says "locked" and then waits to be killed.
func childHoldLive(args []string) error {
	a, err := Open(args[0])
	if err != nil {
		return err
	}
	off, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		return err
	}
	if _, err := a.LockLive(off); err != nil {
		return err
	}
	fmt.Println("locked")
	time.Sleep(time.Minute) // killed long before
	return errors.New("not killed")
}

// TestLiveLockSameProcess: a handle sees its own holders' locks, another
// handle of the same process sees them, and Unlock and Close release them.
func TestLiveLockSameProcess(t *testing.T) {
	skipWithoutLiveLocks(t)
	a, p := createTemp(t)
	b, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	const off = 8192
	locked := func(h *Arena, off int64) bool {
		t.Helper()
		ok, err := h.LiveLocked(off, 1)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if locked(a, off) || locked(b, off) {
		t.Fatal("a fresh byte reads as locked")
	}
	l, err := a.LockLive(off)
	if err != nil {
		t.Fatal(err)
	}
	if !locked(a, off) || !locked(b, off) {
		t.Fatalf("held byte: from its handle %v, from another %v", locked(a, off), locked(b, off))
	}
	if ok, _ := b.LiveLocked(0, a.Size()); !ok {
		t.Fatal("a range test over the whole file misses the lock")
	}
	if locked(b, off+1) || locked(b, off-1) {
		t.Fatal("the neighbours of a held byte read as locked")
	}
	if _, err := b.LockLive(off); !errors.Is(err, ErrHeld) {
		t.Fatalf("second holder of one byte, another handle: %v, want ErrHeld", err)
	}
	// Locks of one description never conflict in the kernel: the handle
	// itself must refuse a second holder of a byte it holds.
	if _, err := a.LockLive(off); !errors.Is(err, ErrHeld) {
		t.Fatalf("second holder of one byte, same handle: %v, want ErrHeld", err)
	}
	if !a.LiveLocksSupported() {
		t.Fatal("LiveLocksSupported is false where a lock was just taken")
	}
	if _, err := a.LockLive(off + 1); err != nil { // a second byte, same handle
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if locked(b, off) || !locked(b, off+1) {
		t.Fatal("Unlock released the wrong byte")
	}
	l.Unlock() // idempotent
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if locked(b, off+1) {
		t.Fatal("Close left a liveness lock held")
	}
	if _, err := a.LockLive(off); !errors.Is(err, ErrClosed) {
		t.Fatalf("LockLive after Close: %v", err)
	}
	if _, err := b.LiveLocked(-1, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative offset: %v", err)
	}
	if _, err := b.LockLive(b.Size()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("offset past the end: %v", err)
	}
	b.Close()
}

// TestLiveLockKilledHolder: a holder killed with SIGKILL loses its lock at
// once, and the byte can be taken again.
func TestLiveLockKilledHolder(t *testing.T) {
	skipWithoutLiveLocks(t)
	a, p := createTemp(t)
	const off = 12345
	c := startHolder(t, p, strconv.Itoa(off))
	if ok, err := a.LiveLocked(off, 1); err != nil || !ok {
		t.Fatalf("child's lock: %v, %v", ok, err)
	}
	if _, err := a.LockLive(off); !errors.Is(err, ErrHeld) {
		t.Fatalf("taking a live child's byte: %v", err)
	}
	if err := syscall.Kill(c.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	// The kernel drops the lock when the dead process's descriptors are
	// closed, which exit does before the parent can reap it.
	if ok, err := a.LiveLocked(off, 1); err != nil || ok {
		t.Fatalf("killed child's lock still held: %v, %v", ok, err)
	}
	if _, err := a.LockLive(off); err != nil {
		t.Fatalf("retaking a dead child's byte: %v", err)
	}
}

// TestRemoveInUse: Remove refuses while another process holds a liveness
// lock in the file, ignores this process's own, and WithForce removes
// anyway; once the holder dies Remove succeeds.
func TestRemoveInUse(t *testing.T) {
	skipWithoutLiveLocks(t)
	a, p := createTemp(t)
	if _, err := a.LockLive(100); err != nil { // this process's own: does not count
		t.Fatal(err)
	}
	c := startHolder(t, p, "5000")
	if err := Remove(p); !errors.Is(err, ErrInUse) {
		t.Fatalf("Remove with another process attached: %v, want ErrInUse", err)
	}
	if err := syscall.Kill(c.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if err := Remove(p); err != nil {
		t.Fatalf("Remove once the other process died (own lock still held): %v", err)
	}

	// WithForce, with a live holder.
	_, q := createTemp(t)
	startHolder(t, q, "7000") // a live holder while we remove
	if err := Remove(q, WithForce()); err != nil {
		t.Fatalf("Remove WithForce: %v", err)
	}
	if err := Remove(q); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove: %v", err)
	}
}

// createTemp creates an arena in t.TempDir, closed when the test ends.
func createTemp(t *testing.T) (*Arena, string) {
	t.Helper()
	p := tempArena(t)
	a, err := Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, p
}

// startHolder starts a child that opens the arena at p, takes the
// liveness lock on byte off and waits to be killed; it returns once the
// lock is held.
func startHolder(t *testing.T, p string, off string) *xproc.Child {
	t.Helper()
	c := xproc.StartT(t, "hold-live", p, off)
	xproc.WaitFor(t, "the child to lock", c, func() bool { return strings.Contains(c.Stdout(), "locked") })
	return c
}
