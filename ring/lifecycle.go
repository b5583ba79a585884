package ring

// Lifecycle of a handle, the same for every kind: create a ring in an
// arena (or over caller memory), open or attach to an existing one, claim
// an entry of the ring's peer table, and give it back.

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/cpu"
)

// Option configures a handle at Create, Open, New or Attach.
type Option func(*options)

type options struct {
	openTimeout  time.Duration
	strategy     WaitStrategy
	claimTimeout time.Duration
}

// DefaultOpenTimeout is how long Open and Attach wait by default for a
// ring's creator to mark it ready.
const DefaultOpenTimeout = time.Second

// WithOpenTimeout bounds how long Open and Attach wait for a ring's
// creator to mark it ready (DefaultOpenTimeout without it) before they
// return ErrNotReady. 0 checks once.
func WithOpenTimeout(d time.Duration) Option {
	return func(o *options) { o.openTimeout = max(d, 0) }
}

// WithWaitStrategy sets the handle's initial wait strategy (WaitAdaptive
// without it); SetWaitStrategy changes it later.
func WithWaitStrategy(w WaitStrategy) Option {
	return func(o *options) { o.strategy = w }
}

// WithClaimTimeout makes this MPMC handle pass over claims that another
// live handle has held for longer than d when they block it (Aeron's
// unblock timeout): a producer's reservation (or a push that stalled
// between claiming and committing, say in a SIGSTOP) becomes a skip record
// and that producer's Commit returns ErrFenced; a consumer's peeked (or
// claimed) message is handed to another consumer and its Release returns
// ErrFenced. Without it (0, the default) only the claims of dead handles
// are repaired. Choose d far above the longest pause a healthy holder
// can take: a producer resumed after its claim was passed over may still
// write into the slot's bytes, which by then belong to a later message.
// SPSC handles ignore it.
func WithClaimTimeout(d time.Duration) Option {
	return func(o *options) { o.claimTimeout = max(d, 0) }
}

func applyOptions(opts []Option) (options, error) {
	o := options{openTimeout: DefaultOpenTimeout}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.strategy < WaitAdaptive || o.strategy > WaitBlock {
		return o, fmt.Errorf("%w: wait strategy %d", ErrInvalid, int(o.strategy))
	}
	return o, nil
}

// handle is a kind's handle type, for the constructors below: each kind's
// CreateX, OpenX, NewX and AttachX is one call to them.
type handle interface{ base() *core }

func (c *core) base() *core { return c }

func created[H handle](h H, a *arena.Arena, name string, cfg Config, opts []Option) (H, error) {
	return orNil(h, h.base().create(a, name, cfg, opts))
}

func opened[H handle](h H, a *arena.Arena, name string, opts []Option) (H, error) {
	return orNil(h, h.base().open(a, name, opts))
}

func initialised[H handle](h H, mem []byte, cfg Config, pad int, opts []Option) (H, error) {
	return orNil(h, h.base().initMem(mem, cfg, pad, opts))
}

func attached[H handle](h H, mem []byte, opts []Option) (H, error) {
	return orNil(h, h.base().attach(mem, 0, opts))
}

// orNil returns the handle, or the zero handle (nil) with the error.
func orNil[H handle](h H, err error) (H, error) {
	if err != nil {
		var zero H
		return zero, err
	}
	return h, nil
}

// Create, Open, New and Attach are CreateSPSC, OpenSPSC, ... for code that
// handles every kind (tools, benchmarks, tests): the kind is an argument
// (KindSPSC, KindMPMC), or for Open the kind the region holds.

// Create allocates a region named name in a and initialises a ring of the
// given kind in it.
func Create(a *arena.Arena, name string, kind arena.Kind, cfg Config, opts ...Option) (Ring, error) {
	r, err := handleOfKind(kind)
	if err != nil {
		return nil, err
	}
	return ringOrNil(r, r.(handle).base().create(a, name, cfg, opts))
}

// Open attaches to the ring named name in a, of whatever kind it is.
func Open(a *arena.Arena, name string, opts ...Option) (Ring, error) {
	if a == nil {
		return nil, fmt.Errorf("%w: nil arena", ErrInvalid)
	}
	reg, err := a.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("ring: open %q: %w", name, err)
	}
	r, err := handleOfKind(reg.Kind())
	if err != nil {
		return nil, fmt.Errorf("%w: region %q is not a ring (kind %#x)", ErrKind, name, uint32(reg.Kind()))
	}
	return ringOrNil(r, r.(handle).base().open(a, name, opts))
}

// New initialises a ring of the given kind over caller memory (zeroed,
// 8-byte aligned, at least Size(kind, cfg, padUnit) bytes).
func New(mem []byte, kind arena.Kind, cfg Config, padUnit int, opts ...Option) (Ring, error) {
	r, err := handleOfKind(kind)
	if err != nil {
		return nil, err
	}
	return ringOrNil(r, r.(handle).base().initMem(mem, cfg, padUnit, opts))
}

