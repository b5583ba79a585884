package arena

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestCheckSize truncates (or extends) the file of an arena in use. A
// shorter file breaks the handle: the mapping is replaced before anything
// can touch the lost pages (reading the region below would otherwise die
// of SIGBUS), the pin is told, the liveness locks go, and every method
// that would read the mapping returns the truncation.
func TestCheckSize(t *testing.T) {
	const size = 1 << 20
	tests := []struct {
		name    string
		newSize func(a *Arena) int64
		broken  bool
	}{
		{"same size", func(a *Arena) int64 { return a.Size() }, false},
		{"extended", func(a *Arena) int64 { return a.Size() + 4096 }, false},
		{"one page short", func(a *Arena) int64 { return a.Size() - 4096 }, true},
		{"down to the data area", func(a *Arena) int64 { return a.DataOffset() }, true},
		{"inside the header", func(a *Arena) int64 { return 100 }, true},
		{"empty", func(a *Arena) int64 { return 0 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tempArena(t)
			a, err := Create(p, size)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			// The last region: the first to go.
			r, err := a.Alloc("tail", size-a.DataOffset(), 4096)
			if err != nil {
				t.Fatal(err)
			}
			copy(r.Bytes(), "live")
			var causes []error
			pin, err := a.Pin(func(cause error) { causes = append(causes, cause) })
			if err != nil {
				t.Fatal(err)
			}
			defer pin.Unpin()
			b, err := Open(p) // a second handle, to watch the liveness lock
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			locks := a.LiveLocksSupported()
			if locks {
				if _, err := a.LockLive(r.Offset()); err != nil {
					t.Fatal(err)
				}
			}

			if err := os.Truncate(p, tt.newSize(a)); err != nil {
				t.Fatal(err)
			}
			err = a.CheckSize()
			if !tt.broken {
				if err != nil {
					t.Fatalf("CheckSize: %v, want nil", err)
				}
				if string(r.Bytes()[:4]) != "live" || len(causes) != 0 {
					t.Fatalf("region %q, pin told %v", r.Bytes()[:4], causes)
				}
				if _, err := a.Lookup("tail"); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrTruncated) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("CheckSize: %v, want ErrTruncated and ErrCorrupt", err)
			}
			if len(causes) != 1 || !errors.Is(causes[0], ErrTruncated) {
				t.Fatalf("pin told %v, want one ErrTruncated", causes)
			}
			// The region's pages are gone from the file; this process
			// sees the anonymous replacement instead of faulting.
			if b := r.Bytes(); b[0] != 0 || b[len(b)-1] != 0 {
				t.Fatalf("region after the truncation reads %q, want zeros", b[:4])
			}
			if ok, path := mappingAt(t, addrOf(a.mem)); !ok || path != "" {
				t.Fatalf("after the truncation: mapped %v at %q, want an anonymous mapping", ok, path)
			}
			if locks {
				if held, err := b.LiveLocked(r.Offset(), 1); err != nil || held {
					t.Fatalf("liveness lock after the truncation: held %v, %v; want released", held, err)
				}
			}
			for name, err := range map[string]error{
				"CheckSize again": a.CheckSize(),
				"Lookup":          second(a.Lookup("tail")),
				"Regions":         second(a.Regions()),
				"Alloc":           second(a.Alloc("new", 8, 8)),
				"LockLive":        second(a.LockLive(r.Offset() + 1)),
				"LiveLocked":      second(a.LiveLocked(0, 1)),
				"Pin":             second(a.Pin(nil)),
			} {
				if !errors.Is(err, ErrTruncated) {
					t.Errorf("%s on a truncated arena: %v, want ErrTruncated", name, err)
				}
			}
			if a.LiveLocksSupported() {
				t.Error("LiveLocksSupported on a truncated arena")
			}
			// The other handle finds it at its next check.
			if _, err := b.Lookup("tail"); !errors.Is(err, ErrTruncated) {
				t.Errorf("Lookup through another handle: %v, want ErrTruncated", err)
			}
			if err := a.Close(); err != nil {
				t.Fatalf("Close of a truncated arena: %v", err)
			}
			if len(causes) != 1 {
				t.Fatalf("Close told the pin again: %v", causes)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

// TestOpenTruncatedWhileOpening shrinks the file between Open's
// validation and its mapping: Open must see it before it touches the
// mapping (the first access would fault) and fail at once with
// ErrTruncated, not after the ready timeout.
func TestOpenTruncatedWhileOpening(t *testing.T) {
	img := validImage(t)
	for _, size := range []int64{0, 100, HeaderSize, 4096, int64(len(img)) - 4096} {
		p := tempArena(t)
		if err := os.WriteFile(p, img, 0o600); err != nil {
			t.Fatal(err)
		}
		testHookMapping = func() {
			if err := os.Truncate(p, size); err != nil {
				t.Error(err)
			}
		}
		start := time.Now()
		a, err := Open(p, WithReadyTimeout(5*time.Second))
		testHookMapping = nil
		if err == nil {
			a.Close()
		}
		if !errors.Is(err, ErrTruncated) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated to %d while opening: %v, want ErrTruncated", size, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("truncated to %d while opening: Open took %v", size, took)
		}
	}
}
