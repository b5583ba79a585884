package bench

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestRecordCapacity pins the record ring's sizing: the smallest multiple
// of 4096 holding the mix's frames in flight at its mean size, whose
// largest record fits in half of it.
func TestRecordCapacity(t *testing.T) {
	for _, tc := range []struct {
		mix  frameMix
		want int
	}{
		{frameMixes[0], 9217 * 4096},                                     // 8 x (4.5 MiB + 16 B), rounded up to 4096
		{frameMixes[1], 513 * 4096},                                      // 64 x (32 KiB + 32 + 16 B)
		{frameMix{min: 1 << 20, max: 1 << 20, inFlight: 8}, 2049 * 4096}, // 8 records of 1 MiB + 16 B
		{frameMix{min: 64, max: 64, inFlight: 2}, 4096},                  // the least capacity
		{frameMix{min: 8 << 20, max: 8 << 20, inFlight: 1}, 4097 * 4096}, // largest record <= Capacity/2-16
	} {
		if got := recordCapacity(tc.mix); got != tc.want {
			t.Errorf("recordCapacity(%+v) = %d, want %d", tc.mix, got, tc.want)
		}
	}
	if recordSpan(0) != 16 || recordSpan(1) != 32 || recordSpan(16) != 32 || recordSpan(17) != 48 {
		t.Error("recordSpan disagrees with the record layout")
	}
}

// TestCheckFrame: a frame is checked for its size, sequence number and
// checksum.
func TestCheckFrame(t *testing.T) {
	src, descs := frameSource(frameSeed, 64, 4096, true)
	d := descs[3]
	f := make([]byte, d.size)
	writeFrame(f, 3, d, src)
	if err := checkFrame(f, 3, descs); err != nil {
		t.Fatal(err)
	}
	if err := checkFrame(f, 4, descs); err == nil {
		t.Error("a frame of the wrong sequence passed")
	}
	f[len(f)-1] ^= 1
	if err := checkFrame(f, 3, descs); !errors.Is(err, errFrame) {
		t.Errorf("a scribbled frame: %v, want errFrame", err)
	}
	if err := checkFrame(f[:len(f)-1], 3, descs); !errors.Is(err, errShort) {
		t.Errorf("a short frame: %v, want errShort", err)
	}
	_, again := frameSource(frameSeed, 64, 4096, false)
	for i := range again {
		if again[i].size != descs[i].size || again[i].off != descs[i].off {
			t.Fatal("the two sides' descriptors differ")
		}
	}
}

// TestFrameHalves joins both halves of every frame transport in the test
// process and streams frames through them, as a sink (count
// acknowledged) and as an echo (each frame acknowledged on peek and on
// release).
func TestFrameHalves(t *testing.T) {
	e := &engine{cfg: Config{Dir: t.TempDir()}}
	mix := frameMix{name: "test", min: frameHdr, max: 8 << 10, inFlight: 4}
	for _, fm := range frameMechanisms() {
		for _, mode := range []string{modeFrameSink, modeFrameEcho} {
			t.Run(fm.name+"/"+mode, func(t *testing.T) {
				got, err := transportNamed(fm.transport.name())
				if err != nil || reflect.TypeOf(got) != reflect.TypeOf(fm.transport) {
					t.Fatalf("transportNamed(%q) = %T, %v", fm.transport.name(), got, err)
				}
				parent, done := openFrameHalves(t, e, fm, mix, mode)
				c := parent.(frameConn)
				if c.memory() < 0 {
					t.Fatal("negative memory")
				}
				ack := make([]byte, frameAckSize)
				if err := c.recv(ack); err != nil || ack[0] != opHello {
					t.Fatalf("hello: op %d, %v", ack[0], err)
				}
				src, descs := frameSource(frameSeed, mix.min, mix.max, false)
				const n = 100
				for seq := uint64(0); seq < n; seq++ {
					d := descs[seq%frameDescs]
					buf, err := c.reserve(d.size)
					if err != nil {
						t.Fatal(err)
					}
					writeFrame(buf, seq, d, src)
					if err := c.commit(d.size); err != nil {
						t.Fatal(err)
					}
					if mode == modeFrameEcho {
						for _, want := range []byte{opData, opReleased} {
							if err := c.recv(ack); err != nil || ack[0] != want {
								t.Fatalf("frame %d: op %d, %v; want op %d", seq, ack[0], err, want)
							}
						}
					}
				}
				if err := sendStop(c); err != nil {
					t.Fatal(err)
				}
				if err := c.recv(ack); err != nil || ack[0] != opAck || getCount(ack) != n {
					t.Fatalf("ack op %d count %d, %v; want %d", ack[0], getCount(ack), err, n)
				}
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("peer: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("peer did not finish")
				}
			})
		}
	}
}

