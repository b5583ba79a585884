/*
 * shmring.h: the C peer of the shmring Go engine (github.com/shmring/shmring).
 *
 * A C11 program attaches to an arena file created by the Go side (or by
 * any peer following docs/layout.md) and to the rings in it
 * (docs/ring.md), as a full peer: it claims a peer-table entry with a
 * liveness lock, counts into it, sleeps and wakes on the same shared
 * futex words, takes over an SPSC side with an epoch bump, and tags and
 * repairs MPMC claims. No dependency beyond libc and the Linux headers.
 *
 * Concurrency: an arena handle may be shared by threads (shmring_lookup,
 * opening rings). A ring handle is used by one thread at a time (as the Go
 * SPSC handle); threads that produce or consume concurrently open one
 * handle each. Handles do not survive fork(): a child opens its own.
 *
 * Errors: every function returns SHMRING_OK (0) or a negative SHMRING_E*
 * code mirroring the Go sentinel errors. Some codes refine others as the
 * Go errors wrap one another (a checksum mismatch is also corrupt):
 * shmring_err_is(err, target) answers as errors.Is would. SHMRING_ESYS
 * means a system call failed; errno is left as that call set it.
 */
#ifndef SHMRING_H
#define SHMRING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. */
enum {
	SHMRING_OK = 0,
	SHMRING_EFULL = -1,         /* ring.ErrFull */
	SHMRING_EEMPTY = -2,        /* ring.ErrEmpty */
	SHMRING_EEOF = -3,          /* io.EOF: closed and drained */
	SHMRING_ECLOSED = -4,       /* ring.ErrClosed: the ring is closed for writing */
	SHMRING_ECORRUPT = -5,      /* ring.ErrCorrupt, arena.ErrCorrupt */
	SHMRING_EVERSION = -6,      /* ring.ErrVersion, arena.ErrVersion */
	SHMRING_EKIND = -7,         /* ring.ErrKind: not a ring, or another kind */
	SHMRING_ETOOLARGE = -8,     /* ring.ErrTooLarge */
	SHMRING_EFENCED = -9,       /* ring.ErrFenced: another handle took over */
	SHMRING_ENOTRESERVED = -10, /* ring.ErrNotReserved */
	SHMRING_EOUTSTANDING = -11, /* ring.ErrOutstanding */
	SHMRING_ETIMEDOUT = -12,    /* context.DeadlineExceeded: a blocking call's timeout */
	SHMRING_EPEERDEAD = -13,    /* ring.ErrPeerDead */
	SHMRING_EINVAL = -14,       /* ring.ErrInvalid, arena.ErrInvalid */
	SHMRING_ENOTFOUND = -15,    /* arena.ErrNotFound: no such file or region */
	SHMRING_ESYS = -16,         /* a system call failed: see errno */
	SHMRING_ENOTARENA = -17,    /* arena.ErrNotArena: bad magic */
	SHMRING_ECHECKSUM = -18,    /* arena.ErrChecksum; is also SHMRING_ECORRUPT */
	SHMRING_ETRUNCATED = -19,   /* arena.ErrTruncated; is also SHMRING_ECORRUPT */
	SHMRING_EBYTEORDER = -20,   /* arena.ErrByteOrder; is also SHMRING_EVERSION */
	SHMRING_ENOTREADY = -21,    /* arena.ErrNotReady, ring.ErrNotReady */
	SHMRING_EPERM = -22,        /* arena.ErrPermission: file refused (owner, mode, links, type) */
	SHMRING_EUNSUPPORTED = -23, /* ring.ErrUnsupported: not implemented by this C build, or by the system */
	SHMRING_ESHORTBUF = -24,    /* io.ErrShortBuffer: the message is larger than the buffer */
	SHMRING_ELAPPED = -25,      /* ring.ErrLapped: a broadcast subscriber was lapped */
	SHMRING_ESUBSCRIBERS = -26, /* ring.ErrSubscribers: every subscriber entry is held */
	SHMRING_EHANDLECLOSED = -27 /* "ring: handle closed"; is also SHMRING_ECLOSED */
};

/* shmring_strerror names an error code ("ring: full", ...). */
const char *shmring_strerror(int err);

/* shmring_err_is reports whether err is target or refines it (errors.Is). */
int shmring_err_is(int err, int target);

/* Region kinds (the directory's Kind word). */
#define SHMRING_KIND_RAW 0u
#define SHMRING_KIND_SPSC 0x43535053u      /* "SPSC" */
#define SHMRING_KIND_MPMC 0x434d504du      /* "MPMC" */
#define SHMRING_KIND_BROADCAST 0x54534342u /* "BCST" */
#define SHMRING_KIND_RECORDS 0x53434552u   /* "RECS" */

typedef struct shmring_arena shmring_arena;
typedef struct shmring_ring shmring_ring;

/* ---- arenas ---- */

typedef struct shmring_arena_opts {
	int64_t ready_timeout_ns; /* wait for a creator still initialising; 0: 1 s (as Go) */
} shmring_arena_opts;

