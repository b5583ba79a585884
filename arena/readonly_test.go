package arena

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// mappingPerms returns the permission field of /proc/self/maps for the
// mapping that holds addr ("r--s", "rw-s", ...), or "" if none does.
func mappingPerms(t *testing.T, addr uintptr) string {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var lo, hi uintptr
		var perms string
		if _, err := fmt.Sscanf(sc.Text(), "%x-%x %s", &lo, &hi, &perms); err != nil {
			continue
		}
		if addr >= lo && addr < hi {
			return perms
		}
	}
	return ""
}

func TestReadOnly(t *testing.T) {
	p := tempArena(t)
	w, err := Create(p, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	reg, err := w.Alloc("data", 256, 0)
	if err != nil {
		t.Fatal(err)
	}
	copy(reg.Bytes(), "written by the creator")
	held, err := w.LockLive(reg.Offset())
	if err != nil {
		t.Fatal(err)
	}

	if _, err := Create(p+"2", 64<<10, ReadOnly()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Create(ReadOnly) = %v, want ErrInvalid", err)
	}
	// Read permission is enough: a 0400 file opens read-only.
	if err := os.Chmod(p, 0o400); err != nil {
		t.Fatal(err)
	}
	if rw, err := Open(p); os.Geteuid() != 0 && !errors.Is(err, ErrPermission) { // root may write anything
		t.Fatalf("Open(0400 file) read-write = %v, want ErrPermission", err)
	} else if err == nil {
		rw.Close()
	}
	r, err := Open(p, ReadOnly())
	if err != nil {
		t.Fatalf("Open(ReadOnly): %v", err)
	}
	defer r.Close()
	if !r.ReadOnly() || w.ReadOnly() {
		t.Fatalf("ReadOnly() = %v (read-only handle), %v (creator)", r.ReadOnly(), w.ReadOnly())
	}
	rr, err := r.Lookup("data")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(rr.Bytes()[:22]); got != "written by the creator" {
		t.Fatalf("read %q", got)
	}
	if perms := mappingPerms(t, uintptr(unsafe.Pointer(&rr.Bytes()[0]))); !strings.HasPrefix(perms, "r-") {
		t.Fatalf("read-only handle's mapping has permissions %q, want r-", perms)
	}
	if regs, err := r.Regions(); err != nil || len(regs) != 1 {
		t.Fatalf("Regions = %v, %v", regs, err)
	}

	// Every writing method fails with ErrReadOnly, and nothing changed.
	if _, err := r.Alloc("more", 64, 0); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Alloc = %v, want ErrReadOnly", err)
	}
	if _, err := r.AllocKind("more", 7, 64, 0); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("AllocKind = %v, want ErrReadOnly", err)
	}
	if _, err := r.LockLive(reg.Offset() + 1); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("LockLive = %v, want ErrReadOnly", err)
	}
	if regs, _ := w.Regions(); len(regs) != 1 {
		t.Fatalf("the creator sees %d regions", len(regs))
	}

	// It can still test liveness locks: the creator's is seen, and seen
	// gone once released.
	if !r.LiveLocksSupported() {
		t.Skip("no liveness locks here")
	}
	if on, err := r.LiveLocked(reg.Offset(), 1); err != nil || !on {
		t.Fatalf("LiveLocked(held) = %v, %v", on, err)
	}
	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	if on, err := r.LiveLocked(reg.Offset(), 1); err != nil || on {
		t.Fatalf("LiveLocked(released) = %v, %v", on, err)
	}

	// Prefault on a read-only handle reads, never writes.
	r2, err := Open(p, ReadOnly(), WithPrefault())
	if err != nil {
		t.Fatalf("Open(ReadOnly, WithPrefault): %v", err)
	}
	r2.Close()

	// Close with a pin still held swaps in anonymous memory as for any
	// handle: reads after it see zeros, not a fault.
	pin, err := r.Pin(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := rr.Bytes()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if b[0] != 0 {
		t.Fatalf("after Close the pinned memory reads %q", b[:4])
	}
	pin.Unpin()
}