// openFrameHalves opens fm for mix, attaches its peer half in this
// process (the spec through JSON) and serves it on a goroutine; done
// delivers serveFrames' error.
func openFrameHalves(t *testing.T, e *engine, fm frameMechanism, mix frameMix, mode string) (conn, <-chan error) {
	t.Helper()
	spec := peerSpec{Transport: fm.transport.name(), Mode: mode, Size: frameAckSize,
		Deadline: time.Now().Add(10 * time.Second).UnixNano()}
	ep, err := framed{fm.transport, mix, fm.half}.open(e, &spec)
	if err != nil {
		t.Fatal(err)
	}
	if ep.cleanup != nil {
		defer ep.cleanup()
	}
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	var got peerSpec
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	peer, err := fm.transport.attach(got, ep.files)
	if err != nil {
		t.Fatal(err)
	}
	fc, ok := peer.(frameConn)
	if !ok {
		t.Fatalf("%T is not a frame conn", peer)
	}
	done := make(chan error, 1)
	go func() {
		_, err := serveFrames(fc, got)
		done <- err
	}()
	t.Cleanup(func() { peer.close(); ep.conn.close() })
	return ep.conn, done
}

// TestFrameTargets checks the frame targets and figures on a made-up
// report: the memory and throughput targets on the 1-8 MiB mix, against
// the fixed-slot ring of the same mix.
func TestFrameTargets(t *testing.T) {
	video, small := frameMixes[0].name, frameMixes[1].name
	r := &Report{
		Frames: []FrameRow{
			{Mechanism: nameRecords, Mix: video, RingBytes: 32 << 20, MBPerSec: 950},
			{Mechanism: nameSPSCFixed, Mix: video, RingBytes: 64 << 20, MBPerSec: 1000},
			{Mechanism: nameUnixFramed, Mix: video, MBPerSec: 250},
			{Mechanism: nameRecords, Mix: small, RingBytes: 2 << 20, MBPerSec: 800},
			{Mechanism: nameSPSCFixed, Mix: small, Error: "boom"},
		},
		FrameLatency: []FrameLatencyRow{
			{Mechanism: nameRecords, Size: 1 << 20, OneWayP50: 1200},
			{Mechanism: nameSPSCFixed, Size: 1 << 20, OneWayP50: 1000},
		},
	}
	ratios(r)
	if f := r.Frames[0]; f.VsSPSC != 0.95 || f.VsSPSCMemory != 0.5 {
		t.Errorf("record row ratios %+v", f)
	}
	if r.Frames[3].VsSPSC != 0 {
		t.Error("a ratio to a failed row")
	}
	got := map[string]Target{}
	for _, tg := range frameTargets(r) {
		got[tg.Name] = tg
	}
	mem := got["record ring memory vs fixed-slot SPSC, 1-8 MiB frames, 8 in flight"]
	thr := got["record ring throughput vs fixed-slot SPSC, 1-8 MiB frames"]
	if mem.Info || !mem.Met || mem.Measured != 0.5 || thr.Info || !thr.Met || thr.Measured != 0.95 {
		t.Errorf("targets: memory %+v, throughput %+v", mem, thr)
	}
	if u := got["record ring throughput vs unix-stream, 1-8 MiB"]; !u.Info || u.Measured != 3.8 {
		t.Errorf("unix figure %+v", u)
	}
	if l := got["record ring commit-to-peek p50 vs fixed-slot SPSC at 1 MiB"]; !l.Info || l.Measured != 1.2 {
		t.Errorf("latency figure %+v", l)
	}
	for name := range got {
		if strings.Contains(name, small) && !strings.Contains(name, "unix") {
			t.Errorf("a figure against a failed row: %q", name)
		}
	}
	r.Frames[0].MBPerSec = 800
	for _, tg := range frameTargets(r) {
		if strings.HasPrefix(tg.Name, "record ring throughput vs fixed-slot SPSC, 1-8") && tg.Met {
			t.Error("0.8x met a >= 0.9x target")
		}
	}
}

// TestFrameSelection: --only records selects every frame row and no
// other; the steps count them.
func TestFrameSelection(t *testing.T) {
	cfg := Config{Only: []string{frameAlias}, Sizes: []int{64}}
	for _, m := range mechanisms() {
		if cfg.selected(m) {
			t.Errorf("--only records selects %s", m.name)
		}
	}
	for _, fm := range frameMechanisms() {
		if !cfg.selected(fm.mechanism()) {
			t.Errorf("--only records leaves out %s", fm.name)
		}
	}
	want := 1 + len(frameMechanisms())*len(frameMixes) + 2*len(frameLatencySizes)
	if got := Steps(cfg); got != want {
		t.Errorf("--only records: %d steps, want %d", got, want)
	}
	cfg.Only = []string{"spsc/spin"}
	if frameSteps(cfg) != 0 {
		t.Error("--only spsc/spin selects frame rows")
	}
}
