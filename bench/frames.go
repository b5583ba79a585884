package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"time"

	"github.com/shmring/shmring/ring"
)

// Frames: the record ring's rows (issue 13). Frames of varying sizes go
// one way, parent to peer, through a record ring, through the fixed-slot
// SPSC ring whose slots are sized for the largest frame, and through a
// Unix stream socket (length-prefixed), all with the same sequence of
// frames, in the same run:
//
//   - throughput, for each frame mix (frameMixes): the parent streams
//     frames for the throughput duration, then a stop frame; the peer
//     verifies each and acknowledges the count, which must match;
//   - hand-off latency, at each of frameLatencySizes: the parent fills a
//     frame, stamps it with the wall clock and commits it; the peer, on
//     peek, reads the clock and acknowledges at once with the difference
//     (commit to peek, one way), then verifies and releases the frame and
//     says so; the parent times the commit to the acknowledgement (the
//     round trip) and waits for the release before the next frame, so
//     every hand-off starts with an idle, spinning peer.
//
// Both sides touch every byte: the producer copies the frame from a
// source buffer into the reservation (Reserve/Commit on the rings; a
// buffer written with one write(2) on the socket), and the consumer
// checks a CRC-32C of the whole payload (Peek/Release on the rings; read
// into a buffer on the socket). The frames are frameDescs descriptors,
// (size, offset into the source) drawn from the mix with a fixed seed,
// which both sides derive from the spec: the peer knows each frame's
// size and checksum without the parent computing one.
//
// Memory: the fixed-slot ring has frameInFlight slots of the mix's
// largest frame; the record ring's capacity is the smallest multiple of
// 4096 (a record ring's capacity needs no power of two) that holds
// frameInFlight frames of the mix's mean size (records of span(n) bytes
// each) and whose largest record, the mix's largest frame, is at most
// Capacity/2-16 (ring.Config). The report gives each ring's
// region size and their ratio; the "half" row runs the record ring at
// half that capacity, which holds fewer mean frames than the slots do.

// frameMix is a distribution of frame sizes: uniform in [min, max] bytes.
type frameMix struct {
	name     string
	min, max int
	// inFlight is how many frames the fixed-slot ring holds (its slots)
	// and the record ring is sized for.
	inFlight int
}

// frameMixes are the throughput runs' mixes: video frames, and the small
// end (logs, events).
var frameMixes = []frameMix{
	{name: "1-8 MiB", min: 1 << 20, max: 8 << 20, inFlight: 8},
	{name: "64 B-64 KiB", min: 64, max: 64 << 10, inFlight: 64},
}

// frameLatencySizes are the hand-off latency runs' frame sizes.
var frameLatencySizes = []int{1 << 20, 4 << 20, 8 << 20}

const (
	// frameHdr is a frame's own header, the first bytes of its payload:
	// byte 0 the opcode, bytes 8..15 the sequence number, bytes 16..23
	// the commit stamp (wall clock ns; latency runs only). The checksum
	// covers the bytes after it.
	frameHdr = 32
	// frameAckSize is the size of the messages the peer sends back
	// (hello, the count, latency acknowledgements).
	frameAckSize = 64
	// frameDescs is how many distinct frames a run cycles through.
	frameDescs = 64
	// frameSeed seeds the frame descriptors and the source buffer.
	frameSeed = 13
	// opReleased follows a latency acknowledgement once the peer has
	// verified and released the frame.
	opReleased = 6
)

