// Command quotes streams market quotes from a publisher process to a
// consumer process through an shmring SPSC ring in shared memory, and
// reports the one-way latency of each quote.
//
// Run it from the module root:
//
//	go run ./examples/quotes                          # 100000 quotes, adaptive waiting
//	go run ./examples/quotes -n 1000000 -wait spin    # lowest latency, two busy cores
//	go run ./examples/quotes -wait block -interval 1ms -n 2000
//
// The publisher creates an arena in /dev/shm named by -name (default
// shmring-quotes-<pid>; -dir puts it in another directory) with one SPSC
// ring in it, and starts a copy of its own executable as the consumer
// (-role consumer). Once the consumer has attached it publishes -n quotes,
// closes the ring, waits for the consumer to drain it and print its
// figures, and removes the arena, also when interrupted (Ctrl-C). To run
// the consumer yourself, in another terminal, start the publisher with
// -spawn=false and then
//
//	go run ./examples/quotes -role consumer -path /dev/shm/shmring-quotes-<pid>
//
// Each quote is a fixed 32-byte little-endian record (see quote) written in
// place into the ring's slot with Reserve and Commit. Its send time is
// CLOCK_MONOTONIC, which every process on one machine shares; Go's own
// monotonic readings (time.Now) are relative to each process's start and
// cannot be compared across processes. The consumer subtracts the send
// time from its own CLOCK_MONOTONIC reading on receipt. When the publisher
// outruns the consumer the figures include the time quotes spent queued in
// the ring; -interval paces the publisher to show the hand-off alone.
//
// The flags: -n quotes, -wait spin|yield|block|adaptive (both sides), -slots
// ring capacity, -interval pause between quotes, -name and -dir for the
// arena, -spawn, -timeout (bounds the whole run; 0 means none).
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// roleEnv, when set to "consumer", makes the program a consumer whatever
// its flags say. The publisher sets it when it starts the consumer, so
// that a test binary standing in for this program (see main_test.go) knows
// to run the consumer rather than its tests.
const roleEnv = "SHMRING_QUOTES_ROLE"

// ringName is the ring's region name in the arena.
const ringName = "quotes"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program: it parses args, plays the publisher or the
// consumer, and returns the exit status. stdout and stderr are handed to
// the consumer process too, so unless they are *os.File they must be safe
// for concurrent writes.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("quotes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.role, "role", "publisher", "publisher or consumer")
	fs.IntVar(&o.n, "n", 100_000, "number of quotes")
	fs.StringVar(&o.wait, "wait", "adaptive", "wait strategy: spin, yield, block or adaptive")
	fs.IntVar(&o.slots, "slots", 4096, "ring capacity in quotes (a power of two)")
	fs.DurationVar(&o.interval, "interval", 0, "pause between quotes (0: as fast as possible)")
	fs.StringVar(&o.name, "name", fmt.Sprintf("shmring-quotes-%d", os.Getpid()), "arena file name")
	fs.StringVar(&o.dir, "dir", "", "directory for the arena (default "+arena.ShmDir+")")
	fs.StringVar(&o.path, "path", "", "consumer: the arena's path")
	fs.BoolVar(&o.spawn, "spawn", true, "publisher: start the consumer process itself")
	fs.DurationVar(&o.timeout, "timeout", 0, "bound on the whole run (0: none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Getenv(roleEnv) == "consumer" {
		o.role = "consumer"
	}
	w, err := ring.ParseWaitStrategy(o.wait)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	o.strategy = w

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}

	switch o.role {
	case "publisher":
		err = publish(ctx, o, stdout, stderr)
	case "consumer":
		err = consume(ctx, o, stdout)
	default:
		err = fmt.Errorf("unknown -role %q (want publisher or consumer)", o.role)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", o.role, err)
		return 1
	}
	return 0
}

type options struct {
	role     string
	n        int
	wait     string
	strategy ring.WaitStrategy
	slots    int
	interval time.Duration
	name     string
	dir      string
	path     string
	spawn    bool
	timeout  time.Duration
}

