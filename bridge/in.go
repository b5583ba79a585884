package bridge

// In: subject -> ring.
//
// Each message is checked against its producer's dedupe window
// (identity.go): a duplicate is dropped (and, with JetStream, acked); a
// fresh one is pushed into the ring with the ring's blocking Push, which
// waits while the ring is full (back-pressure: with JetStream nothing more
// is fetched or acked meanwhile, and the messages held are kept from
// redelivery with InProgress), then marked seen, then acked. The order
// push, mark, ack is the at-least-once half: a crash before the ack
// redelivers the message, and the window (in the state file) drops it if
// it was pushed.
//
// The one push under way is recorded in the state's pending record
// before it starts (producer, seq and, when the bridge is the ring's only
// producer, the ring position the push takes the ring to). A restart
// finds the record: if the ring's producer position reached that
// position the push landed and the seq is marked seen; otherwise it did
// not and the redelivered message will be pushed. That makes the push
// exactly-once across a SIGKILL of In for SPSC and broadcast targets; for
// an MPMC target, whose positions other producers share, a push caught
// by the crash is pushed again (at-least-once).

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// Target is what In writes: an SPSC, MPMC or broadcast ring's producer.
type Target interface {
	TryPush(msg []byte) error
	Push(ctx context.Context, msg []byte) error
	SlotSize() int
	Stats() ring.Stats
	Region() *arena.Region
}

var (
	_ Target = (ring.Ring)(nil)
	_ Target = (*ring.Broadcast)(nil)
)

// InConfig configures In.
type InConfig struct {
	// Subject is the NATS subject (wildcards allowed) to take messages from.
	Subject string
	// JetStream: a durable pull consumer on the stream (at-least-once,
	// duplicates dropped by identity); otherwise a core NATS subscription
	// (at-most-once).
	JetStream bool
	// Stream: JetStream's stream; created (file storage) if missing; ""
	// finds the stream that captures Subject.
	Stream string
	// Durable names the JetStream consumer (required with JetStream): a
	// restarted In resumes where the consumer's acks left it.
	Durable string
	// Batch is how many messages one fetch asks for (default 256).
	Batch int
	// AckWait is the consumer's ack wait (default 30 s): a message fetched
	// and not acked within it is redelivered. While the ring is full the
	// bridge tells JetStream it is still working on what it holds.
	AckWait time.Duration
	// PendingLimit bounds the messages a core subscription buffers while
	// the ring is full (default 1<<20); beyond it NATS drops messages
	// (they show as gaps).
	PendingLimit int
	// Ready, if set, is called once the subscription (or the consumer) is
	// in place on the server: core NATS messages published before it are
	// not received.
	Ready func()
	// State is the path of the state file (dedupe windows, counters);
	// "" keeps them in memory (a restarted In then cannot tell what it
	// pushed before).
	State string
}

// maxProducers is the size of In's producer table.
const maxProducers = 64

func (c *InConfig) defaults() error {
	if c.Subject == "" {
		return fmt.Errorf("%w: no subject", ErrInvalid)
	}
	if c.JetStream && c.Durable == "" {
		return fmt.Errorf("%w: JetStream needs a durable consumer name", ErrInvalid)
	}
	if c.Batch == 0 {
		c.Batch = 256
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.PendingLimit == 0 {
		c.PendingLimit = 1 << 20
	}
	if c.Batch < 1 || c.AckWait < 100*time.Millisecond || c.PendingLimit < 1 {
		return fmt.Errorf("%w: batch %d, ack wait %v, pending limit %d", ErrInvalid, c.Batch, c.AckWait, c.PendingLimit)
	}
	return nil
}

// In forwards the messages of a NATS subject into a ring.
type In struct {
	cfg   InConfig
	nc    *nats.Conn
	tgt   Target
	st    *state
	dd    *dedupe
	exact bool   // the bridge is the ring's only producer: positions are ours
	pos   uint64 // exact: the ring's producer position
}

// NewIn prepares an In into tgt; Run starts it. It opens (or creates) the
// state file and settles a push a previous run left pending.
func NewIn(nc *nats.Conn, tgt Target, cfg InConfig) (*In, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	in := &In{cfg: cfg, nc: nc, tgt: tgt}
	switch tgt.(type) {
	case *ring.SPSC, *ring.Broadcast:
		in.exact = true
	}
	g := stateGeom{role: roleIn, window: maxProducers, subject: cfg.Subject}
	var err error
	if cfg.State == "" {
		in.st = heapState(g)
	} else if in.st, err = openState(cfg.State, g); err != nil {
		return nil, err
	}
	in.dd = newDedupe(in.st.windows())
	if in.exact {
		in.pos = tgt.Stats().MsgsIn
	}
	p := &in.st.hdr.Pending
	if atomic.LoadUint64(&p.Active) != 0 {
		// A push was under way when the last run ended.
		if in.exact && p.Pos != 0 && in.pos >= p.Pos {
			in.st.windows()[p.Entry].mark(p.Seq)
		}
		atomic.StoreUint64(&p.Active, 0)
	}
	in.updateGaps()
	return in, nil
}

// Counters returns the current counts.
func (in *In) Counters() Counters { return in.st.hdr.Counters.snapshot() }

// Close releases the state file. Call it after Run has returned.
func (in *In) Close() error { return in.st.close() }

// Run takes messages from NATS into the ring until ctx is done, and
// returns nil then (with JetStream, what it fetched and did not push is
// not acked: it is redelivered to the next run). It returns an error if
// the ring refuses a message for good (closed, too large).
func (in *In) Run(ctx context.Context) error {
	if in.cfg.JetStream {
		return in.runJetStream(ctx)
	}
	return in.runCore(ctx)
}

func (in *In) runCore(ctx context.Context) error {
	sub, err := in.nc.SubscribeSync(in.cfg.Subject)
	if err != nil {
		return fmt.Errorf("bridge: subscribe %q: %w", in.cfg.Subject, err)
	}
	defer sub.Unsubscribe()
	if err := sub.SetPendingLimits(in.cfg.PendingLimit, -1); err != nil {
		return fmt.Errorf("bridge: pending limits: %w", err)
	}
	// The subscription is registered once the server has it.
	if err := in.nc.FlushTimeout(5 * time.Second); err != nil {
		return fmt.Errorf("bridge: subscribe %q: %w", in.cfg.Subject, err)
	}
	in.ready()
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, nats.ErrSlowConsumer) {
				continue // counted as gaps by the dedupe windows
			}
			return fmt.Errorf("bridge: next message: %w", err)
		}
		if _, err := in.deliver(ctx, m.Header, m.Data, nil); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (in *In) runJetStream(ctx context.Context) error {
	js, err := jetstream.New(in.nc)
	if err != nil {
		return fmt.Errorf("bridge: jetstream: %w", err)
	}
	stream, err := ensureStream(ctx, js, in.cfg.Stream, in.cfg.Subject)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var cons jetstream.Consumer
	for {
		cons, err = js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable:       in.cfg.Durable,
			AckPolicy:     jetstream.AckExplicitPolicy,
			FilterSubject: in.cfg.Subject,
			AckWait:       in.cfg.AckWait,
			MaxAckPending: 4 * in.cfg.Batch,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err == nil {
			break
		}
		if !retryable(err) {
			return fmt.Errorf("bridge: consumer %q on %q: %w", in.cfg.Durable, stream, err)
		}
		if sleepCtx(ctx, 100*time.Millisecond) != nil {
			return nil
		}
	}
	in.ready()
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		batch, err := cons.Fetch(in.cfg.Batch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			// The server away or restarting: try again.
			if sleepCtx(ctx, backoff) != nil {
				return nil
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		for m := range batch.Messages() {
			if ctx.Err() != nil {
				m.Nak() // not pushed: redeliver it at once to whoever comes next
				continue
			}
			if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
				in.count(&in.st.hdr.Counters.Redelivered, 1)
			}
			if _, err := in.deliver(ctx, m.Headers(), m.Data(), m); err != nil {
				if ctx.Err() != nil {
					m.Nak()
					continue
				}
				return err
			}
			m.Ack() // after the push and the mark: see the top of the file
		}
	}
	return nil
}