// Attach attaches a new handle to a ring of the given kind in caller
// memory.
func Attach(mem []byte, kind arena.Kind, opts ...Option) (Ring, error) {
	r, err := handleOfKind(kind)
	if err != nil {
		return nil, err
	}
	return ringOrNil(r, r.(handle).base().attach(mem, 0, opts))
}

// NewHeap makes a ring of the given kind over fresh heap memory, with the
// padding unit a new arena on this CPU would record: for rings between
// goroutines of one process, and for tests (the race detector sees every
// access to heap memory, not to a mapping). It returns the memory too, for
// Attach.
func NewHeap(kind arena.Kind, cfg Config, opts ...Option) (Ring, []byte, error) {
	pad := cpu.Detect().PadUnit()
	size, err := Size(kind, cfg, pad)
	if err != nil {
		return nil, nil, err
	}
	// make([]byte) of 8 bytes or more is 8-byte aligned, as New requires.
	mem := make([]byte, size)
	r, err := New(mem, kind, cfg, pad, opts...)
	if err != nil {
		return nil, nil, err
	}
	return r, mem, nil
}

func handleOfKind(kind arena.Kind) (Ring, error) {
	k, ok := kindOfRegion(kind)
	if !ok {
		return nil, fmt.Errorf("%w: kind %#x is not a ring kind", ErrInvalid, uint32(kind))
	}
	h := k.newHandle()
	if h == nil {
		return nil, fmt.Errorf("%w: a %v ring has no Ring handle (use CreateBroadcast, OpenBroadcast, Subscribe)", ErrKind, k)
	}
	return h, nil
}

