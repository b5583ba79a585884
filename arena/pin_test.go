package arena

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// mappingAt reports whether an address range starts at the first byte of
// mem in /proc/self/maps, and the path it maps ("" for anonymous memory).
// It skips the test where there is no /proc.
func mappingAt(t *testing.T, addr uintptr) (mapped bool, path string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/maps")
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	defer f.Close()
	want := fmt.Sprintf("%x-", addr)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, want) {
			continue
		}
		// start-end perms offset dev inode path
		fields := strings.Fields(line)
		if len(fields) >= 6 {
			return true, fields[5]
		}
		return true, ""
	}
	return false, ""
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// TestPinKeepsRangeAfterClose: with a pin, Close tells the pin while the
// memory is still the file's, then replaces the mapping by anonymous
// memory at the same address (readable and writable, zeroed), which the
// last Unpin unmaps; without pins Close unmaps at once.
func TestPinKeepsRangeAfterClose(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Alloc("data", 4096, 4096)
	if err != nil {
		t.Fatal(err)
	}
	copy(r.Bytes(), "shared")
	addr := addrOf(a.mem)
	if ok, path := mappingAt(t, addr); !ok || path != p {
		t.Fatalf("before Close: mapped %v at %s, want the file %s", ok, path, p)
	}

	var calls []error
	var seen string
	pin, err := a.Pin(func(cause error) {
		calls = append(calls, cause)
		seen = string(r.Bytes()[:6]) // still the file's while we are told
	})
	if err != nil {
		t.Fatal(err)
	}
	other, err := a.Pin(nil) // a nil callback is allowed
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || !errors.Is(calls[0], ErrClosed) || seen != "shared" {
		t.Fatalf("onClose calls %v, saw %q; want one ErrClosed with the file's bytes", calls, seen)
	}
	if ok, path := mappingAt(t, addr); !ok || path != "" {
		t.Fatalf("after Close with pins: mapped %v at %q, want an anonymous mapping", ok, path)
	}
	b := r.Bytes() // a late user: zeros, and writes that nobody sees
	if b[0] != 0 {
		t.Fatalf("replacement memory holds %q, want zeros", b[:6])
	}
	b[0] = 1
	if err := a.Close(); err != nil || len(calls) != 1 {
		t.Fatalf("second Close: %v, %d calls", err, len(calls))
	}
	if _, err := a.Pin(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Pin after Close: %v", err)
	}
	pin.Unpin()
	pin.Unpin() // idempotent
	if ok, _ := mappingAt(t, addr); !ok {
		t.Fatal("range unmapped while a pin remains")
	}
	other.Unpin()
	if ok, path := mappingAt(t, addr); ok {
		t.Fatalf("range still mapped (%q) after the last Unpin", path)
	}

	// Unpinned before Close, and no pins at all: Close unmaps.
	c, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	addr = addrOf(c.mem)
	told := false
	q, err := c.Pin(func(error) { told = true })
	if err != nil {
		t.Fatal(err)
	}
	q.Unpin()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if told {
		t.Fatal("a released pin was told of Close")
	}
	if ok, path := mappingAt(t, addr); ok {
		t.Fatalf("range still mapped (%q) after Close without pins", path)
	}
	var nilPin *Pin
	nilPin.Unpin()
}

// TestCloseConcurrent: methods racing Close return results or ErrClosed,
// never fault; pins taken and released meanwhile are told at most once;
// concurrent Closes all return after the mapping is retired.
func TestCloseConcurrent(t *testing.T) {
	for round := 0; round < 20; round++ {
		p := tempArena(t)
		a, err := Create(p, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Alloc("r", 64, 8); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errc := make(chan error, 64)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; ; i++ {
					var err error
					switch i % 5 {
					case 0:
						_, err = a.Lookup("r")
					case 1:
						_, err = a.Regions()
					case 2:
						err = a.CheckSize()
					case 3:
						var pin *Pin
						if pin, err = a.Pin(nil); err == nil {
							pin.Unpin()
						}
					case 4:
						_, err = a.LiveLocked(0, 1)
						if errors.Is(err, ErrUnsupported) {
							err = nil
						}
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						errc <- err
						return
					}
				}
			}()
		}
		close(start)
		var cwg sync.WaitGroup
		for i := 0; i < 2; i++ {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				if err := a.Close(); err != nil {
					errc <- err
				}
			}()
		}
		cwg.Wait()
		a.mu.RLock()
		retired := a.retired
		a.mu.RUnlock()
		if !retired {
			t.Fatal("a Close returned before the mapping was retired")
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		if a.mem != nil {
			t.Fatal("mapping still there with no pin left")
		}
	}
}
