package arena

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"
)

// Regressions found in review of Check.

// checkBytes writes b to a file and runs Check on it.
func checkBytes(t *testing.T, b []byte, opts ...Option) []Problem {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	probs, err := Check(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return probs
}

func reviewImage(t *testing.T) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "valid")
	a, err := Create(p, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Alloc("r", 100, 0); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCheckFutureMinor: a later minor version may use reserved bytes
// (docs/layout.md); Check does not call them corruption, as Open does not.
func TestCheckFutureMinor(t *testing.T) {
	b := reviewImage(t)
	h := (*header)(unsafe.Pointer(&b[0]))
	h.VersionMinor = VersionMinor + 1
	b[100] = 7 // reserved, under the checksum
	h.Checksum = h.sum()
	b[160] = 9 // reserved, mutable part
	if probs := checkBytes(t, b); len(probs) != 0 {
		t.Fatalf("Check of a valid arena of a later minor: %v", probs)
	}
	h.VersionMinor = VersionMinor
	h.Checksum = h.sum()
	if probs := checkBytes(t, b, WithReadyTimeout(0)); len(probs) != 2 {
		t.Fatalf("Check of this minor with reserved bytes set: %v, want 2 problems", probs)
	}
}

// TestCheckPartialHeader: a creator that died after writing only the
// first fields leaves what Open calls not ready; so does Check, not a
// version or byte-order fault. A short file with the magic's prefix
// written is truncated, not foreign, for both.
func TestCheckPartialHeader(t *testing.T) {
	full := reviewImage(t)
	b := make([]byte, len(full))
	copy(b, Magic)
	probs := checkBytes(t, b, WithReadyTimeout(10*time.Millisecond))
	if len(probs) != 1 || !errors.Is(probs[0].Err, ErrNotReady) {
		t.Fatalf("magic only: %v, want one ErrNotReady", probs)
	}
	copy(b[8:10], full[8:10]) // VersionMajor, still no byte order mark
	probs = checkBytes(t, b, WithReadyTimeout(10*time.Millisecond))
	if len(probs) != 1 || !errors.Is(probs[0].Err, ErrNotReady) {
		t.Fatalf("magic and major: %v, want one ErrNotReady", probs)
	}
	probs = checkBytes(t, []byte("S\x00\x00\x00"), WithReadyTimeout(10*time.Millisecond))
	if len(probs) != 1 || !errors.Is(probs[0].Err, ErrTruncated) {
		t.Fatalf("short prefix: %v, want ErrTruncated as Open says", probs)
	}
}

// TestCheckPermanentNoWait: a problem no creator can still be fixing (a
// reserved byte) is reported at once, not after the ready timeout.
func TestCheckPermanentNoWait(t *testing.T) {
	b := reviewImage(t)
	b[160] = 1
	start := time.Now()
	if probs := checkBytes(t, b, WithReadyTimeout(2*time.Second)); len(probs) != 1 {
		t.Fatalf("Check = %v", probs)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Check waited %v on a permanent problem", d)
	}
}