/* shmring_arena_open opens and validates an existing arena. A bare name
 * ("orders") means /dev/shm/orders; a name with a slash is a path. opts may
 * be NULL. */
int shmring_arena_open(const char *path, const shmring_arena_opts *opts, shmring_arena **out);

/* shmring_arena_close unmaps the arena and closes its files (which drops
 * every liveness lock of its ring handles). Close ring handles first. */
void shmring_arena_close(shmring_arena *a);

/* shmring_arena_check_size fails with SHMRING_ETRUNCATED when the file is
 * now shorter than the mapping (another process truncated it), as Go's
 * Arena.CheckSize. Finding a truncation breaks the handle for good: every
 * mapping of the file (the arena's, and each record ring's double
 * mapping) is replaced in place with private anonymous memory, so nothing
 * in this process faults on the lost pages any more (a region's bytes
 * read as zeros); its liveness locks are dropped (its ring entries read
 * as dead to the other processes); and from then on lookups, ring opens,
 * checks and every call on its ring handles return SHMRING_ETRUNCATED
 * (which shmring_err_is matches to SHMRING_ECORRUPT too); close and
 * detach still work. Like a Go peer, a C peer looks for a truncation only
 * here: in shmring_lookup (every ring open) and shmring_recover. A ring
 * call that touches a lost page before one of those checks dies of SIGBUS,
 * in C as in Go; only keeping the file writable to its sharing processes
 * alone (mode 0600) rules that out. */
int shmring_arena_check_size(shmring_arena *a);

uint32_t shmring_arena_pad_unit(const shmring_arena *a);
uint64_t shmring_arena_size(const shmring_arena *a);

typedef struct shmring_region {
	char name[64];
	uint64_t offset, size, align;
	uint32_t kind, creator_pid;
	int64_t created_unix_nano;
	void *mem; /* offset bytes into the arena's mapping */
} shmring_region;

/* shmring_lookup finds a published region by name. */
int shmring_lookup(shmring_arena *a, const char *name, shmring_region *out);

/* ---- rings ---- */

typedef struct shmring_ring_opts {
	int64_t open_timeout_ns;  /* wait for the ring header's State; 0 or negative: 1 s (as Go's default) */
	int64_t claim_timeout_ns; /* MPMC: repair claims of live holders stuck this long; 0: off */
} shmring_ring_opts;

/* shmring_ring_open attaches to the ring in region name. kind is one of
 * SHMRING_KIND_SPSC/MPMC/RECORDS, or 0 for whatever the region holds
 * (a broadcast ring is opened with shmring_broadcast_open or
 * shmring_subscribe). opts may be NULL. */
int shmring_ring_open(shmring_arena *a, const char *name, uint32_t kind,
		      const shmring_ring_opts *opts, shmring_ring **out);

/* shmring_ring_close detaches: an SPSC producer first ends the stream it
 * still owns (CloseWrite at its tail); then the handle's peer entry is
 * released and the handle freed: the pointer is invalid afterwards (a
 * second close, or any call on it, is a use after free; a NULL handle
 * does nothing, so clear your pointer). shmring_ring_detach likewise. */
int shmring_ring_close(shmring_ring *r);

/* shmring_ring_detach releases the handle without ending the stream. */
int shmring_ring_detach(shmring_ring *r);

uint32_t shmring_ring_kind(const shmring_ring *r);
uint32_t shmring_ring_slots(const shmring_ring *r);
uint32_t shmring_ring_slot_size(const shmring_ring *r);
int shmring_ring_peer_index(const shmring_ring *r); /* 0: the shared overflow entry */

/* Producing. A blocking call waits up to timeout_ns (< 0: forever; 0:
 * try once) with the Go side's eventcount protocol and returns
 * SHMRING_ETIMEDOUT when it ends. */
int shmring_try_push(shmring_ring *r, const void *msg, size_t len);
int shmring_push(shmring_ring *r, const void *msg, size_t len, int64_t timeout_ns);

typedef struct shmring_reservation {
	void *buf;  /* write up to cap bytes here, then commit */
	size_t cap; /* the ring's slot size */
	uint64_t pos;
} shmring_reservation;

int shmring_try_reserve(shmring_ring *r, size_t n, shmring_reservation *res);
int shmring_reserve(shmring_ring *r, size_t n, shmring_reservation *res, int64_t timeout_ns);
int shmring_commit(shmring_ring *r, shmring_reservation *res, size_t n);

/* shmring_close_write ends the stream: consumers read what is left, then
 * SHMRING_EEOF. Any handle may call it. */
int shmring_close_write(shmring_ring *r);
int shmring_is_closed(shmring_ring *r);

/* Consuming. *len receives the message's length. */
int shmring_try_pop(shmring_ring *r, void *dst, size_t cap, size_t *len);
int shmring_pop(shmring_ring *r, void *dst, size_t cap, size_t *len, int64_t timeout_ns);

typedef struct shmring_message {
	const void *data; /* in the ring, valid until shmring_release */
	size_t len;
	uint64_t pos;
} shmring_message;

