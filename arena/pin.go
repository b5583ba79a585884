package arena

// Pins: how the users of a mapping that work on its bytes outside this
// handle's methods (ring handles, whose operations read and write their
// region lock-free and never take a.mu) learn that the mapping is going
// away, and how the arena keeps an operation of theirs that is already
// under way from faulting.
//
// A user cannot take a lock per operation (that is the hot path), so it
// checks a flag of its own at the start of each one, and the arena sets
// that flag through the pin's callback. An operation that read the flag
// just before the callback ran still touches the memory afterwards; that
// is why the mapping is never unmapped under a pin, only replaced
// (mmap MAP_FIXED over the same range: one step, no moment at which the
// range is unmapped) by private anonymous memory, in which such a late
// operation reads zeros and writes nothing another process sees.
//
// Invariants (a.mu guards every pin field and the arena's pin fields):
//
//   - a pin's onClose runs at most once and never with a.mu held: for
//     Close before the mapping is replaced (the memory is still the
//     file's, and the callback may touch it: wake its sleepers, wait for
//     them), for a truncation after (the callback must not touch it);
//   - while any pin is registered the mapping's range stays mapped: the
//     file, or after Close or a truncation the anonymous replacement
//     (unless the replacement failed: then the file mapping itself stays);
//   - the range is unmapped exactly once: by Close if no pin is left when
//     it retires the mapping, else by the Unpin of the last pin after that.

import "fmt"

// Pin is a registered user of an arena handle's mapping (see Arena.Pin).
type Pin struct {
	a        *Arena
	onClose  func(cause error)
	notified bool // onClose was called or is being called
}

// Pin registers a user of the mapping: code that keeps using the bytes of
// a Region (a ring handle) without calling the arena's methods for each
// access. Until Unpin, the mapping's address range stays mapped even after
// Close; onClose (which may be nil) is called once, without the handle's
// locks held, when the handle is closed (cause ErrClosed: the memory is
// still the file's while onClose runs, and is replaced by private
// anonymous memory when every onClose has returned) or when CheckSize
// finds the file truncated (cause matching ErrTruncated: the memory has
// already been replaced, so onClose must not touch the lost pages). After
// onClose the user must stop using the bytes, and call Unpin once none of
// its goroutines touches them any more. onClose must not call Close
// (Close waits for it). Pin fails with ErrClosed after Close, and with
// the truncation once CheckSize found one.
//
// A pin that is never released keeps the address range of a closed
// arena's mapping reserved for the life of the process (one anonymous
// mapping that uses memory only for the pages written after Close).
func (a *Arena) Pin(onClose func(cause error)) (*Pin, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.usable(); err != nil {
		return nil, err
	}
	p := &Pin{a: a, onClose: onClose}
	if a.pins == nil {
		a.pins = map[*Pin]struct{}{}
	}
	a.pins[p] = struct{}{}
	return p, nil
}

// Unpin releases the pin: its user will not touch the mapping again. If
// the handle was closed and this was its last pin, the mapping's range is
// unmapped now. Idempotent; a nil *Pin does nothing.
func (p *Pin) Unpin() {
	if p == nil {
		return
	}
	a := p.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.pins[p]; !ok {
		return
	}
	delete(a.pins, p)
	if a.retired && len(a.pins) == 0 {
		// Nobody is left to report an unmap failure to; it leaves the
		// range mapped, which is harmless.
		_ = a.unmap()
	}
}

// takePins returns the pins not yet told and marks them told. The caller
// holds a.mu.
func (a *Arena) takePins() []*Pin {
	var out []*Pin
	for p := range a.pins {
		if !p.notified {
			p.notified = true
			out = append(out, p)
		}
	}
	return out
}

// notifyPins calls each pin's onClose with cause. The caller does not hold
// a.mu: a callback may wait for goroutines that call the arena's methods.
func notifyPins(pins []*Pin, cause error) {
	for _, p := range pins {
		if p.onClose != nil {
			p.onClose(cause)
		}
	}
}

// retire ends Close's use of the mapping: unmapped at once without pins,
// else replaced by anonymous memory (if a truncation has not done so
// already) and left to the last Unpin. Live mirrors are replaced by
// anonymous memory either way and left to their own Close (mirror.go). The caller holds a.mu, after every
// onClose of Close has returned.
func (a *Arena) retire() error {
	a.retired = true
	a.anonMirrors() // before the main mapping: the same moment for a ring's two views
	if len(a.pins) == 0 {
		return a.unmap()
	}
	if !a.anon {
		if err := remapAnon(a.mem); err == nil {
			a.anon = true
		}
		// If the replacement failed (the system refused the memory), the
		// file mapping itself stays until the last Unpin: an operation
		// already under way then writes the shared file, as it would
		// have a moment before Close. Not worth failing Close for.
	}
	return nil
}

// unmap unmaps the mapping's range (the file's pages or their anonymous
// replacement) if it is still mapped. The caller holds a.mu.
func (a *Arena) unmap() error {
	if a.mem == nil {
		return nil
	}
	if err := a.mem.Unmap(); err != nil { // sets a.mem to nil
		return fmt.Errorf("arena: unmap: %w", err)
	}
	a.unmapMirrors() // closed mirrors went anonymous and waited for this
	return nil
}