// quote is the wire record, 32 bytes, little-endian:
//
//	0   Symbol  [8]byte  ASCII, NUL-padded
//	8   Bid     int64    price in units of 1/10000
//	16  Ask     int64    price in units of 1/10000
//	24  SentNs  int64    CLOCK_MONOTONIC nanoseconds when published
type quote struct {
	Symbol [8]byte
	Bid    int64
	Ask    int64
	SentNs int64
}

// quoteSize is the encoded size of a quote (binary.Size(quote{})).
const quoteSize = 32

func (q *quote) encode(b []byte) {
	_ = b[quoteSize-1] // one bounds check
	copy(b[0:8], q.Symbol[:])
	binary.LittleEndian.PutUint64(b[8:], uint64(q.Bid))
	binary.LittleEndian.PutUint64(b[16:], uint64(q.Ask))
	binary.LittleEndian.PutUint64(b[24:], uint64(q.SentNs))
}

func (q *quote) decode(b []byte) error {
	if len(b) != quoteSize {
		return fmt.Errorf("quote of %d bytes, want %d", len(b), quoteSize)
	}
	copy(q.Symbol[:], b[0:8])
	q.Bid = int64(binary.LittleEndian.Uint64(b[8:]))
	q.Ask = int64(binary.LittleEndian.Uint64(b[16:]))
	q.SentNs = int64(binary.LittleEndian.Uint64(b[24:]))
	return nil
}

// monoNow reads CLOCK_MONOTONIC, the clock every process on the machine
// shares.
func monoNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err) // CLOCK_MONOTONIC is always available on Linux
	}
	return ts.Nano()
}

// feed is a deterministic random walk of a few instruments' prices.
type feed struct {
	rng  *rand.Rand
	syms [][8]byte
	mid  []int64
}

func newFeed() *feed {
	f := &feed{rng: rand.New(rand.NewPCG(1, 2))}
	for _, s := range []struct {
		sym string
		mid int64
	}{{"AAPL", 2_274_500}, {"MSFT", 4_151_200}, {"NVDA", 1_389_900}, {"EURUSD", 10_842}, {"BTCUSD", 970_125_000}} {
		var b [8]byte
		copy(b[:], s.sym)
		f.syms = append(f.syms, b)
		f.mid = append(f.mid, s.mid)
	}
	return f
}

func (f *feed) next(q *quote) {
	i := f.rng.IntN(len(f.syms))
	f.mid[i] += f.rng.Int64N(21) - 10
	f.mid[i] = max(f.mid[i], 10)
	half := 1 + f.rng.Int64N(3)
	q.Symbol, q.Bid, q.Ask = f.syms[i], f.mid[i]-half, f.mid[i]+half
}

