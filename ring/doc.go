// Package ring implements lock-free SPSC and MPMC message rings in shared
// memory: an arena region (or any []byte) that several processes map.
//
// # Rings
//
// An SPSC ring has one producer and one consumer. Head and tail live on
// separate padded units; each side keeps its own position privately and a
// cached copy of the other's, so in steady state a push touches the shared
// tail's line once and the head's line only when the cache says full.
//
// An MPMC ring is Vyukov's bounded queue: every slot carries a sequence
// number that says whose turn it is; producers and consumers claim
// positions with a CAS on a shared counter and publish with a store to the
// slot's sequence, so every message is delivered exactly once and
// per-producer order is kept.
//
// Positions are 63-bit counters that only grow (bit 63 of the producer
// word means closed), indexed modulo Slots, so wrap-around is a non-event.
// Every 8-byte atomic is 8-byte aligned. Hot fields sit on their own units
// of the padding size recorded in the arena header; docs/ring.md has the
// byte-exact layout.
//
// # Operations
//
// Try* operations never block and are the core: TryPush, TryPop, batches
// (TryPushBatch, TryPopBatch: one update of the shared counters for many
// messages), and zero-copy TryReserve/Commit and TryPeek/Release. Push,
// Pop and the other blocking forms wait according to the handle's
// WaitStrategy (spin with the CPU's pause instruction, yield, sleep in a
// futex, or the adaptive default that does each in turn) and take a
// context for cancellation and deadlines. Close ends the stream: pushes
// fail with ErrClosed, consumers drain and then get io.EOF, and every
// waiter wakes.
//
// # Concurrency
//
// SPSC: at most one goroutine (in any process) produces at a time, and at
// most one consumes; one handle may serve both. MPMC: any number of
// goroutines and processes, on one handle or many. Stats, Len, IsClosed and
// SetWaitStrategy are safe from anywhere.
//
// # Memory ordering
//
// A producer writes a slot with plain stores and publishes it with a
// sequentially consistent atomic (the tail CAS for SPSC, the slot's Seq
// store for MPMC); a consumer acquire-loads that word before reading the
// slot, and hands the slot back with another sequentially consistent store
// that the producer acquire-loads before reusing it. The sequentially
// consistent publish also serves the eventcount that lets sleepers block
// in a futex: it orders the publish before the load of the other side's
// waiter count, so no wake-up is lost and no system call is made while
// nobody sleeps. docs/ring.md gives the argument for each atomic.
//
// # Trust
//
// Every value a peer can write (positions, sequence numbers, lengths, the
// ring header) is read once into a local, checked against the ring's
// private geometry, and an impossible value returns ErrCorrupt. Slot
// addresses are computed from private copies of the geometry only, so no
// shared value can steer an access outside the ring.
package ring