int shmring_try_peek(shmring_ring *r, shmring_message *m);
int shmring_peek(shmring_ring *r, shmring_message *m, int64_t timeout_ns);
int shmring_release(shmring_ring *r, shmring_message *m);

/* ---- counters ---- */

typedef struct shmring_stats {
	uint64_t msgs_in, msgs_out, len;
	int closed;
	int peers, dead_peers;
	uint64_t bytes_in, bytes_out, full_events, empty_events, sleeps, wakes;
	uint64_t skipped, redelivered;
	uint32_t not_empty_waiters, not_full_waiters;
} shmring_stats;

/* shmring_stats_get sums the ring's counters as Go's Stats() does. */
int shmring_stats_get(shmring_ring *r, shmring_stats *s);

typedef struct shmring_recovery {
	int dead_peers, sleepers, skipped, redelivered;
} shmring_recovery;

/* shmring_recover repairs what dead peers left (sleeper registrations,
 * registrations no entry accounts for, after a 1 ms second look; MPMC and
 * record claims), as Go's Recover(). It checks the arena's size first
 * (shmring_arena_check_size): SHMRING_ETRUNCATED if the file was
 * truncated, after which the handle is broken. */
int shmring_recover(shmring_ring *r, shmring_recovery *rec);

/* ---- broadcast rings (docs/ring.md Broadcast) ----
 * One producer, many subscribers, each of which sees every message from
 * its join on. A tethered subscriber holds the producer back (it loses
 * nothing while it lives; a dead one is released by the producer); a
 * lossy one never does and may be lapped. */

typedef struct shmring_subscribe_opts {
	int oldest;   /* start a ring back (Oldest) instead of at the tail (Newest) */
	int lossy;    /* do not hold the producer back (no tether) */
	int64_t open_timeout_ns;
} shmring_subscribe_opts;

/* shmring_broadcast_open attaches as the broadcast ring's producer; push
 * with shmring_try_push/shmring_push or reserve/commit. Its first producer
 * operation takes the side over (epoch bump) from whichever handle had it,
 * which then gets SHMRING_EFENCED. shmring_push waits (timeout) only while
 * a live tethered subscriber is Slots messages behind. shmring_ring_close
 * ends the stream if the handle is still the producer. */
int shmring_broadcast_open(shmring_arena *a, const char *name, const shmring_ring_opts *opts,
			   shmring_ring **out);
/* shmring_subscribe attaches as a new subscriber (opts may be NULL:
 * tethered, at Newest); SHMRING_ESUBSCRIBERS when every subscriber entry
 * is held by a live one. Read with shmring_try_pop / shmring_pop /
 * shmring_try_peek / shmring_peek + shmring_release. A read returns
 * SHMRING_ELAPPED when messages were overwritten before it read them (no
 * message: shmring_sub_last_missed says exactly how many; the next read
 * continues at the oldest message still in the ring); SHMRING_EEOF once
 * the stream is closed and read. shmring_ring_close leaves the ring
 * (never ends the stream). */
int shmring_subscribe(shmring_arena *a, const char *name, const shmring_subscribe_opts *opts,
		      shmring_ring **out);
/* shmring_sub_lag: messages pushed that the subscriber has not read. */
int shmring_sub_lag(shmring_ring *r, uint64_t *lag);
/* shmring_sub_last_missed: the Missed count of the last SHMRING_ELAPPED. */
int shmring_sub_last_missed(shmring_ring *r, uint64_t *missed);

/* ---- record rings (variable length; ring/records.go, docs/ring.md "Record rings") ----
 * shmring_ring_open with SHMRING_KIND_RECORDS; then the same push, pop,
 * reserve/commit and peek/release calls, with lengths 0 .. the slot size
 * (the largest record payload). Any number of handles produce at once;
 * one consumes (a second consumer handle takes the side over, fencing the
 * first). A mirrored ring's data area is mapped twice back to back (as
 * the Go side does); where that cannot be done shmring_ring_open returns
 * SHMRING_EUNSUPPORTED. Several reservations may be outstanding in one
 * handle (committed in any order; a reservation's cap is its record's
 * room, at most the slot size), and several peeks (released oldest
 * first: SHMRING_ENOTRESERVED for any other). The view of the data area
 * is unmapped when the handle is closed: no buf or data may be used
 * after. */
uint64_t shmring_ring_capacity(const shmring_ring *r); /* records: data bytes; else 0 */
int shmring_ring_mirrored(const shmring_ring *r);      /* records: the data area is mapped twice */

typedef struct shmring_buf {
	const void *data;
	size_t len;
} shmring_buf;

/* shmring_try_push_batch pushes as many of msgs[0..n) as fit, in order,
 * under one hold of the claim lock, committed at once; *pushed says how
 * many. An error only when none was pushed. */
int shmring_try_push_batch(shmring_ring *r, const shmring_buf *msgs, size_t n, size_t *pushed);
/* shmring_push_batch pushes all of them, waiting while the ring is full;
 * on an error (SHMRING_ETIMEDOUT, ...) *pushed says how many went. */
int shmring_push_batch(shmring_ring *r, const shmring_buf *msgs, size_t n, size_t *pushed, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif
#endif
