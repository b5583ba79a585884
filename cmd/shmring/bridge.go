package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/bridge"
	"github.com/shmring/shmring/ring"
)

// shmring bridge: forward a ring to a NATS subject (out) or a subject into
// a ring (in), with package bridge. The command only parses flags, opens
// the arena, the ring and the connection, and prints the counters; the
// delivery logic and its guarantees are the package's (docs/scale-out.md).

const bridgeDescription = `Bridge forwards messages between a ring and a NATS subject.

  shmring bridge out ARENA RING nats://HOST:PORT SUBJECT
      consumes RING (SPSC or MPMC: as its only consumer; broadcast: as a
      tethered subscriber) and publishes each message to SUBJECT, until the
      ring's stream ends or SIGINT/SIGTERM.
  shmring bridge in nats://HOST:PORT SUBJECT ARENA RING
      takes SUBJECT's messages and pushes them into RING (as its producer),
      waiting while the ring is full, until SIGINT/SIGTERM.

Core NATS (the default) is at-most-once: what is in flight when a connection
breaks is lost (the receiving side counts the gaps). --jetstream is
at-least-once on the wire and exactly-once into the ring: out keeps each
message in its state file until JetStream acks it, in drops duplicates by
producer and sequence (headers Shmring-Producer, Shmring-Seq, Nats-Msg-Id)
and acks a message only once it is in the ring. The state file (an arena,
--state; by default bridge-out.ARENA.RING or bridge-in.ARENA.RING in /dev/shm)
carries the in-flight messages, the dedupe windows and the counters across
restarts: 'shmring stat STATE' shows them. On SIGINT or SIGTERM the bridge
stops reading, waits for the acks of what it sent (out) and exits 0; the
counters are printed every --interval on stderr and at exit on stdout.
Several URLs may be given comma-separated (a cluster).`

type bridgeFlags struct {
	jetstream                 bool
	stream, durable, state    string
	producer                  string
	creds, nkey, user, pass   string
	tlsCert, tlsKey, tlsCA    string
	maxInFlight, batch, flush int
	ackWait                   time.Duration
	interval                  time.Duration
	from                      string
}

func runBridge(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bridge", "out ARENA RING URL SUBJECT | in URL SUBJECT ARENA RING [flags]", bridgeDescription, stderr)
	var f bridgeFlags
	fs.BoolVar(&f.jetstream, "jetstream", false, "use JetStream (at-least-once on the wire, exactly-once into the ring)")
	fs.StringVar(&f.stream, "stream", "", "JetStream stream `NAME` (created, file storage, if missing; in: default the stream that captures SUBJECT)")
	fs.StringVar(&f.durable, "durable", "", "in: JetStream durable consumer `NAME` (default shmring-ARENA-RING)")
	fs.StringVar(&f.state, "state", "", "state file `ARENA` (default bridge-out.ARENA.RING / bridge-in.ARENA.RING in /dev/shm)")
	fs.StringVar(&f.producer, "id", "", "out: producer id on the wire (default HOST:ARENA:RING, at most 40 bytes)")
	fs.StringVar(&f.creds, "creds", "", "NATS credentials `FILE` (JWT and NKey seed)")
	fs.StringVar(&f.nkey, "nkey", "", "NKey seed `FILE`")
	fs.StringVar(&f.user, "user", "", "user name, or a token without --password")
	fs.StringVar(&f.pass, "password", "", "password")
	fs.StringVar(&f.tlsCert, "tlscert", "", "TLS client certificate `FILE`")
	fs.StringVar(&f.tlsKey, "tlskey", "", "TLS client key `FILE`")
	fs.StringVar(&f.tlsCA, "tlsca", "", "TLS CA `FILE` for the server's certificate")
	fs.IntVar(&f.maxInFlight, "max-inflight", 1024, "out, JetStream: messages published and not yet acked, at most")
	fs.IntVar(&f.flush, "flush-every", 256, "out, core: flush after `N` messages")
	fs.IntVar(&f.batch, "batch", 256, "in, JetStream: messages per fetch")
	fs.DurationVar(&f.ackWait, "ack-wait", 30*time.Second, "in, JetStream: the consumer's ack wait")
	fs.DurationVar(&f.interval, "interval", 10*time.Second, "print the counters on stderr this often (0: only at exit)")
	fs.StringVar(&f.from, "from", "", "out, broadcast ring: join at newest or oldest (default oldest with a state that has history, else newest)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError(fs, "want out or in")
	}
	dir, pos := pos[0], pos[1:]
	if len(pos) != 4 {
		return usageError(fs, "bridge %s wants 4 arguments, got %d", dir, len(pos))
	}
	var arenaName, ringName, url, subject string
	switch dir {
	case "out":
		arenaName, ringName, url, subject = pos[0], pos[1], pos[2], pos[3]
	case "in":
		url, subject, arenaName, ringName = pos[0], pos[1], pos[2], pos[3]
	default:
		return usageError(fs, "%q: want out or in", dir)
	}
	if f.from != "" && f.from != "newest" && f.from != "oldest" {
		return usageError(fs, "--from %q: want newest or oldest", f.from)
	}
	base := filepath.Base(arenaName)
	if f.state == "" {
		f.state = fmt.Sprintf("bridge-%s.%s.%s", dir, base, ringName)
	}
	if f.producer == "" {
		host, _ := os.Hostname()
		f.producer = truncate(fmt.Sprintf("%s:%s:%s", host, base, ringName), bridge.MaxProducerIDLen)
	}
	if f.durable == "" {
		f.durable = durableName("shmring-" + base + "-" + ringName)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := arena.Open(arenaName)
	if err != nil {
		return err
	}
	defer a.Close()
	nc, err := bridge.Connect(url, bridge.ConnectOptions{
		Name: "shmring bridge " + dir + " " + base + "/" + ringName, Creds: f.creds, NKey: f.nkey,
		User: f.user, Password: f.pass, TLSCert: f.tlsCert, TLSKey: f.tlsKey, TLSCA: f.tlsCA,
	})
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDisconnectErrHandler(func(_ *nats.Conn, err error) {
		if err != nil {
			fmt.Fprintf(stderr, "shmring bridge: disconnected: %v\n", err)
		}
	})
	nc.SetReconnectHandler(func(c *nats.Conn) { fmt.Fprintf(stderr, "shmring bridge: reconnected to %s\n", c.ConnectedUrl()) })

	var b bridgeRunner
	var closeRing func() error
	if dir == "out" {
		b, closeRing, err = bridgeOut(nc, a, ringName, subject, f)
	} else {
		b, closeRing, err = bridgeIn(nc, a, ringName, subject, f, stderr)
	}
	if err != nil {
		return err
	}
	defer closeRing()
	defer b.Close()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var tick <-chan time.Time
	if f.interval > 0 {
		t := time.NewTicker(f.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			fmt.Fprintf(stderr, "shmring bridge %s: %s\n", dir, b.Counters())
		case err := <-done:
			fmt.Fprintln(stdout, b.Counters())
			return err
		}
	}
}

// bridgeRunner is a bridge.Out or a bridge.In.
type bridgeRunner interface {
	Run(ctx context.Context) error
	Counters() bridge.Counters
	Close() error
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// durableName keeps the characters a JetStream consumer name allows.
func durableName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || r == ' ' || r == '/' || r == '\\' || r < 0x21 || r > 0x7e {
			return '_'
		}
		return r
	}, s)
}

