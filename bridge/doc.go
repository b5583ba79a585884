// Package bridge forwards shmring messages across hosts through NATS: Out
// reads a ring and publishes each message to a subject, In takes a
// subject's messages and pushes them into a ring, over core NATS
// (at-most-once) or JetStream (at-least-once on the wire, exactly-once
// into the ring: duplicates are dropped by message identity).
//
// # Identity
//
// Every message carries its producer id and sequence number in NATS
// headers (HeaderProducer, HeaderSeq, and Nats-Msg-Id for JetStream's own
// deduplication); In keeps a window per producer and drops what it has
// seen, and counts the gaps (identity.go).
//
// # Crash safety
//
// With JetStream, Out keeps each message in a spool (its state file, an
// arena) from before it releases it from the ring until JetStream acks it,
// so a SIGKILL of Out loses nothing; In records the push under way and
// acks a message only once it is in the ring and marked seen, so a SIGKILL
// of In loses and duplicates nothing (state.go, out.go, in.go).
// docs/scale-out.md states the guarantee of each mode per kind of crash.
//
// # Concurrency
//
// An Out or an In is driven by one call of Run at a time; Counters is safe
// from any goroutine (and ReadState from any process). A state file is
// used by one bridge at a time (an arena liveness lock; a second gets
// ErrStateBusy).
//
// # Memory ordering
//
// The state region is written by its bridge only. The words monitors read
// (counters, the spool's Head and Tail, the pending push) are stored and
// added atomically, each a value of its own, so a monitor's atomic loads
// need no ordering between them. Spool records and producer windows are
// plain stores, read back only by the next bridge process after this one
// has ended, which orders them. Inside Out, the reader and the acker
// goroutines hand spool records over through a channel of window slots.
package bridge
