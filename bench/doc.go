// Package bench is shmring's benchmark harness: cross-process round-trip
// latency and one-way throughput of shmring's rings against the IPC a Go
// user would otherwise pick (a Go channel in one process, pipes, Unix
// stream and seqpacket sockets, TCP loopback), all measured in one run so
// every ratio compares like with like, beside a "floor" row: two processes
// bouncing one cache line with plain atomics, the hardware's limit.
//
// # Method
//
// Each measurement re-executes the running binary as the peer (with
// internal/xproc, in the role PeerRole, which Peer plays), pins the two
// sides to their own CPUs (sched_setaffinity on a locked OS thread), waits
// for the peer's hello, then:
//
//   - latency: a ping-pong of one message each way, timed per round trip
//     with two clock reads, after a warm-up, into an HdrHistogram
//     (3 significant digits); for blocking strategies the peer then idles
//     for a second and reports the CPU time it used;
//   - throughput: the parent streams fixed-size messages for a set time,
//     then a stop message; the peer counts and acknowledges the count,
//     which must match. shmring's sink consumes in place (Peek/Release), so
//     a ring message is copied once; the others copy twice (into and out of
//     the kernel, or into and out of the channel buffer).
//
// The broadcast rows have one peer per subscriber: the parent produces on
// a broadcast ring, each peer process subscribes (tethered) and answers on
// an SPSC ring of its own, and the parent takes one answer from every
// subscriber, which must all be the same: in the ping-pong (one
// subscriber) a round trip is one message out through the broadcast ring
// and one back; in the throughput runs every subscriber acknowledges the
// full count. Two subscribers share the peer's CPU, so on 2 CPUs that row
// runs three processes on two CPUs (the report warns).
//
// The cache-line floor is measured again right before every shmring
// latency row, and the row's ratio to it uses that adjacent measurement:
// on a VM the host may move the vCPUs between rows.
//
// # Files
//
// Each transport is one type holding both of its halves, the parent's
// open and the peer's attach (transport.go), in its own file:
// transport_ring.go (shmring SPSC and MPMC, every wait strategy),
// transport_broadcast.go (shmring broadcast, one or more subscriber
// processes), transport_chan.go (in-process), transport_pipe.go,
// transport_socket.go (Unix stream and seqpacket socket pairs) and
// transport_tcp.go. mechanisms.go is the one table of what a run measures
// over them; engine.go runs it; session.go starts a measurement's peers
// and collects their results; measure.go holds the latency and
// throughput loops; floor.go both halves of the cache-line floor; peer.go
// the peer process's entry point and loop; conn.go the message protocol
// and the byte-stream conn; errors.go the package's errors.
//
// # Concurrency
//
// Run is not safe for concurrent use (it pins the calling goroutine's
// thread); run one harness at a time, and nothing else, on a 2-core
// machine.
package bench
