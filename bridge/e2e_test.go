package bridge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// The bridge processes of the end-to-end tests: this test binary run again
// as role "out" or "in" (internal/xproc), each with its own arena.
func TestMain(m *testing.M) {
	xproc.Main(m, map[string]xproc.Role{
		"out": xproc.SpecRole(runOutRole),
		"in":  xproc.SpecRole(runInRole),
	})
}

// bridgeSpec is a bridge process's instructions.
type bridgeSpec struct {
	Arena, Ring, URL, Subject string
	JetStream                 bool
	Stream, Durable, State    string
	MaxInFlight               int
}

// until runs body with a context that SIGTERM or SIGINT cancels, and
// prints the counters at the end as key=value tokens.
func untilSignal(body func(ctx context.Context) (Counters, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c, err := body(ctx)
	fmt.Println(c.String())
	return err
}

func runOutRole(s bridgeSpec) error {
	return untilSignal(func(ctx context.Context) (Counters, error) {
		a, err := arena.Open(s.Arena)
		if err != nil {
			return Counters{}, err
		}
		defer a.Close()
		r, err := ring.Open(a, s.Ring)
		if err != nil {
			return Counters{}, err
		}
		defer r.Close()
		nc, err := Connect(s.URL, ConnectOptions{Name: "out"})
		if err != nil {
			return Counters{}, err
		}
		defer nc.Close()
		o, err := NewOut(nc, r, OutConfig{Subject: s.Subject, JetStream: s.JetStream, Stream: s.Stream,
			Producer: "test-out", State: s.State, MaxInFlight: s.MaxInFlight})
		if err != nil {
			return Counters{}, err
		}
		defer o.Close()
		err = o.Run(ctx)
		return o.Counters(), err
	})
}

func runInRole(s bridgeSpec) error {
	return untilSignal(func(ctx context.Context) (Counters, error) {
		a, err := arena.Open(s.Arena)
		if err != nil {
			return Counters{}, err
		}
		defer a.Close()
		r, err := ring.Open(a, s.Ring)
		if err != nil {
			return Counters{}, err
		}
		defer r.Detach() // not Close: an SPSC producer's Close would end the stream
		nc, err := Connect(s.URL, ConnectOptions{Name: "in"})
		if err != nil {
			return Counters{}, err
		}
		defer nc.Close()
		in, err := NewIn(nc, r.(Target), InConfig{Subject: s.Subject, JetStream: s.JetStream, Stream: s.Stream,
			Durable: s.Durable, State: s.State, AckWait: 5 * time.Second, Ready: func() { fmt.Println("ready") }})
		if err != nil {
			return Counters{}, err
		}
		defer in.Close()
		err = in.Run(ctx)
		return in.Counters(), err
	})
}

// natsServer is an in-process nats-server with JetStream, restartable on
// the same port and store.
type natsServer struct {
	t    testing.TB
	opts *server.Options
	srv  *server.Server
}

func startServer(t testing.TB) *natsServer {
	t.Helper()
	ns := &natsServer{t: t, opts: &server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
	}}
	ns.start()
	ns.opts.Port = ns.srv.Addr().(*net.TCPAddr).Port // restarts reuse it
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	srv, err := server.NewServer(ns.opts)
	if err != nil {
		ns.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		ns.t.Fatal("nats-server not ready in 10 s")
	}
	ns.srv = srv
}

func (ns *natsServer) stop() {
	if ns.srv != nil {
		ns.srv.Shutdown()
		ns.srv.WaitForShutdown()
		ns.srv = nil
	}
}

func (ns *natsServer) restart() { ns.stop(); ns.start() }

func (ns *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ns.opts.Port) }

// Test messages: seq (8 bytes), a checksum of the rest (8 bytes), filler.
const testMsgSize = 64

var crcTable = crc64.MakeTable(crc64.ECMA)

func fillMsg(b []byte, seq uint64) {
	binary.LittleEndian.PutUint64(b, seq)
	for i := 16; i < len(b); i++ {
		b[i] = byte(seq*31 + uint64(i))
	}
	binary.LittleEndian.PutUint64(b[8:], crc64.Checksum(append(b[:8:8], b[16:]...), crcTable))
}

func checkMsg(b []byte) (uint64, error) {
	if len(b) != testMsgSize {
		return 0, fmt.Errorf("length %d", len(b))
	}
	seq := binary.LittleEndian.Uint64(b)
	if crc64.Checksum(append(b[:8:8], b[16:]...), crcTable) != binary.LittleEndian.Uint64(b[8:]) {
		return seq, fmt.Errorf("seq %d: checksum mismatch", seq)
	}
	return seq, nil
}

// hop is one end-to-end run: host A's arena and ring, host B's, the
// server and the two bridge processes.
type hop struct {
	t         *testing.T
	ns        *natsServer
	jetstream bool
	arenaA    *arena.Arena
	arenaB    *arena.Arena
	src, dst  ring.Ring
	out, in   *xproc.Child
	outSpec   bridgeSpec
	inSpec    bridgeSpec
	mu        sync.Mutex
	outs, ins []string // outputs of finished bridge processes
}

