package bridge

// Out: ring -> subject.
//
// Core NATS: the loop peeks a message, publishes it (nats.go copies it into
// its write buffer), releases it, and every FlushEvery messages (and
// whenever the ring is empty) flushes, which is the flow control: a Flush
// returns once the server has read everything before it. A full reconnect
// buffer (the server away) is retried until it drains, so nothing is
// dropped by the bridge; what the server never received when a
// connection broke is lost (at-most-once), and shows as gaps at In.
//
// JetStream: a message leaves the ring only once it is in the spool, the
// state file's window of MaxInFlight records (state.go), and leaves the
// spool only once JetStream acked it. The reader goroutine waits for a free
// spool record, peeks the ring, copies the message into the record, moves
// the spool's Tail past it, releases the ring slot and publishes it
// asynchronously; the acker goroutine takes the futures in sequence order,
// moves Head past each one acked, and republishes (same id) each one that
// failed or timed out, until acked. A SIGKILL of the bridge at any point
// loses nothing: on restart the records Head..Tail-1 are published again
// (JetStream drops those it already has by Nats-Msg-Id; In drops the rest
// by identity), and a message that was spooled but not released from an
// SPSC ring is discarded from the ring, by position.
//
// Sequence numbers: for an SPSC ring and a broadcast subscriber the seq of
// a message is its ring position + 1, which the ring itself keeps exactly
// across restarts, so a message keeps its id whatever happens to the
// bridge (the bridge must be the ring's only consumer). An MPMC ring's
// positions are shared by every consumer, so there the seq is the spool's
// own counter, and the producer id carries the state file's creation time,
// so that a new state file never reuses an old id.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// Source is what Out reads: an SPSC or MPMC ring's consumer (ring.Ring),
// or a broadcast ring's subscriber (*ring.Subscriber).
type Source interface {
	TryPeek() (ring.Message, error)
	Peek(ctx context.Context) (ring.Message, error)
	Release(m ring.Message) error
	Region() *arena.Region
}

var (
	_ Source = (ring.Ring)(nil)
	_ Source = (*ring.Subscriber)(nil)
)

// OutConfig configures Out.
type OutConfig struct {
	// Subject is the NATS subject messages are published to.
	Subject string
	// JetStream publishes to a stream and keeps each message until it is
	// acked; otherwise core NATS (at-most-once).
	JetStream bool
	// Stream, with JetStream, is created (file storage, Subject only) if
	// no stream of that name exists; "" leaves streams to the operator.
	Stream string
	// Producer is the producer id on the wire (at most 40 bytes); the
	// bridge appends "/" and an epoch (the ring's creation time, or for
	// MPMC the state file's), so a recreated ring is a new producer.
	Producer string
	// MaxInFlight bounds the messages published and not yet acked
	// (JetStream; default 1024, at most WindowSize/2): the spool's size.
	MaxInFlight int
	// FlushEvery: core NATS flushes after this many messages (default 256).
	FlushEvery int
	// AckTimeout: a JetStream ack not received within it is a failed
	// publish, retried (default 5 s).
	AckTimeout time.Duration
	// State is the path of the state file (an arena, see arena.Resolve):
	// the spool and the counters. "" keeps them in memory: a crash of
	// the bridge then loses the messages in flight.
	State string
	// DrainTimeout bounds the wait for acks at the end (default 30 s);
	// messages still unacked then stay in the state file.
	DrainTimeout time.Duration
}

// MaxProducerIDLen is the longest OutConfig.Producer.
const MaxProducerIDLen = 40

