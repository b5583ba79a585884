// Package bench is shmring's benchmark harness: cross-process round-trip
// latency and one-way throughput of shmring's rings against the IPC a Go
// user would otherwise pick (a Go channel in one process, pipes, Unix
// stream and seqpacket sockets, TCP loopback), all measured in one run so
// every ratio compares like with like, beside three floors, each the
// limit of its kind on this hardware: two processes bouncing one cache
// line with plain atomics (floor.go: the spinning round trip), a bare
// futex ping-pong (transport_futex.go: the blocking round trip), and the
// simplest batched ring with plain atomics streaming the same copies
// (transport_streamfloor.go: one-way streaming).
//
// # Method
//
// Each measurement re-executes the running binary as the peer (with
// internal/xproc, in the role PeerRole, which Peer plays), pins the two
// sides to their own CPUs (sched_setaffinity on a locked OS thread), waits
// for the peer's hello, then:
//
//   - latency: a ping-pong of one message each way, after a warm-up, in
//     two interleaved phases (batch.go): per-sample, each round trip timed
//     with two clock reads into an HdrHistogram (3 significant digits),
//     for the percentiles and tails; and batch means, a batch of up to
//     1,000 round trips (about 1 ms) timed with one clock read before and
//     one after, for the median batch mean that every latency ratio uses,
//     since a clock read per sample (~20-60 ns here) adds the same cost to
//     both sides of a ratio and pulls it toward 1; for blocking strategies
//     the peer then idles for a second and reports the CPU time it used;
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
// On a VM the host may move the vCPUs between rows, and the hardware's
// speed moves with them (the cache-line floor between ~60 and ~320 ns),
// so every ratio pairs a row with a baseline measured beside it: the
// cache-line floor is measured again right before every shmring latency
// row; the futex floor row comes right before the blocking rows it is
// compared with; and the stream floor and SPSC busy-spin stream in turn,
// three runs each at every size, each row the median of its runs
// (alternate.go).
//
// # Files
//
// Each transport is one type holding both of its halves, the parent's
// open and the peer's attach (transport.go), in its own file:
// transport_ring.go (shmring SPSC and MPMC, every wait strategy),
// transport_broadcast.go (shmring broadcast, one or more subscriber
// processes), transport_chan.go (in-process), transport_pipe.go,
// transport_socket.go (Unix stream and seqpacket socket pairs),
// transport_tcp.go, and the two floors that are transports, so that the
// same loops time them: transport_futex.go and transport_streamfloor.go.
// The record ring's frame rows (issue 13, --only records) have their
// own loops and tables: frames.go (the frame mixes, the sizing of the
// two rings, the throughput and hand-off loops, the peer's loop) over
// transport_frames.go (a record ring or the fixed-slot SPSC ring with
// zero-copy Reserve/Peek, and a length-prefixed Unix stream).
// The C peer's rows (issue 15, --only c) are cpeer.go: the C program
// c/bench/cpeer.c, compiled with gcc at run time and started in the
// peer's place (skipped with a warning without gcc or the sources), each
// row measured beside its Go twin.
// mechanisms.go is the one table of what a run measures over them;
// engine.go runs it; session.go starts a measurement's peers and collects
// their results; measure.go holds the latency and throughput loops,
// batch.go the batch-mean arithmetic, alternate.go the alternated stream
// runs; floor.go both halves of the cache-line floor; targets.go the
// ratios and targets; peer.go the peer process's entry point and loop;
// conn.go the message protocol, the byte-stream conn and the floors'
// liveness; errors.go the package's errors.
//
// # Concurrency
//
// Run is not safe for concurrent use (it pins the calling goroutine's
// thread); run one harness at a time, and nothing else, on a 2-core
// machine.
package bench
