package bench

import (
	"slices"

	"github.com/shmring/shmring/ring"
)

// mechanism is one row of the report: a transport and what is measured
// over it.
type mechanism struct {
	name string
	// alias is another name --only selects the row by ("streamfloor").
	alias     string
	transport transport
	latency   bool // measured in the ping-pong
	stream    bool // measured in the throughput runs
	floorPair bool // a floor measurement runs right before its latency row
	idleProbe bool // measure the waiting peer's CPU while idle
	// vsFutex compares the latency row with the futex floor row measured
	// last before it (the blocking strategies).
	vsFutex bool
	// alternate runs the row's streams in turn with the stream floor's, in
	// altRuns runs each (alternate.go); the stream floor is measured with
	// it whether or not --only selects it, as the floor with a floorPair.
	alternate bool
	// peers is the number of peer processes (a broadcast ring's
	// subscribers); 0 means 1.
	peers int
	// goTwin measures the row beside its Go twin (cpeer.go): the round
	// trip right after the twin's, the streams alternated with the
	// twin's; the row records the twin's figure and its ratio to it.
	goTwin bool
	// source streams the other way: the peer produces and the parent
	// consumes and times (modeSource).
	source bool
	// streamSize, if set, is the one size the row streams at, whatever
	// Config.Sizes holds.
	streamSize int
}

// peerCount is the number of peer processes a session of m starts.
func (m mechanism) peerCount() int { return max(1, m.peers) }

// Names used for ratios and targets.
const (
	nameSPSCSpin       = "shmring-spsc/spin"
	nameSPSCAdaptive   = "shmring-spsc/adaptive"
	nameSPSCBlock      = "shmring-spsc/block"
	nameMPMCSpin       = "shmring-mpmc/spin"
	nameBcastSpin      = "shmring-broadcast/spin"
	nameBcastAdaptive  = "shmring-broadcast/adaptive"
	nameBcast2Adaptive = "shmring-broadcast-2sub/adaptive"
	nameMPMCBlock      = "shmring-mpmc/block"
	nameUnix           = "unix-stream"
	nameFloor          = "floor (cache line)"
	nameFutex          = "futex (blocking floor)"
	nameStreamFloor    = "stream floor (plain ring)"
)

// mechanisms is the one table of what a run measures, in report order. A
// new transport is a transport_*.go file and its rows here; the peer finds
// its transport in this table too (transportNamed).
func mechanisms() []mechanism {
	return slices.Concat([]mechanism{
		// The stream floor (transport_streamfloor.go): the limit SPSC
		// streaming is compared to, streamed in turn with SPSC busy-spin.
		{name: nameStreamFloor, alias: "streamfloor", transport: streamFloorTransport{}, stream: true},
		{name: nameSPSCSpin, transport: ringTransport{wait: ring.WaitSpin}, latency: true, stream: true, floorPair: true, alternate: true},
	},
		// The C peer's rows beside it (cpeer.go; --only c).
		cMechanisms(),
		[]mechanism{
			{name: nameSPSCAdaptive, transport: ringTransport{wait: ring.WaitAdaptive}, latency: true, stream: true, floorPair: true, idleProbe: true},
			// The blocking floor (transport_futex.go), right before the
			// blocking rows it is compared with.
			{name: nameFutex, transport: futexTransport{}, latency: true},
			{name: nameSPSCBlock, transport: ringTransport{wait: ring.WaitBlock}, latency: true, stream: true, floorPair: true, idleProbe: true, vsFutex: true},
			{name: nameMPMCSpin, transport: ringTransport{mpmc: true, wait: ring.WaitSpin}, latency: true, stream: true, floorPair: true},
			{name: "shmring-mpmc/adaptive", transport: ringTransport{mpmc: true, wait: ring.WaitAdaptive}, latency: true, floorPair: true, idleProbe: true},
			{name: nameMPMCBlock, transport: ringTransport{mpmc: true, wait: ring.WaitBlock}, latency: true, stream: true, floorPair: true, idleProbe: true, vsFutex: true},
			// Broadcast: one subscriber process (the RTT row compares with
			// SPSC spin's), then two sharing the peer CPU, so three processes
			// on two CPUs. The producer, alone on its CPU, spins; subscribers
			// that spin keep the CPU from each other until the scheduler's
			// time slice ends (the 2sub/spin row measures that collapse), so
			// the 2sub/adaptive row's subscribers wait adaptively, and
			// broadcast/adaptive is its 1-subscriber baseline.
			{name: nameBcastSpin, transport: broadcastTransport{wait: ring.WaitSpin, subWait: ring.WaitSpin}, latency: true, stream: true, floorPair: true},
			{name: nameBcastAdaptive, transport: broadcastTransport{wait: ring.WaitSpin, subWait: ring.WaitAdaptive}, stream: true},
			{name: "shmring-broadcast-2sub/spin", transport: broadcastTransport{wait: ring.WaitSpin, subWait: ring.WaitSpin}, stream: true, peers: 2},
			{name: nameBcast2Adaptive, transport: broadcastTransport{wait: ring.WaitSpin, subWait: ring.WaitAdaptive}, stream: true, peers: 2},
			{name: "go-chan (1 process)", transport: chanTransport{}, latency: true, stream: true},
			{name: "pipe", transport: pipeTransport{}, latency: true, stream: true},
			{name: nameUnix, transport: unixStream, latency: true, stream: true},
			{name: "unix-seqpacket", transport: unixSeqpacket, latency: true, stream: true},
			{name: "tcp-loopback", transport: tcpTransport{}, latency: true, stream: true},
		})
}
