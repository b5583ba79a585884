// Command frames hands video-sized frames of varying size (1-8 MiB by
// default) from an encoder process to a decoder process through an
// shmring record ring, with no copy beyond the encoder writing each frame
// into the ring and the decoder reading it there.
//
// Run it from the module root:
//
//	go run ./examples/frames                           # 500 frames, as fast as both sides go
//	go run ./examples/frames -encode-delay 5ms         # a slow encoder: the decoder waits for frames
//	go run ./examples/frames -decode-delay 5ms         # a slow decoder: the encoder waits for room
//	go run ./examples/frames -n 0                      # until Ctrl-C (SIGINT) or SIGTERM
//
// The encoder creates an arena in /dev/shm (-name, -dir) holding one
// record ring of -capacity bytes whose largest record is -max bytes, and
// starts a copy of its own executable as the decoder (-role decoder).
// Frames take exactly their size in the ring (plus a 16-byte record
// header), not a slot of the largest size: a 32 MiB ring holds seven
// frames of the 1-8 MiB mix on average, where slots of 8 MiB hold four.
//
// Zero copy: the encoder reserves a record of the frame's size
// (Reserve), writes the frame into it and commits it (Commit); it keeps
// up to -pipeline reservations outstanding, committing the oldest first.
// The decoder peeks frames in place (Peek), checks each one's sequence
// number and CRC-32C, and releases them in order (Release), up to
// -pipeline outstanding. Neither side waits while holding frames: the
// encoder commits its reservations before it waits for room, the decoder
// releases its peeks before it waits for a frame (else each could wait
// for the other's frames). The record ring never splits a frame at the
// wrap: in an arena its data area is mapped twice, back to back.
//
// Back-pressure is the ring's: a full ring makes Reserve wait until the
// decoder releases, an empty one makes Peek wait; each side reports how
// often it waited.
//
// Shutdown: after -n frames, or on SIGINT or SIGTERM, the encoder commits
// what it reserved and ends the stream (CloseWrite); the decoder drains
// every frame committed before it and then gets io.EOF (a signal does not
// stop the decoder: it drains to the end, so no committed frame is lost).
// The encoder waits for the decoder's report and removes the arena.
//
// Each frame is a 32-byte header, then its payload:
//
//	0   Magic  [4]byte  "FRM1"
//	4   CRC    uint32   CRC-32C (Castagnoli) of the payload
//	8   Seq    uint64   frame number, from 0
//	16  Len    uint32   payload length: the record's length minus 32
//	20  -      [12]byte zero
//
// all little-endian.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// roleEnv, when set to "decoder", makes the program the decoder whatever
// its flags say: the encoder sets it when it starts the decoder, so that
// a test binary standing in for this program (main_test.go) runs the
// decoder rather than its tests.
const roleEnv = "SHMRING_FRAMES_ROLE"

// ringName is the ring's region name in the arena.
const ringName = "frames"

// The frame header.
const (
	headerSize = 32
	magic      = "FRM1"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	role         string
	n            int
	min, max     int
	capacity     int
	pipeline     int
	encodeDelay  time.Duration
	decodeDelay  time.Duration
	name, dir    string
	path         string
	timeout      time.Duration
	waitStrategy string
}

// run is the whole program: it parses args, plays the encoder or the
// decoder, and returns the exit status. stdout and stderr go to the
// decoder process too, so unless they are *os.File they must be safe for
// concurrent writes.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("frames", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.role, "role", "encoder", "encoder or decoder")
	fs.IntVar(&o.n, "n", 500, "frames to send (0: until SIGINT or SIGTERM)")
	fs.IntVar(&o.min, "min", 1<<20, "smallest frame in bytes, header included")
	fs.IntVar(&o.max, "max", 8<<20, "largest frame in bytes, header included")
	fs.IntVar(&o.capacity, "capacity", 32<<20, "ring capacity in bytes (a power of two, at least 2*max+32)")
	fs.IntVar(&o.pipeline, "pipeline", 2, "reservations and peeks each side keeps outstanding")
	fs.DurationVar(&o.encodeDelay, "encode-delay", 0, "extra time the encoder spends per frame")
	fs.DurationVar(&o.decodeDelay, "decode-delay", 0, "extra time the decoder spends per frame")
	fs.StringVar(&o.waitStrategy, "wait", "adaptive", "wait strategy of both sides: spin, yield, block or adaptive")
	fs.StringVar(&o.name, "name", fmt.Sprintf("shmring-frames-%d", os.Getpid()), "arena file name")
	fs.StringVar(&o.dir, "dir", "", "directory for the arena (default "+arena.ShmDir+")")
	fs.StringVar(&o.path, "path", "", "decoder: the arena's path")
	fs.DurationVar(&o.timeout, "timeout", 0, "bound on the whole run (0: none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Getenv(roleEnv) == "decoder" {
		o.role = "decoder"
	}
	if o.min < headerSize || o.max < o.min || o.pipeline < 1 || o.n < 0 {
		fmt.Fprintf(stderr, "frames: want %d <= -min <= -max, -pipeline >= 1, -n >= 0\n", headerSize)
		return 2
	}
	w, err := ring.ParseWaitStrategy(o.waitStrategy)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}

	// sig ends on SIGINT or SIGTERM; ctx also at the timeout.
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx := context.Background()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}

	switch o.role {
	case "encoder":
		err = encode(ctx, sig, o, w, stdout, stderr)
	case "decoder":
		err = decode(ctx, sig, o, w, stdout)
	default:
		err = fmt.Errorf("unknown -role %q (want encoder or decoder)", o.role)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", o.role, err)
		return 1
	}
	return 0
}