func (c *OutConfig) defaults() error {
	if c.Subject == "" {
		return fmt.Errorf("%w: no subject", ErrInvalid)
	}
	if c.Producer == "" || len(c.Producer) > MaxProducerIDLen {
		return fmt.Errorf("%w: producer id %q: want 1..%d bytes", ErrInvalid, c.Producer, MaxProducerIDLen)
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 1024
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > WindowSize/2 {
		return fmt.Errorf("%w: MaxInFlight %d: want 1..%d", ErrInvalid, c.MaxInFlight, WindowSize/2)
	}
	if c.FlushEvery == 0 {
		c.FlushEvery = 256
	}
	if c.FlushEvery < 1 {
		return fmt.Errorf("%w: FlushEvery %d", ErrInvalid, c.FlushEvery)
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 5 * time.Second
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	return nil
}

// seqKind says where a message's sequence number comes from.
type seqKind int

const (
	seqSPSC    seqKind = iota // the consumer position, counted locally from the ring's
	seqCursor                 // the subscriber's cursor
	seqCounter                // the spool's own counter (MPMC)
)

// Out forwards the messages of a ring to a NATS subject.
type Out struct {
	cfg      OutConfig
	nc       *nats.Conn
	js       jetstream.JetStream
	src      Source
	st       *state
	kind     seqKind
	producer string // on the wire
	slotSize int
	next     uint64 // seqSPSC: the seq of the next message
}

// NewOut prepares an Out over src; Run starts it. It opens (or creates)
// the state file.
func NewOut(nc *nats.Conn, src Source, cfg OutConfig) (*Out, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	o := &Out{cfg: cfg, nc: nc, src: src}
	reg := src.Region()
	switch s := src.(type) {
	case *ring.SPSC:
		o.kind, o.slotSize = seqSPSC, s.SlotSize()
	case *ring.Subscriber:
		o.kind, o.slotSize = seqCursor, s.SlotSize()
	case ring.Ring:
		o.kind, o.slotSize = seqCounter, s.SlotSize()
	default:
		return nil, fmt.Errorf("%w: source %T", ErrInvalid, src)
	}
	window := cfg.MaxInFlight
	slot := o.slotSize
	if !cfg.JetStream {
		window, slot = 1, 0 // no spool: counters and the seq counter only
	}
	g := stateGeom{role: roleOut, window: window, slotSize: slot, subject: cfg.Subject}
	epoch := int64(0)
	if reg != nil {
		epoch = reg.Created().UnixNano()
	}
	if o.kind != seqCounter {
		g.producer = cfg.Producer + "/" + strconv.FormatInt(epoch, 36)
	}
	var err error
	if cfg.State == "" {
		o.st = heapState(g)
	} else if o.st, err = openState(cfg.State, g); err != nil {
		return nil, err
	}
	if o.kind == seqCounter {
		// The id carries the state's epoch; an existing state keeps its
		// own (and its producer field, checked by adopt, is set here).
		if o.st.reused {
			g.producer = cstring(o.st.hdr.Producer[:])
		} else {
			g.producer = cfg.Producer + "/" + strconv.FormatInt(o.st.hdr.Created, 36)
			copy(o.st.hdr.Producer[:], g.producer)
		}
	}
	o.producer = g.producer
	if cfg.JetStream {
		opts := []jetstream.JetStreamOpt{
			jetstream.WithPublishAsyncMaxPending(cfg.MaxInFlight + 1),
			jetstream.WithPublishAsyncTimeout(cfg.AckTimeout),
		}
		if o.js, err = jetstream.New(nc, opts...); err != nil {
			o.st.close()
			return nil, fmt.Errorf("bridge: jetstream: %w", err)
		}
	}
	return o, nil
}

// Producer is the producer id this Out publishes under.
func (o *Out) Producer() string { return o.producer }

// Counters returns the current counts.
func (o *Out) Counters() Counters { return o.st.hdr.Counters.snapshot() }

// Close releases the state file. Call it after Run has returned.
func (o *Out) Close() error { return o.st.close() }

// Run forwards messages until the source's stream ends (io.EOF: it then
// waits for the acks of what it published and returns nil) or ctx is
// done (it stops reading the ring, waits for the acks, up to DrainTimeout,
// and returns nil if every message it read was acked).
func (o *Out) Run(ctx context.Context) error {
	if o.cfg.JetStream {
		if _, err := ensureStream(ctx, o.js, o.cfg.Stream, o.cfg.Subject); err != nil {
			return err
		}
		return o.runJetStream(ctx)
	}
	return o.runCore(ctx)
}

// resync aligns the seq of the next message with the ring once the spool
// is empty (Head == Tail), or discards from the ring what the spool holds
// already. It runs before the first read and after a jump of a
// subscriber's cursor.
func (o *Out) resync(ctx context.Context) error {
	h := o.st.hdr
	tail := atomic.LoadUint64(&h.Tail)
	switch o.kind {
	case seqSPSC:
		r := o.src.(*ring.SPSC)
		pos := r.Stats().MsgsOut // the head: nobody but us consumes
		switch {
		case tail-1 > pos:
			// Spooled, and still in the ring: killed between the spool and
			// the release. The spool has them; drop them from the ring.
			n, err := r.Discard(int(tail - 1 - pos))
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("bridge: discard %d spooled messages: %w", tail-1-pos, err)
			}
			pos += uint64(n)
		case tail-1 < pos && atomic.LoadUint64(&h.Head) == tail:
			// Consumed by someone else, or a state from before: resume at
			// the ring's position (the skipped ones are gaps at In).
			atomic.StoreUint64(&h.Head, pos+1)
			atomic.StoreUint64(&h.Tail, pos+1)
		}
		o.next = pos + 1
	case seqCursor:
		s := o.src.(*ring.Subscriber)
		for s.Cursor()+1 < tail { // read before: skip what the spool has
			m, err := s.Peek(ctx)
			if err != nil {
				return fmt.Errorf("bridge: skip to seq %d: %w", tail, err)
			}
			s.Release(m) // a lapped release moves the cursor on too
		}
	}
	return nil
}

// seqOf returns the seq of the message just peeked.
func (o *Out) seqOf() uint64 {
	switch o.kind {
	case seqSPSC:
		return o.next
	case seqCursor:
		return o.src.(*ring.Subscriber).Cursor() + 1
	}
	return atomic.LoadUint64(&o.st.hdr.Tail)
}

// released records that the message of seq left the ring.
func (o *Out) released(seq uint64) {
	if o.kind == seqSPSC {
		o.next = seq + 1
	}
}

// peek waits for the next message; ok is false at the end of the stream.
func (o *Out) peek(ctx context.Context) (m ring.Message, ok bool, err error) {
	m, err = o.src.TryPeek()
	if errors.Is(err, ring.ErrEmpty) {
		m, err = o.src.Peek(ctx)
	}
	switch {
	case err == nil:
		return m, true, nil
	case errors.Is(err, io.EOF):
		return m, false, nil
	}
	return m, false, err
}

func (o *Out) msg(seq uint64, data []byte) *nats.Msg {
	m := &nats.Msg{Subject: o.cfg.Subject, Data: data, Header: make(nats.Header, 3)}
	setIdentity(m.Header, o.producer, seq)
	return m
}

func (o *Out) runCore(ctx context.Context) error {
	if err := o.resync(ctx); err != nil {
		return err
	}
	c := &o.st.hdr.Counters
	h := o.st.hdr
	unflushed := uint64(0)
	// flush waits until the server has read what was published; while
	// disconnected it waits for the reconnection (until ctx ends).
	flush := func(ctx context.Context) error {
		if unflushed == 0 {
			return nil
		}
		for {
			err := o.nc.FlushTimeout(o.cfg.AckTimeout)
			if err == nil {
				c.add(&c.Acked, unflushed)
				atomic.StoreUint64(&c.InFlight, 0)
				unflushed = 0
				return nil
			}
			if o.nc.IsClosed() {
				return fmt.Errorf("bridge: flush: %w", err)
			}
			// Disconnected: the messages wait in the reconnect buffer.
			if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
				return fmt.Errorf("%w: %d messages published and not flushed", ErrDrain, unflushed)
			}
		}
	}
	// drain flushes at the end, for at most DrainTimeout.
	drain := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), o.cfg.DrainTimeout)
		defer cancel()
		return flush(ctx)
	}
	for {
		m, err := o.src.TryPeek()
		if errors.Is(err, ring.ErrEmpty) {
			if err := flush(ctx); ctx.Err() != nil {
				return drain()
			} else if err != nil {
				return err
			}
			m, err = o.src.Peek(ctx)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return drain()
			}
			return fmt.Errorf("bridge: read ring: %w", err)
		}
		seq := o.seqOf()
		nm := o.msg(seq, m.Data)
		for {
			err := o.nc.PublishMsg(nm)
			if err == nil {
				break
			}
			if !errors.Is(err, nats.ErrReconnectBufExceeded) {
				// Not published and not released: the ring keeps it.
				return fmt.Errorf("bridge: publish: %w", err)
			}
			c.add(&c.Retried, 1)
			if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
				return drain() // the ring keeps the message
			}
		}
		if err := o.src.Release(m); err != nil && !errors.Is(err, ring.ErrLapped) {
			return fmt.Errorf("bridge: release: %w", err)
		}
		o.released(seq)
		atomic.StoreUint64(&h.Tail, seq+1) // the MPMC seq counter; the others' position, for monitors
		atomic.StoreUint64(&h.Head, seq+1) // nothing is kept: core has no acks to wait for
		c.add(&c.Published, 1)
		unflushed++
		atomic.StoreUint64(&c.InFlight, unflushed)
		if unflushed >= uint64(o.cfg.FlushEvery) {
			if err := flush(ctx); ctx.Err() != nil {
				return drain()
			} else if err != nil {
				return err
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// inflight is one published message the acker waits for.
type inflight struct {
	seq uint64
	fut jetstream.PubAckFuture // nil: the publish call itself failed
}

func (o *Out) runJetStream(ctx context.Context) error {
	h := o.st.hdr
	c := &h.Counters
	// A window slot per spool record: the reader takes one per message,
	// the acker gives it back once the message is acked. The channel's
	// send and receive order the reader's record writes after the
	// acker's last read of the record's previous message.
	slots := make(chan struct{}, o.cfg.MaxInFlight)
	work := make(chan inflight, o.cfg.MaxInFlight)
	// The acker's context: the drain outlives ctx by DrainTimeout.
	drainCtx, cancelDrain := context.WithCancel(context.Background())
	defer cancelDrain()
	var wg sync.WaitGroup
	var ackErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		ackErr = o.acker(drainCtx, work, slots)
	}()
	// First what a previous run left in flight, in order.
	head, tail := atomic.LoadUint64(&h.Head), atomic.LoadUint64(&h.Tail)
	atomic.StoreUint64(&c.InFlight, tail-head)
	var readErr error
	for q := head; q < tail; q++ {
		slots <- struct{}{}
		c.add(&c.Retried, 1)
		work <- inflight{seq: q, fut: o.publishSpooled(q)}
	}
	// Then drop from the ring what the spool has already (SPSC, broadcast),
	// or take up the ring's numbering (an empty spool).
	readErr = o.resync(ctx)
	if readErr == nil {
		readErr = o.reader(ctx, slots, work)
	}
	close(work)
	// Drain: stop reading, wait for the acks of everything published.
	timer := time.AfterFunc(o.cfg.DrainTimeout, cancelDrain)
	wg.Wait()
	timer.Stop()
	if readErr != nil {
		return readErr
	}
	if ackErr != nil {
		return ackErr
	}
	return nil
}

// reader moves messages from the ring to the spool and publishes them.
func (o *Out) reader(ctx context.Context, slots chan struct{}, work chan<- inflight) error {
	h := o.st.hdr
	c := &h.Counters
	for {
		select {
		case slots <- struct{}{}:
		default:
			t0 := time.Now()
			select {
			case slots <- struct{}{}:
				c.add(&c.Blocked, uint64(time.Since(t0)))
			case <-ctx.Done():
				return nil
			}
		}
		m, ok, err := o.peek(ctx)
		if !ok {
			<-slots
			if err != nil && ctx.Err() != nil {
				return nil
			}
			return err // nil at the end of the stream
		}
		seq := o.seqOf()
		if tail := atomic.LoadUint64(&h.Tail); seq != tail {
			// The subscriber's cursor jumped (lapped, or its tether was
			// released while we were away: the ring went on without us).
			// Let the spool empty, keeping the message, then restart the
			// numbering at its seq: the skipped seqs are gaps at In.
			if seq < tail {
				return fmt.Errorf("%w: ring position %d behind the spool's %d", ErrState, seq-1, tail-1)
			}
			if err := o.waitEmpty(ctx); err != nil {
				return nil // the message stays in the ring
			}
			atomic.StoreUint64(&h.Head, seq)
			atomic.StoreUint64(&h.Tail, seq)
		}
		r, data := o.st.record(seq)
		n := copy(data, m.Data)
		r.Seq, r.Len = seq, uint32(n)
		if o.kind == seqCursor {
			// A broadcast message may have been rewritten under the copy
			// (the join window): Release says so; then it is not ours.
			if err := o.src.Release(m); err != nil {
				if !errors.Is(err, ring.ErrLapped) {
					return fmt.Errorf("bridge: release: %w", err)
				}
				<-slots
				continue
			}
			atomic.StoreUint64(&h.Tail, seq+1) // after the record: see state.go
		} else {
			atomic.StoreUint64(&h.Tail, seq+1) // after the record: see state.go
			if err := o.src.Release(m); err != nil {
				return fmt.Errorf("bridge: release: %w", err)
			}
		}
		o.released(seq)
		c.add(&c.Published, 1)
		atomic.AddUint64(&c.InFlight, 1)
		work <- inflight{seq: seq, fut: o.publishSpooled(seq)}
	}
}

// waitEmpty waits until every spooled message is acked.
func (o *Out) waitEmpty(ctx context.Context) error {
	h := o.st.hdr
	for atomic.LoadUint64(&h.Head) != atomic.LoadUint64(&h.Tail) {
		if err := sleepCtx(ctx, time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// publishSpooled publishes the spool record of seq; nil if the call
// failed (the acker retries it).
func (o *Out) publishSpooled(seq uint64) jetstream.PubAckFuture {
	r, data := o.st.record(seq)
	fut, err := o.js.PublishMsgAsync(o.msg(seq, data[:r.Len]))
	if err != nil {
		return nil
	}
	return fut
}

// acker waits for each message's ack in seq order, retrying failures,
// and frees its spool record. It returns when work is closed and
// everything in it is acked, or when ctx ends (the drain timed out).
func (o *Out) acker(ctx context.Context, work <-chan inflight, slots <-chan struct{}) error {
	h := o.st.hdr
	c := &h.Counters
	backoff := time.Millisecond
	for f := range work {
		for {
			if f.fut == nil {
				if err := sleepCtx(ctx, backoff); err != nil {
					return o.drainErr()
				}
				backoff = min(2*backoff, 500*time.Millisecond)
				c.add(&c.Retried, 1)
				f.fut = o.publishSpooled(f.seq)
				continue
			}
			select {
			case <-f.fut.Ok():
				backoff = time.Millisecond
			case <-f.fut.Err():
				f.fut = nil
				continue
			case <-ctx.Done():
				return o.drainErr()
			}
			break
		}
		// Acked: every seq before it is too (we wait in order).
		atomic.StoreUint64(&h.Head, f.seq+1)
		c.add(&c.Acked, 1)
		atomic.AddUint64(&c.InFlight, ^uint64(0))
		<-slots
	}
	return nil
}

func (o *Out) drainErr() error {
	h := o.st.hdr
	n := atomic.LoadUint64(&h.Tail) - atomic.LoadUint64(&h.Head)
	return fmt.Errorf("%w: %d messages not acked within the drain timeout; they stay in the state file", ErrDrain, n)
}