// frameDesc is one frame of a run: its size, where its payload after the
// header comes from in the source buffer, and that payload's CRC-32C.
type frameDesc struct {
	size, off int
	crc       uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameSource makes a run's source buffer and descriptors for frames of
// min..max bytes from the seed; withCRC computes the checksums (the
// consumer's side).
func frameSource(seed uint64, min, max int, withCRC bool) ([]byte, []frameDesc) {
	rng := rand.New(rand.NewPCG(seed, uint64(min)<<32|uint64(max)))
	src := make([]byte, max+64<<10)
	for i := 0; i+8 <= len(src); i += 8 {
		binary.LittleEndian.PutUint64(src[i:], rng.Uint64())
	}
	descs := make([]frameDesc, frameDescs)
	for i := range descs {
		n := min + rng.IntN(max-min+1)
		d := frameDesc{size: n, off: rng.IntN(len(src) - n + 1)}
		if withCRC {
			d.crc = crc32.Checksum(src[d.off:d.off+n-frameHdr], castagnoli)
		}
		descs[i] = d
	}
	return src, descs
}

// writeFrame fills buf (len d.size) with frame seq of descriptor d: the
// header, then the payload copied from src.
func writeFrame(buf []byte, seq uint64, d frameDesc, src []byte) {
	buf[0] = opData
	binary.LittleEndian.PutUint64(buf[8:], seq)
	copy(buf[frameHdr:], src[d.off:d.off+d.size-frameHdr])
}

// checkFrame verifies frame f against the descriptor it must be, seq.
func checkFrame(f []byte, seq uint64, descs []frameDesc) error {
	d := descs[seq%frameDescs]
	if len(f) != d.size {
		return fmt.Errorf("%w: frame %d has %d bytes, want %d", errShort, seq, len(f), d.size)
	}
	if got := binary.LittleEndian.Uint64(f[8:]); got != seq {
		return fmt.Errorf("%w: frame %d where %d was due", errFrame, got, seq)
	}
	if crc := crc32.Checksum(f[frameHdr:], castagnoli); crc != d.crc {
		return fmt.Errorf("%w: frame %d checksum %08x, want %08x", errFrame, seq, crc, d.crc)
	}
	return nil
}

// recordSpan is the bytes a record of n payload bytes takes in a record
// ring: its 16-byte header and the payload, rounded up to 16 (ring's
// record layout, docs/layout.md).
func recordSpan(n int) int { return (n + 16 + 15) &^ 15 }

// recordCapacity is the record ring's capacity for mix: the smallest
// multiple of 4096 that holds inFlight records of the mix's mean size and
// whose largest record, the mix's largest frame, fits (SlotSize <=
// Capacity/2-16).
func recordCapacity(mix frameMix) int {
	need := max(mix.inFlight*recordSpan((mix.min+mix.max)/2), 2*(mix.max+16), ring.MinRecordCapacity)
	const unit = 4096
	return (need + unit - 1) / unit * unit
}

// frameConn is a conn that also hands frames over in place: the parent
// reserves and commits frames, the peer peeks and releases them; the
// small messages back (hello, acknowledgements) are the conn's send and
// recv.
type frameConn interface {
	conn
	// reserve returns a buffer of n bytes for the next frame; commit
	// publishes it with n bytes.
	reserve(n int) ([]byte, error)
	commit(n int) error
	// peek returns the next frame, valid until release.
	peek() ([]byte, error)
	release() error
	// memory is the bytes of the frame channel's buffer: the ring's
	// region, or 0 for a socket (the kernel's).
	memory() int64
}

// frameMechanism is one row of the frame tables.
type frameMechanism struct {
	name      string
	transport frameTransport
	// half runs the record ring at half recordCapacity.
	half bool
}

// frameTransport is a transport whose open sizes its frame channel for
// the frames in spec (FrameMin, FrameMax, InFlight, Half).
type frameTransport interface {
	transport
	frames() bool
}

// Names of the frame rows.
const (
	nameRecords     = "shmring-records/spin"
	nameRecordsHalf = "shmring-records-half/spin"
	nameSPSCFixed   = "shmring-spsc-fixed/spin"
	nameUnixFramed  = "unix-framed"
)

// frameMechanisms is the table of the frame rows, in report order; all
// are selected by --only records (their alias) or by name.
func frameMechanisms() []frameMechanism {
	return []frameMechanism{
		{name: nameRecords, transport: frameRingTransport{records: true}},
		{name: nameRecordsHalf, transport: frameRingTransport{records: true}, half: true},
		{name: nameSPSCFixed, transport: frameRingTransport{}},
		{name: nameUnixFramed, transport: frameUnixTransport{}},
	}
}

// frameAlias selects every frame row in --only.
const frameAlias = "records"

// mechanism is fm as a mechanism, for selection and sessions.
func (fm frameMechanism) mechanism() mechanism {
	return mechanism{name: fm.name, alias: frameAlias, transport: fm.transport}
}

// frameSteps is how many measurements the frame rows make with cfg.
func frameSteps(cfg Config) int {
	n := 0
	for _, fm := range frameMechanisms() {
		if !cfg.selected(fm.mechanism()) {
			continue
		}
		n += len(frameMixes)
		if fm.latencyRow() {
			n += len(frameLatencySizes)
		}
	}
	return n
}

// latencyRow: the hand-off latency compares the two rings at the same
// frame size (the half ring changes nothing there, and the socket's
// hand-off is not zero-copy).
func (fm frameMechanism) latencyRow() bool {
	_, ok := fm.transport.(frameRingTransport)
	return ok && !fm.half
}

// frames runs the frame rows of every selected frame mechanism.
func (e *engine) frames(ctx context.Context, r *Report) {
	for _, mix := range frameMixes {
		for _, fm := range frameMechanisms() {
			if ctx.Err() != nil || !e.cfg.selected(fm.mechanism()) {
				continue
			}
			r.Frames = append(r.Frames, e.frameThroughput(ctx, fm, mix))
		}
	}
	for _, size := range frameLatencySizes {
		for _, fm := range frameMechanisms() {
			if ctx.Err() != nil || !fm.latencyRow() || !e.cfg.selected(fm.mechanism()) {
				continue
			}
			r.FrameLatency = append(r.FrameLatency, e.frameLatency(ctx, fm, size))
		}
	}
}

// frameSession starts fm's peer for frames of mix in mode.
func (e *engine) frameSession(ctx context.Context, fm frameMechanism, mix frameMix, mode string, budget time.Duration) (*session, frameConn, error) {
	m := fm.mechanism()
	m.transport = framed{fm.transport, mix, fm.half}
	s, err := e.start(ctx, m, mode, frameAckSize, budget)
	if err != nil {
		return nil, nil, err
	}
	fc, ok := s.c.(frameConn)
	if !ok {
		return nil, nil, s.fail(fmt.Errorf("%s: not a frame conn", fm.name))
	}
	return s, fc, nil
}

// framed is a frame transport with the frames of one run: its open
// writes them into the spec for the transport's open and the peer.
type framed struct {
	frameTransport
	mix  frameMix
	half bool
}

func (f framed) open(e *engine, spec *peerSpec) (*endpoint, error) {
	spec.FrameMin, spec.FrameMax, spec.InFlight, spec.Half = f.mix.min, f.mix.max, f.mix.inFlight, f.half
	return f.frameTransport.open(e, spec)
}

// frameThroughput streams frames of mix through fm for the throughput
// duration.
func (e *engine) frameThroughput(ctx context.Context, fm frameMechanism, mix frameMix) FrameRow {
	e.prog.Step(fmt.Sprintf("frames %s %s", fm.name, mix.name))
	row := FrameRow{Mechanism: fm.name, Mix: mix.name, InFlight: mix.inFlight}
	if err := pinThread(e.cfg.CPUs[0]); err != nil {
		row.Error = err.Error()
		return row
	}
	defer unpinThread()
	dur := e.cfg.ThroughputDuration
	s, c, err := e.frameSession(ctx, fm, mix, modeFrameSink, dur)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	row.RingBytes = c.memory()
	src, descs := frameSource(frameSeed, mix.min, mix.max, false)
	var sent, bytes uint64
	start := time.Now()
	err = func() error {
		end := start.Add(dur)
		for time.Now().Before(end) && ctx.Err() == nil {
			d := descs[sent%frameDescs]
			buf, err := c.reserve(d.size)
			if err != nil {
				return err
			}
			writeFrame(buf, sent, d, src)
			if err := c.commit(d.size); err != nil {
				return err
			}
			sent++
			bytes += uint64(d.size)
		}
		if err := sendStop(c); err != nil {
			return err
		}
		ack := make([]byte, frameAckSize)
		if err := c.recv(ack); err != nil {
			return err
		}
		if ack[0] != opAck || getCount(ack) != sent {
			return fmt.Errorf("peer acknowledged %d frames (op %d), sent %d", getCount(ack), ack[0], sent)
		}
		return nil
	}()
	elapsed := time.Since(start).Seconds()
	if err != nil {
		row.Error = s.fail(err).Error()
		return row
	}
	if _, err := s.finish(); err != nil {
		row.Error = err.Error()
		return row
	}
	row.Frames, row.Seconds = int64(sent), elapsed
	row.FramesPerSec = float64(sent) / elapsed
	row.MBPerSec = float64(bytes) / elapsed / 1e6
	row.MeanFrame = float64(bytes) / float64(max(sent, 1))
	return row
}

// sendStop sends the stop frame.
func sendStop(c frameConn) error {
	buf, err := c.reserve(frameHdr)
	if err != nil {
		return err
	}
	clear(buf)
	buf[0] = opStop
	return c.commit(frameHdr)
}

// frameLatency times the hand-off of size-byte frames through fm.
func (e *engine) frameLatency(ctx context.Context, fm frameMechanism, size int) FrameLatencyRow {
	e.prog.Step(fmt.Sprintf("frame latency %s %s", fm.name, fmtSize(size)))
	row := FrameLatencyRow{Mechanism: fm.name, Size: size}
	if err := pinThread(e.cfg.CPUs[0]); err != nil {
		row.Error = err.Error()
		return row
	}
	defer unpinThread()
	mix := frameMix{name: fmtSize(size), min: size, max: size, inFlight: 8}
	dur := e.cfg.LatencyDuration / 2
	s, c, err := e.frameSession(ctx, fm, mix, modeFrameEcho, e.cfg.Warmup+dur)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	row.RingBytes = c.memory()
	src, descs := frameSource(frameSeed, size, size, false)
	oneWay, rtt := newHist(), newHist()
	ack := make([]byte, frameAckSize)
	var seq uint64
	handOff := func(record bool) error {
		d := descs[seq%frameDescs]
		buf, err := c.reserve(d.size)
		if err != nil {
			return err
		}
		writeFrame(buf, seq, d, src)
		seq++
		t0 := time.Now()
		// The wall clock, which the peer's process reads too (the
		// monotonic reading is private to a process).
		binary.LittleEndian.PutUint64(buf[16:], uint64(t0.UnixNano()))
		if err := c.commit(d.size); err != nil {
			return err
		}
		if err := c.recv(ack); err != nil {
			return err
		}
		t1 := time.Now()
		if ack[0] != opData {
			return fmt.Errorf("%w: op %d where an acknowledgement was due", errFrame, ack[0])
		}
		if record {
			rtt.RecordValue(t1.Sub(t0).Nanoseconds())
			oneWay.RecordValue(max(1, int64(binary.LittleEndian.Uint64(ack[8:]))))
		}
		if err := c.recv(ack); err != nil {
			return err
		}
		if ack[0] != opReleased {
			return fmt.Errorf("%w: op %d where the release was due", errFrame, ack[0])
		}
		return nil
	}
	err = func() error {
		warm := time.Now().Add(e.cfg.Warmup)
		for time.Now().Before(warm) {
			if err := handOff(false); err != nil {
				return err
			}
		}
		end := time.Now().Add(dur)
		for n := 0; n < 16 || time.Now().Before(end) && ctx.Err() == nil; n++ {
			if err := handOff(true); err != nil {
				return err
			}
		}
		if err := sendStop(c); err != nil {
			return err
		}
		return c.recv(ack)
	}()
	if err != nil {
		row.Error = s.fail(err).Error()
		return row
	}
	if _, err := s.finish(); err != nil {
		row.Error = err.Error()
		return row
	}
	row.Samples = rtt.TotalCount()
	row.OneWayP50, row.OneWayP90, row.OneWayP99 = float64(oneWay.ValueAtQuantile(50)), float64(oneWay.ValueAtQuantile(90)), float64(oneWay.ValueAtQuantile(99))
	row.RTTP50, row.RTTP90, row.RTTP99, row.RTTMax = float64(rtt.ValueAtQuantile(50)), float64(rtt.ValueAtQuantile(90)), float64(rtt.ValueAtQuantile(99)), float64(rtt.Max())
	return row
}

// serveFrames is the peer's loop in the frame modes: verify every frame,
// count them, acknowledge the count at the stop frame; in modeFrameEcho
// also acknowledge each frame on peek with its one-way time, and its
// release after.
func serveFrames(c frameConn, spec peerSpec) (peerResult, error) {
	var res peerResult
	_, descs := frameSource(frameSeed, spec.FrameMin, spec.FrameMax, true)
	ack := make([]byte, frameAckSize)
	ack[0] = opHello
	if err := c.send(ack); err != nil {
		return res, fmt.Errorf("hello: %w", err)
	}
	echo := spec.Mode == modeFrameEcho
	for seq := uint64(0); ; seq++ {
		f, err := c.peek()
		if err != nil {
			return res, err
		}
		now := time.Now().UnixNano()
		if len(f) < frameHdr {
			return res, fmt.Errorf("%w: frame of %d bytes", errShort, len(f))
		}
		if f[0] == opStop {
			if err := c.release(); err != nil {
				return res, err
			}
			ack[0] = opAck
			putCount(ack, uint64(res.Count))
			return res, c.send(ack)
		}
		if echo {
			ack[0] = opData
			binary.LittleEndian.PutUint64(ack[8:], uint64(now-int64(binary.LittleEndian.Uint64(f[16:]))))
			if err := c.send(ack); err != nil {
				return res, err
			}
		}
		if err := checkFrame(f, seq, descs); err != nil {
			return res, err
		}
		if err := c.release(); err != nil {
			return res, err
		}
		res.Count++
		if echo {
			ack[0] = opReleased
			if err := c.send(ack); err != nil {
				return res, err
			}
		}
	}
}