// source is the encoder's raw material: frames are cut from it at random
// offsets, so that writing a frame is a real copy of megabytes.
type source struct {
	rng *rand.Rand
	buf []byte
	min int
	max int
}

func newSource(min, max int) *source {
	s := &source{rng: rand.New(rand.NewPCG(13, 1)), buf: make([]byte, max+1<<20), min: min, max: max}
	for i := 0; i+8 <= len(s.buf); i += 8 {
		binary.LittleEndian.PutUint64(s.buf[i:], s.rng.Uint64())
	}
	return s
}

// size draws the next frame's size, uniform in [min, max].
func (s *source) size() int { return s.min + s.rng.IntN(s.max-s.min+1) }

// fill writes frame seq into f (its whole length): the payload copied
// from the source, then the header with the payload's checksum.
func (s *source) fill(f []byte, seq uint64) {
	p := f[headerSize:]
	off := s.rng.IntN(len(s.buf) - len(p) + 1)
	copy(p, s.buf[off:])
	copy(f[0:4], magic)
	binary.LittleEndian.PutUint32(f[4:], crc32.Checksum(p, castagnoli))
	binary.LittleEndian.PutUint64(f[8:], seq)
	binary.LittleEndian.PutUint32(f[16:], uint32(len(p)))
	clear(f[20:headerSize])
}

// check verifies frame f, which must be frame seq.
func check(f []byte, seq uint64) error {
	if len(f) < headerSize || string(f[0:4]) != magic {
		return fmt.Errorf("frame %d: no frame header (%d bytes)", seq, len(f))
	}
	if got := binary.LittleEndian.Uint64(f[8:]); got != seq {
		return fmt.Errorf("frame %d where %d was due", got, seq)
	}
	p := f[headerSize:]
	if n := binary.LittleEndian.Uint32(f[16:]); int(n) != len(p) {
		return fmt.Errorf("frame %d: header says %d payload bytes, record has %d", seq, n, len(p))
	}
	if crc, want := crc32.Checksum(p, castagnoli), binary.LittleEndian.Uint32(f[4:]); crc != want {
		return fmt.Errorf("frame %d: checksum %08x, header says %08x", seq, crc, want)
	}
	return nil
}

