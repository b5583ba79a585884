package ring

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shmring/shmring/arena"
)

// create allocates the ring's region in a and initialises it.
func (c *core) create(a *arena.Arena, name string, cfg Config, kind uint32, akind arena.Kind) error {
	if a == nil {
		return fmt.Errorf("%w: nil arena", ErrInvalid)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	pad := uint64(a.PadUnit())
	if err := checkPad(pad); err != nil {
		return err
	}
	g := computeGeometry(kind, pad, cfg)
	if g.size > maxRingBytes {
		return fmt.Errorf("%w: ring of %d bytes is too large", ErrInvalid, g.size)
	}
	reg, err := a.AllocKind(name, akind, int64(g.size), int64(pad))
	if err != nil {
		return fmt.Errorf("ring: create %q: %w", name, err)
	}
	mem := reg.Bytes()
	if uint64(len(mem)) < g.size {
		return corruptf("region %q has %d bytes, want %d", name, len(mem), g.size)
	}
	initRing(mem, g, uint32(os.Getpid()), time.Now().UnixNano())
	c.region = reg
	c.setup(mem, g)
	return nil
}

// open attaches to the ring in region name of a.
func (c *core) open(a *arena.Arena, name string, kind uint32, akind arena.Kind) error {
	if a == nil {
		return fmt.Errorf("%w: nil arena", ErrInvalid)
	}
	reg, err := a.Lookup(name)
	if err != nil {
		return fmt.Errorf("ring: open %q: %w", name, err)
	}
	if reg.Kind() != akind {
		if reg.Kind() == KindSPSC || reg.Kind() == KindMPMC {
			return fmt.Errorf("%w: %q holds an %s ring", ErrKind, name, kindName(reg.Kind()))
		}
		return fmt.Errorf("%w: region %q is not a ring (kind %#x)", ErrKind, name, uint32(reg.Kind()))
	}
	if err := c.attach(reg.Bytes(), kind, uint64(a.PadUnit())); err != nil {
		return fmt.Errorf("ring: open %q: %w", name, err)
	}
	c.region = reg
	return nil
}

func kindName(k arena.Kind) string {
	switch k {
	case KindSPSC:
		return "SPSC"
	case KindMPMC:
		return "MPMC"
	}
	return "unknown"
}

// initMem initialises a ring over caller memory.
func (c *core) initMem(mem []byte, cfg Config, kind uint32, akind arena.Kind, pad int) error {
	size, err := Size(akind, cfg, pad)
	if err != nil {
		return err
	}
	if int64(len(mem)) < size {
		return fmt.Errorf("%w: ring needs %d bytes, got %d", ErrInvalid, size, len(mem))
	}
	if len(mem) > 0 && uintptrOf(mem)%8 != 0 {
		return fmt.Errorf("%w: ring memory not 8-byte aligned", ErrInvalid)
	}
	// All of it: stale slot headers (an SPSC Seq, an MPMC Len) of reused
	// memory would read as messages.
	for _, b := range mem[:size] {
		if b != 0 {
			return fmt.Errorf("%w: ring memory not zeroed", ErrInvalid)
		}
	}
	g := computeGeometry(kind, uint64(pad), cfg.withDefaults())
	initRing(mem, g, uint32(os.Getpid()), time.Now().UnixNano())
	c.setup(mem, g)
	return nil
}

// Inspect reads the counters of the ring named name in a without attaching
// a handle (it claims no peer entry), for monitoring tools.
func Inspect(a *arena.Arena, name string) (Stats, error) {
	reg, err := a.Lookup(name)
	if err != nil {
		return Stats{}, err
	}
	var kind uint32
	switch reg.Kind() {
	case KindSPSC:
		kind = kindSPSC
	case KindMPMC:
		kind = kindMPMC
	default:
		return Stats{}, fmt.Errorf("%w: region %q is not a ring", ErrKind, name)
	}
	mem := reg.Bytes()
	if len(mem) < ringHeaderSize {
		return Stats{}, errors.New("ring: region too small")
	}
	var c core
	if err := c.attachNoPeer(mem, kind, uint64(a.PadUnit())); err != nil {
		return Stats{}, err
	}
	return c.stats(), nil
}