// publish is the publisher: arena, ring, consumer process, quotes.
func publish(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	path := o.name
	if o.dir != "" {
		path = filepath.Join(o.dir, o.name)
	}
	cfg := ring.Config{Slots: o.slots, SlotSize: quoteSize}
	need, err := ring.Size(ring.KindSPSC, cfg, 4096) // the largest padding unit: an upper bound
	if err != nil {
		return err
	}
	a, err := arena.Create(path, need+1<<20) // plus header and directory
	if err != nil {
		return err
	}
	defer func() {
		a.Close()
		// WithForce: a consumer started on its own may still be draining;
		// it keeps its mapping of the unlinked file.
		if rerr := arena.Remove(a.Path(), arena.WithForce()); rerr != nil && err == nil {
			err = rerr
		}
	}()
	r, err := ring.CreateSPSC(a, ringName, cfg)
	if err != nil {
		return err
	}
	defer r.Detach()
	r.SetWaitStrategy(o.strategy)

	// pubCtx ends publishing early on a signal, the timeout, or the
	// consumer's exit.
	pubCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	consDone := make(chan struct{})
	var consErr error
	if o.spawn {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cmd := exec.Command(exe, "-role", "consumer", "-path", a.Path(), "-wait", o.wait, "-n", strconv.Itoa(o.n))
		cmd.Env = append(os.Environ(), roleEnv+"=consumer")
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start consumer: %w", err)
		}
		go func() {
			consErr = cmd.Wait()
			close(consDone)
			cancel()
		}()
		defer func() {
			// Kill a consumer that is still running (on error paths);
			// after a normal run it has exited already.
			select {
			case <-consDone:
			default:
				_ = cmd.Process.Kill()
				<-consDone
			}
		}()
	} else {
		fmt.Fprintf(stdout, "publisher: waiting for a consumer: go run ./examples/quotes -role consumer -path %s\n", a.Path())
	}

	// Wait for the consumer to attach, so that the first quotes do not
	// sit in the ring while it starts up.
	for r.Stats().Peers < 2 {
		select {
		case <-consDone:
			return fmt.Errorf("consumer exited before attaching: %v", consErr)
		case <-pubCtx.Done():
			return context.Cause(pubCtx)
		case <-time.After(time.Millisecond):
		}
	}

	f := newFeed()
	var q quote
	sent := 0
	start := time.Now()
	for ; sent < o.n && pubCtx.Err() == nil; sent++ {
		// Reserve a slot, then stamp and encode the quote straight into
		// it: the timestamp is taken once the quote can actually go.
		res, err := r.Reserve(pubCtx, quoteSize)
		if err != nil {
			break
		}
		f.next(&q)
		q.SentNs = monoNow()
		q.encode(res.Buf)
		if err := r.Commit(res, quoteSize); err != nil {
			return err
		}
		if o.interval > 0 {
			time.Sleep(o.interval)
		}
	}
	el := time.Since(start)
	// End of stream: the consumer drains what is left and gets io.EOF.
	r.CloseWrite()
	if o.spawn {
		select {
		case <-consDone:
		case <-time.After(10 * time.Second):
			return errors.New("consumer did not finish within 10s of the end of the stream")
		}
	}
	// After the consumer's report, so that the two do not interleave.
	fmt.Fprintf(stdout, "publisher: sent %d quotes in %v\n", sent, el.Round(time.Microsecond))
	if o.spawn && consErr != nil {
		return fmt.Errorf("consumer: %w", consErr)
	}
	if sent < o.n {
		return fmt.Errorf("stopped after %d of %d quotes: %w", sent, o.n, context.Cause(pubCtx))
	}
	return nil
}

// consume is the consumer: it reads quotes until the end of the stream and
// prints the latency distribution.
func consume(ctx context.Context, o options, stdout io.Writer) error {
	if o.path == "" {
		return errors.New("-path is required")
	}
	a, err := arena.Open(o.path)
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := ring.OpenSPSC(a, ringName)
	if err != nil {
		return err
	}
	defer r.Detach()
	r.SetWaitStrategy(o.strategy)

	lat := make([]int64, 0, max(o.n, 0))
	buf := make([]byte, r.SlotSize())
	var q quote
	var first, last int64
	var stopErr error
	for {
		n, err := r.Pop(ctx, buf)
		now := monoNow()
		if err == io.EOF {
			break
		}
		if err != nil {
			stopErr = err // interrupted: report what we have
			break
		}
		if err := q.decode(buf[:n]); err != nil {
			return err
		}
		if q.Bid <= 0 || q.Ask <= q.Bid {
			return fmt.Errorf("quote %d: %s bid %d ask %d", len(lat), symbol(q.Symbol), q.Bid, q.Ask)
		}
		if q.SentNs < last {
			return fmt.Errorf("quote %d sent at %d, before the previous one (%d)", len(lat), q.SentNs, last)
		}
		if len(lat) == 0 {
			first = q.SentNs
		}
		last = q.SentNs
		lat = append(lat, now-q.SentNs)
	}

	// One write per report, so that it does not interleave with the
	// publisher's output.
	report := fmt.Sprintf("consumer: received %d quotes\n", len(lat))
	if len(lat) > 0 {
		slices.Sort(lat)
		pct := func(p int) time.Duration { return time.Duration(lat[min(len(lat)-1, len(lat)*p/100)]) }
		report = fmt.Sprintf("consumer: received %d quotes sent over %v\nconsumer: one-way latency p50 %v  p99 %v  max %v\n",
			len(lat), time.Duration(last-first).Round(time.Microsecond), pct(50), pct(99), time.Duration(lat[len(lat)-1]))
	}
	io.WriteString(stdout, report)
	if stopErr != nil {
		return fmt.Errorf("stopped before the end of the stream: %w", stopErr)
	}
	return nil
}

func symbol(s [8]byte) string {
	n := 0
	for n < len(s) && s[n] != 0 {
		n++
	}
	return string(s[:n])
}