// encode is the encoder: arena, ring, decoder process, frames.
func encode(ctx, sig context.Context, o options, w ring.WaitStrategy, stdout, stderr io.Writer) (err error) {
	path := o.name
	if o.dir != "" {
		path = filepath.Join(o.dir, o.name)
	}
	cfg := ring.Config{Capacity: o.capacity, SlotSize: o.max}
	size, err := ring.ArenaSize([]ring.Spec{{Kind: ring.KindRecords, Config: cfg}})
	if err != nil {
		return err
	}
	a, err := arena.Create(path, size)
	if err != nil {
		return err
	}
	defer func() {
		a.Close()
		// WithForce: a decoder started by hand may still be draining; it
		// keeps its mapping of the unlinked file.
		if rerr := arena.Remove(a.Path(), arena.WithForce()); rerr != nil && err == nil {
			err = rerr
		}
	}()
	r, err := ring.CreateRecords(a, ringName, cfg)
	if err != nil {
		return err
	}
	defer r.Detach()
	r.SetWaitStrategy(w)

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-role", "decoder", "-path", a.Path(), "-pipeline", strconv.Itoa(o.pipeline),
		"-decode-delay", o.decodeDelay.String(), "-wait", o.waitStrategy, "-timeout", o.timeout.String())
	cmd.Env = append(os.Environ(), roleEnv+"=decoder")
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start decoder: %w", err)
	}
	decDone := make(chan struct{})
	var decErr error
	go func() { decErr = cmd.Wait(); close(decDone) }()
	defer func() {
		select {
		case <-decDone:
		default: // an error path: the decoder is still running
			_ = cmd.Process.Kill()
			<-decDone
		}
	}()

	// encCtx ends encoding early: a signal, the timeout, the decoder's
	// exit.
	encCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sig.Done():
		case <-decDone:
		case <-encCtx.Done():
		}
		cancel()
	}()
	if err := r.WaitPeers(encCtx, ring.RoleConsumer, 1); err != nil {
		return fmt.Errorf("waiting for the decoder: %w", err)
	}
	fmt.Fprintf(stdout, "encoder: decoder attached; sending %s (%d-%d bytes each) through a %d-byte record ring\n",
		count(o.n), o.min, o.max, o.capacity)

	src := newSource(o.min, o.max)
	var pending []ring.Reservation
	var sent, bytes uint64
	waits := 0
	start := time.Now()
	var stopErr error
	for seq := uint64(0); o.n == 0 || seq < uint64(o.n); seq++ {
		if encCtx.Err() != nil {
			break
		}
		n := src.size()
		res, err := r.TryReserve(n)
		if errors.Is(err, ring.ErrFull) {
			// Back-pressure: the decoder has not released enough yet.
			// Commit what is reserved before waiting: the decoder may be
			// waiting for exactly those frames before it releases any.
			waits++
			for _, p := range pending {
				if err := r.Commit(p, len(p.Buf)); err != nil {
					return err
				}
			}
			pending = pending[:0]
			res, err = r.Reserve(encCtx, n)
		}
		if err != nil {
			if encCtx.Err() == nil {
				stopErr = err
			}
			break
		}
		src.fill(res.Buf, seq)
		if o.encodeDelay > 0 {
			time.Sleep(o.encodeDelay)
		}
		pending = append(pending, res)
		if len(pending) == o.pipeline {
			if err := r.Commit(pending[0], len(pending[0].Buf)); err != nil {
				return err
			}
			pending = pending[1:]
		}
		sent++
		bytes += uint64(n)
	}
	for _, res := range pending {
		if err := r.Commit(res, len(res.Buf)); err != nil {
			return err
		}
	}
	el := time.Since(start)
	// End of stream: the decoder drains what is committed and gets io.EOF.
	if err := r.CloseWrite(); err != nil {
		return err
	}
	select {
	case <-decDone:
	case <-time.After(30 * time.Second):
		return errors.New("decoder did not finish within 30 s of the end of the stream")
	}
	fmt.Fprintf(stdout, "encoder: sent %d frames (%.1f MiB) in %v, %.0f MB/s; waited for room %d times\n",
		sent, float64(bytes)/(1<<20), el.Round(time.Millisecond), float64(bytes)/el.Seconds()/1e6, waits)
	if sig.Err() != nil {
		fmt.Fprintln(stdout, "encoder: stopped by a signal; the stream was ended and drained")
	}
	if decErr != nil {
		return fmt.Errorf("decoder: %w", decErr)
	}
	if stopErr != nil {
		return stopErr
	}
	if err := ctx.Err(); err != nil && sig.Err() == nil {
		return fmt.Errorf("stopped after %d frames: %w", sent, err)
	}
	return nil
}

func count(n int) string {
	if n == 0 {
		return "frames until SIGINT or SIGTERM"
	}
	return fmt.Sprintf("%d frames", n)
}

// decode is the decoder: it checks frames in place until the end of the
// stream and prints what it received.
func decode(ctx, sig context.Context, o options, w ring.WaitStrategy, stdout io.Writer) error {
	if o.path == "" {
		return errors.New("-path is required")
	}
	a, err := arena.Open(o.path)
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := ring.OpenRecords(a, ringName)
	if err != nil {
		return err
	}
	defer r.Detach()
	r.SetWaitStrategy(w)

	var peeked []ring.Message
	var frames, bytes uint64
	waits := 0
	start := time.Now()
	for {
		m, err := r.TryPeek()
		if errors.Is(err, ring.ErrEmpty) {
			// The encoder has not committed the next frame yet. Release
			// what is peeked before waiting: the encoder may be waiting
			// for that room before it commits the next frame.
			waits++
			for _, p := range peeked {
				if err := r.Release(p); err != nil {
					return err
				}
			}
			peeked = peeked[:0]
			m, err = r.Peek(ctx)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("after %d frames: %w", frames, err)
		}
		if err := check(m.Data, frames); err != nil {
			return err
		}
		if o.decodeDelay > 0 {
			time.Sleep(o.decodeDelay)
		}
		frames++
		bytes += uint64(len(m.Data))
		peeked = append(peeked, m)
		if len(peeked) == o.pipeline {
			if err := r.Release(peeked[0]); err != nil {
				return err
			}
			peeked = peeked[1:]
		}
	}
	for _, m := range peeked {
		if err := r.Release(m); err != nil {
			return err
		}
	}
	el := time.Since(start)
	note := ""
	if sig.Err() != nil {
		note = " (signalled: drained to the end of the stream)"
	}
	fmt.Fprintf(stdout, "decoder: received %d frames (%.1f MiB), checksums and order verified, in %v; waited for frames %d times%s\n",
		frames, float64(bytes)/(1<<20), el.Round(time.Millisecond), waits, note)
	return nil
}