// ringOrNil returns the handle as a Ring, or a nil Ring (not a typed nil)
// with the error.
func ringOrNil(r Ring, err error) (Ring, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

// create allocates the ring's region in a and initialises it.
func (c *core) create(a *arena.Arena, name string, cfg Config, opts []Option) (err error) {
	k := c.kind
	o, err := applyOptions(opts)
	if err != nil {
		return err
	}
	if a == nil {
		return fmt.Errorf("%w: nil arena", ErrInvalid)
	}
	if a.ReadOnly() {
		return fmt.Errorf("ring: create %q: %w", name, ErrReadOnly)
	}
	g, err := newGeometry(k, uint64(a.PadUnit()), cfg)
	if err != nil {
		return err
	}
	// The pin before the region exists: nothing below may touch it
	// unpinned, and a closed arena should not get a region nobody
	// initialises.
	if err := c.pinArena(a); err != nil {
		return fmt.Errorf("ring: create %s %q: %w", k, name, err)
	}
	defer c.constructed(&err)
	reg, err := a.AllocKind(name, k.region(), int64(g.size), int64(max(g.pad, g.dataAlign)))
	if err != nil {
		return fmt.Errorf("ring: create %s %q: %w", k, name, err)
	}
	mem := reg.Bytes()
	if uint64(len(mem)) < g.size {
		return corruptf("region %q has %d bytes, want %d", name, len(mem), g.size)
	}
	// A ring in an arena: its handles prove they are alive with liveness
	// locks on their peer entries' bytes of the arena file (peers.go),
	// where the platform has them.
	g.peerLocks = a.LiveLocksSupported()
	if d, ok := c.ops.(dataMapper); ok {
		// Before the header is written: the kind may record how it maps
		// its data (a record ring's ringFlagMirrored).
		if err := d.mapCreate(a, reg, &g); err != nil {
			return fmt.Errorf("ring: create %s %q: %w", k, name, err)
		}
	}
	initRing(mem, g, uint32(os.Getpid()), time.Now().UnixNano())
	c.region, c.arena = reg, a
	return c.start(mem, g, o)
}

// open attaches to the ring in region name of a.
func (c *core) open(a *arena.Arena, name string, opts []Option) (err error) {
	k := c.kind
	if a == nil {
		return fmt.Errorf("%w: nil arena", ErrInvalid)
	}
	if a.ReadOnly() {
		return fmt.Errorf("ring: open %q: %w", name, ErrReadOnly)
	}
	if err := c.pinArena(a); err != nil {
		return fmt.Errorf("ring: open %q: %w", name, err)
	}
	defer c.constructed(&err)
	reg, err := a.Lookup(name)
	if err != nil {
		return fmt.Errorf("ring: open %q: %w", name, err)
	}
	if reg.Kind() != k.region() {
		if other, ok := kindOfRegion(reg.Kind()); ok {
			return fmt.Errorf("%w: %q holds an %s ring, not %s", ErrKind, name, other, k)
		}
		return fmt.Errorf("%w: region %q is not a ring (kind %#x)", ErrKind, name, uint32(reg.Kind()))
	}
	c.region, c.arena = reg, a
	if err := c.attach(reg.Bytes(), uint64(a.PadUnit()), opts); err != nil {
		return fmt.Errorf("ring: open %q: %w", name, err)
	}
	return nil
}

// initMem initialises a ring over caller memory.
func (c *core) initMem(mem []byte, cfg Config, pad int, opts []Option) error {
	o, err := applyOptions(opts)
	if err != nil {
		return err
	}
	g, err := newGeometry(c.kind, uint64(pad), cfg)
	if err != nil {
		return err
	}
	if uint64(len(mem)) < g.size {
		return fmt.Errorf("%w: ring needs %d bytes, got %d", ErrInvalid, g.size, len(mem))
	}
	if uintptrOf(mem)%8 != 0 {
		return fmt.Errorf("%w: ring memory not 8-byte aligned", ErrInvalid)
	}
	// All of it: stale slot headers (an SPSC Seq, an MPMC Len) of reused
	// memory would read as messages.
	for _, b := range mem[:g.size] {
		if b != 0 {
			return fmt.Errorf("%w: ring memory not zeroed", ErrInvalid)
		}
	}
	initRing(mem, g, uint32(os.Getpid()), time.Now().UnixNano())
	return c.start(mem, g, o)
}

// attach builds a handle's core over mem, which holds (or is about to
// hold, if a creator races us) a ring of the handle's kind, and claims a
// peer entry.
func (c *core) attach(mem []byte, arenaPad uint64, opts []Option) error {
	o, err := applyOptions(opts)
	if err != nil {
		return err
	}
	g, err := waitHeader(mem, c.kind, arenaPad, o.openTimeout)
	if err != nil {
		return err
	}
	return c.start(mem, g, o)
}

// dataMapper is implemented by a kind whose handles map their data area
// themselves (a record ring maps it twice: records.go).
type dataMapper interface {
	// mapCreate runs when a ring is created in an arena, before its
	// header is written: it maps the data and records how in g.
	mapCreate(a *arena.Arena, reg *arena.Region, g *geometry) error
	// mapData runs in start, after layout: it maps the data as g says
	// (unless mapCreate did), or fails.
	mapData() error
	// unmapData undoes both (idempotent).
	unmapData()
}

// start derives every pointer and claims a peer entry.
func (c *core) start(mem []byte, g geometry, o options) error {
	c.layout(mem, g)
	c.SetWaitStrategy(o.strategy)
	c.claimTimeout = o.claimTimeout
	if d, ok := c.ops.(dataMapper); ok {
		if err := d.mapData(); err != nil {
			d.unmapData()
			return err
		}
		if err := c.claimPeer(); err != nil {
			d.unmapData()
			return err
		}
		return nil
	}
	return c.claimPeer()
}

// waitHeader waits up to timeout for the ring header in mem to be marked
// ready, then validates it and returns the private geometry.
func waitHeader(mem []byte, k ringKind, arenaPad uint64, timeout time.Duration) (geometry, error) {
	if len(mem) < ringHeaderSize {
		return geometry{}, fmt.Errorf("%w: region of %d bytes is smaller than a ring header", ErrKind, len(mem))
	}
	if uintptrOf(mem)%8 != 0 {
		return geometry{}, fmt.Errorf("%w: ring memory not 8-byte aligned", ErrInvalid)
	}
	h := (*ringHeader)(unsafe.Pointer(&mem[0])) // len >= ringHeaderSize, 8-aligned
	deadline := time.Now().Add(timeout)
	sleep := 20 * time.Microsecond
	for {
		// Acquire: pairs with the release store in initRing; the header
		// bytes read by readHeader were written before it.
		st := atomic.LoadUint32(&h.State)
		if st == stateReady {
			break
		}
		if st != 0 {
			return geometry{}, corruptf("ring state word %#x", st)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return geometry{}, fmt.Errorf("%w: ring not marked ready within %v", ErrNotReady, timeout)
		}
		time.Sleep(min(sleep, left))
		sleep = min(2*sleep, 5*time.Millisecond)
	}
	return readHeader(mem, k, arenaPad)
}

// Detach releases the handle without ending the stream, even for a
// producer: it records the handle's last activity and frees its peer
// entry, so that another handle (in this process or another) can take
// over its side. Close is Detach for every handle except an SPSC
// producer's, whose Close also ends the stream. It is idempotent.
//
// Every operation on the handle afterwards returns an error matching
// ErrClosed (Len, Stats, Peers and Recover return zero values). Blocking
// calls of the handle that are waiting in other goroutines wake and
// return it, and Detach waits (at most a second) for them to leave before
// it frees the entry. A non-blocking operation must not run concurrently
// with Detach: call it after the handle's last one. After the arena
// handle's Close, Detach only releases the handle's hold on the arena's
// memory (closed.go).
func (c *core) Detach() error {
	if c.detached.Swap(true) {
		return nil
	}
	c.detach()
	return nil
}

// Inspect reads the counters of the ring named name in a without attaching
// a handle (it claims no peer entry, and writes nothing: a works opened
// with arena.ReadOnly), for monitoring tools. OpenView gives the rest.
func Inspect(a *arena.Arena, name string) (Stats, error) {
	v, err := OpenView(a, name)
	if err != nil {
		return Stats{}, err
	}
	defer v.Close()
	st := v.Stats()
	if v.c.shut.Load() != 0 { // the arena closed meanwhile: st may be zeros
		return Stats{}, v.c.shutErr()
	}
	return st, nil
}

// joinErr returns the first non-nil error.
func joinErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