func (in *In) ready() {
	if in.cfg.Ready != nil {
		in.cfg.Ready()
	}
}

func (in *In) count(w *uint64, n uint64) { in.st.hdr.Counters.add(w, n) }

// deliver pushes one message unless it is a duplicate, and reports
// whether it pushed it. js is the JetStream message (nil for core), told
// we are in progress while the ring is full.
func (in *In) deliver(ctx context.Context, h nats.Header, data []byte, js jetstream.Msg) (bool, error) {
	c := &in.st.hdr.Counters
	in.count(&c.Received, 1)
	if len(data) > in.tgt.SlotSize() {
		return false, fmt.Errorf("%w: %d bytes, slot size %d", ErrTooLarge, len(data), in.tgt.SlotSize())
	}
	id, ok := identityOf(h)
	if !ok {
		in.count(&c.Foreign, 1)
		return true, in.push(ctx, data, js)
	}
	w, err := in.dd.lookup(id.Producer, id.Seq)
	if err != nil {
		return false, fmt.Errorf("%w: %d producers, new one %q", err, maxProducers, id.Producer)
	}
	if w.observe(id.Seq) == duplicate {
		in.count(&c.Duplicates, 1)
		return false, nil
	}
	p := &in.st.hdr.Pending
	// The pending record, then Active (monitor-visible words; a restart
	// reads them after this process ended).
	atomic.StoreUint64(&p.Entry, uint64(in.entry(w)))
	atomic.StoreUint64(&p.Seq, id.Seq)
	pos := uint64(0)
	if in.exact {
		pos = in.pos + 1
	}
	atomic.StoreUint64(&p.Pos, pos)
	atomic.StoreUint64(&p.Active, 1)
	if err := in.push(ctx, data, js); err != nil {
		atomic.StoreUint64(&p.Active, 0)
		return false, err
	}
	in.pos++
	w.mark(id.Seq)
	atomic.StoreUint64(&p.Active, 0)
	in.updateGaps()
	return true, nil
}

func (in *In) entry(w *window) int {
	for i := range in.dd.table {
		if &in.dd.table[i] == w {
			return i
		}
	}
	return 0
}

// updateGaps publishes the sum of the windows' Missing counts.
func (in *In) updateGaps() {
	var n uint64
	for i := range in.dd.table {
		n += in.dd.table[i].Missing
	}
	atomic.StoreUint64(&in.st.hdr.Counters.Gaps, n)
}

// push pushes data into the ring, waiting while it is full.
func (in *In) push(ctx context.Context, data []byte, js jetstream.Msg) error {
	c := &in.st.hdr.Counters
	err := in.tgt.TryPush(data)
	if errors.Is(err, ring.ErrFull) {
		t0 := time.Now()
		// Wait in slices of a third of the ack wait, telling JetStream
		// between them that the messages we hold are still being worked
		// on, so that it does not redeliver them.
		for {
			pctx, cancel := context.WithTimeout(ctx, in.cfg.AckWait/3)
			err = in.tgt.Push(pctx, data)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				break
			}
			if js != nil {
				js.InProgress()
			}
		}
		in.count(&c.Blocked, uint64(time.Since(t0)))
	}
	if err != nil {
		return fmt.Errorf("bridge: push: %w", err)
	}
	in.count(&c.Pushed, 1)
	return nil
}
