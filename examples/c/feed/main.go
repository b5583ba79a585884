// Command feed is the Go market-data feed that examples/c/md_consumer.c
// subscribes to: it creates an arena holding one broadcast ring of
// quotes, waits for -subscribers subscribers (of any language) to join,
// publishes -n quotes (the 48-byte record of examples/marketdata/wire.go:
// numbered 0, 1, 2, ... by their position in the ring, stamped with
// CLOCK_MONOTONIC and a CRC-32C), then closes the ring, which ends the
// stream (every subscriber reads what is left, then EOF), and removes the
// arena once the subscribers have left.
//
//	go run ./examples/c/feed -arena mdfeed -n 1000000 &
//	./md_consumer mdfeed quotes
//
// A bare -arena name lives in /dev/shm; a name with a slash is a path.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

const quoteSize = 48

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	symbols    = [...]string{"AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AMD"}
)

// encodeQuote writes quote seq into b (quoteSize bytes).
func encodeQuote(b []byte, seq uint64, sentNs int64) {
	le := binary.LittleEndian
	sym := symbols[seq%uint64(len(symbols))]
	mid := int64(100_0000 + (seq*7919)%50_0000) // 100.0000 .. 149.9999
	le.PutUint64(b[0:], seq)
	clear(b[8:16])
	copy(b[8:16], sym)
	le.PutUint64(b[16:], uint64(mid-5))
	le.PutUint64(b[24:], uint64(mid+5))
	le.PutUint64(b[32:], uint64(sentNs))
	le.PutUint32(b[40:], crc32.Checksum(b[:40], castagnoli))
	le.PutUint32(b[44:], 0)
}

func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

type options struct {
	arena, ring  string
	n, slots     int
	subscribers  int
	rate         int
	joinTimeout  time.Duration
	leaveTimeout time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("feed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.arena, "arena", "mdfeed", "arena name (in /dev/shm) or path")
	fs.StringVar(&o.ring, "ring", "quotes", "broadcast ring name")
	fs.IntVar(&o.n, "n", 1_000_000, "quotes to publish")
	fs.IntVar(&o.slots, "slots", 1024, "ring capacity in quotes (a power of two)")
	fs.IntVar(&o.subscribers, "subscribers", 1, "subscribers to wait for before publishing")
	fs.IntVar(&o.rate, "rate", 0, "quotes per second (0: as fast as the tethered subscribers read)")
	fs.DurationVar(&o.joinTimeout, "join-timeout", 30*time.Second, "how long to wait for the subscribers")
	fs.DurationVar(&o.leaveTimeout, "leave-timeout", 30*time.Second, "how long to wait for them to leave after the end")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := feed(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "feed: %v\n", err)
		return 1
	}
	return 0
}

func feed(ctx context.Context, o options, stdout io.Writer) error {
	cfg := ring.Config{Slots: o.slots, SlotSize: quoteSize, Subscribers: max(o.subscribers, 4)}
	size, err := ring.ArenaSize([]ring.Spec{{Kind: ring.KindBroadcast, Config: cfg}})
	if err != nil {
		return err
	}
	a, err := arena.Create(o.arena, size)
	if err != nil {
		return err
	}
	defer func() {
		_ = a.Close()
		_ = arena.Remove(o.arena, arena.WithForce())
	}()
	b, err := ring.CreateBroadcast(a, o.ring, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(stdout, "feed: arena %s ring %s: waiting for %d subscribers\n", o.arena, o.ring, o.subscribers)
	if err := waitSubscribers(ctx, b, func(n int) bool { return n >= o.subscribers }, o.joinTimeout); err != nil {
		return fmt.Errorf("subscribers: %w", err)
	}
	var every time.Duration
	if o.rate > 0 {
		every = time.Second / time.Duration(o.rate)
	}
	start := time.Now()
	buf := make([]byte, quoteSize)
	for seq := uint64(0); seq < uint64(o.n); seq++ {
		if every > 0 {
			if d := time.Until(start.Add(time.Duration(seq) * every)); d > 0 {
				time.Sleep(d)
			}
		}
		encodeQuote(buf, seq, monoNow())
		if err := b.Push(ctx, buf); err != nil { // waits only for a tethered subscriber a ring behind
			return fmt.Errorf("quote %d: %w", seq, err)
		}
	}
	el := time.Since(start)
	st := b.Stats()
	if err := b.CloseWrite(); err != nil { // ends the stream: subscribers get EOF after the last quote
		return err
	}
	fmt.Fprintf(stdout, "feed: published %d quotes in %v (%.0f/s), full events %d\n", o.n, el.Round(time.Millisecond),
		float64(o.n)/el.Seconds(), st.FullEvents)
	// The arena is removed when we return: let the subscribers read to
	// the end and leave first (they would keep their mapping anyway).
	return waitSubscribers(ctx, b, func(n int) bool { return n == 0 }, o.leaveTimeout)
}

// waitSubscribers polls the ring's live subscribers until ok says enough.
func waitSubscribers(ctx context.Context, b *ring.Broadcast, ok func(int) bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n := 0
		for _, s := range b.Subscribers() {
			if s.Alive {
				n++
			}
		}
		if ok(n) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d joined within %v", n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