func bridgeOut(nc *nats.Conn, a *arena.Arena, name, subject string, f bridgeFlags) (bridgeRunner, func() error, error) {
	reg, err := a.Lookup(name)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: ring %q: %w", a.Path(), name, err)
	}
	var src bridge.Source
	var closeRing func() error
	switch reg.Kind() {
	case ring.KindBroadcast:
		from := ring.Newest
		if f.from == "oldest" || (f.from == "" && stateHasHistory(f.state)) {
			from = ring.Oldest
		}
		s, err := ring.Subscribe(a, name, ring.SubscribeOptions{From: from})
		if err != nil {
			return nil, nil, err
		}
		src, closeRing = s, s.Close
	default:
		r, err := ring.Open(a, name)
		if err != nil {
			return nil, nil, err
		}
		src, closeRing = r, r.Close // a consumer's Close never ends the stream
	}
	o, err := bridge.NewOut(nc, src, bridge.OutConfig{
		Subject: subject, JetStream: f.jetstream, Stream: f.stream, Producer: f.producer,
		MaxInFlight: f.maxInFlight, FlushEvery: f.flush, State: f.state,
	})
	if err != nil {
		closeRing()
		return nil, nil, err
	}
	return o, closeRing, nil
}

// stateHasHistory says whether the state file exists and has published
// before (a restart: a broadcast subscriber then rejoins at Oldest and
// skips what it published already).
func stateHasHistory(path string) bool {
	a, err := arena.Open(path, arena.ReadOnly())
	if err != nil {
		return false
	}
	defer a.Close()
	r, err := a.Lookup(bridge.StateRegion)
	if err != nil {
		return false
	}
	st, err := bridge.ReadState(r)
	return err == nil && st.Tail > 1
}

func bridgeIn(nc *nats.Conn, a *arena.Arena, name, subject string, f bridgeFlags, stderr io.Writer) (bridgeRunner, func() error, error) {
	reg, err := a.Lookup(name)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: ring %q: %w", a.Path(), name, err)
	}
	var tgt bridge.Target
	var closeRing func() error
	switch reg.Kind() {
	case ring.KindBroadcast:
		b, err := ring.OpenBroadcast(a, name)
		if err != nil {
			return nil, nil, err
		}
		tgt, closeRing = b, b.Detach // not Close: the bridge's end is not the stream's
	default:
		r, err := ring.Open(a, name)
		if err != nil {
			return nil, nil, err
		}
		tgt, closeRing = r, r.Detach
	}
	in, err := bridge.NewIn(nc, tgt, bridge.InConfig{
		Subject: subject, JetStream: f.jetstream, Stream: f.stream, Durable: f.durable,
		Batch: f.batch, AckWait: f.ackWait, State: f.state,
		Ready: func() { fmt.Fprintf(stderr, "shmring bridge in: receiving %s\n", subject) },
	})
	if err != nil {
		closeRing()
		return nil, nil, err
	}
	return in, closeRing, nil
}