func newHop(t *testing.T, jetstream bool, dstSlots int) *hop {
	t.Helper()
	h := &hop{t: t, ns: startServer(t), jetstream: jetstream}
	name := func(s string) string {
		return fmt.Sprintf("shmring-bridge-test-%d-%s-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_"), s)
	}
	mk := func(an, rn string, slots int) (*arena.Arena, ring.Ring) {
		a, err := arena.Create(an, 4<<20)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close(); arena.Remove(an, arena.WithForce()) })
		r, err := ring.Create(a, rn, ring.KindSPSC, ring.Config{Slots: slots, SlotSize: 128})
		if err != nil {
			t.Fatal(err)
		}
		return a, r
	}
	h.arenaA, h.src = mk(name("A"), "src", 1024)
	h.arenaB, h.dst = mk(name("B"), "dst", dstSlots)
	state := func(s string) string {
		p := filepath.Join("/dev/shm", name(s))
		t.Cleanup(func() { arena.Remove(p, arena.WithForce()) })
		return p
	}
	h.outSpec = bridgeSpec{Arena: name("A"), Ring: "src", URL: h.ns.url(), Subject: "ticks", JetStream: jetstream,
		Stream: "TICKS", State: state("out-state"), MaxInFlight: 256}
	h.inSpec = bridgeSpec{Arena: name("B"), Ring: "dst", URL: h.ns.url(), Subject: "ticks", JetStream: jetstream,
		Stream: "TICKS", Durable: "bridge-in", State: state("in-state")}
	return h
}

func (h *hop) start(role string) *xproc.Child {
	spec := h.outSpec
	if role == "in" {
		spec = h.inSpec
	}
	args, err := xproc.SpecArgs(spec)
	if err != nil {
		h.t.Fatal(err)
	}
	c := xproc.StartT(h.t, role, args...)
	if role == "in" {
		h.in = c
	} else {
		h.out = c
	}
	return c
}

// kill SIGKILLs a bridge process and waits for it to be gone.
func (h *hop) kill(c *xproc.Child) {
	syscall.Kill(c.Pid(), syscall.SIGKILL)
	<-c.Done()
}

// stop SIGTERMs a bridge process (a clean shutdown) and returns its
// output, failing the test if it did not exit cleanly.
func (h *hop) stop(c *xproc.Child) string {
	h.t.Helper()
	syscall.Kill(c.Pid(), syscall.SIGTERM)
	select {
	case <-c.Done():
	case <-time.After(60 * time.Second):
		h.t.Fatalf("%s did not stop within 60 s after SIGTERM", c)
	}
	if err := c.Err(); err != nil {
		h.t.Fatal(err)
	}
	return c.Stdout()
}

// produce pushes seqs 1..n into the source ring.
func (h *hop) produce(ctx context.Context, n int, errc chan<- error) {
	var b [testMsgSize]byte
	for s := uint64(1); s <= uint64(n); s++ {
		fillMsg(b[:], s)
		err := h.src.Push(ctx, b[:])
		for errors.Is(err, ring.ErrPeerDead) && ctx.Err() == nil {
			// The Out bridge was killed and its successor has not opened
			// the ring yet.
			time.Sleep(10 * time.Millisecond)
			err = h.src.Push(ctx, b[:])
		}
		if err != nil {
			errc <- fmt.Errorf("push %d: %w", s, err)
			return
		}
	}
	errc <- nil
}

// tally is what the consumer at host B saw.
type tally struct {
	seen       []bool
	distinct   int
	duplicates int
	corrupt    error
}

// consume pops from the destination ring until want distinct messages
// arrived or ctx ends; pause, if set, is called before each pop (to hold
// the ring full for a while).
func (h *hop) consume(ctx context.Context, n, want int, pause func(distinct int)) *tally {
	tl := &tally{seen: make([]bool, n+1)}
	buf := make([]byte, 256)
	for tl.distinct < want {
		if pause != nil {
			pause(tl.distinct)
		}
		k, err := h.dst.Pop(ctx, buf)
		if errors.Is(err, ring.ErrPeerDead) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond) // the In bridge killed, its successor not there yet
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				tl.corrupt = err
			}
			return tl
		}
		seq, err := checkMsg(buf[:k])
		if err != nil || seq == 0 || seq > uint64(n) {
			tl.corrupt = fmt.Errorf("message %d: %v", seq, err)
			return tl
		}
		if tl.seen[seq] {
			tl.duplicates++
			continue
		}
		tl.seen[seq] = true
		tl.distinct++
	}
	return tl
}

// settle waits until nothing more arrives for quiet, and counts it.
func (h *hop) settle(tl *tally, n int, quiet time.Duration) {
	buf := make([]byte, 256)
	last := time.Now()
	for time.Since(last) < quiet {
		k, err := h.dst.TryPop(buf)
		if errors.Is(err, ring.ErrEmpty) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err != nil {
			tl.corrupt = err
			return
		}
		last = time.Now()
		seq, err := checkMsg(buf[:k])
		if err != nil || seq == 0 || seq > uint64(n) {
			tl.corrupt = fmt.Errorf("message %d: %v", seq, err)
			return
		}
		if tl.seen[seq] {
			tl.duplicates++
		} else {
			tl.seen[seq] = true
			tl.distinct++
		}
	}
}
