/*
 * internal.h: what the C peer's files share. The shared layout is in
 * docs/layout.md (arena) and docs/ring.md (rings); offsets below are the
 * tables' offsets, pinned by static asserts to the structs.
 *
 * Memory ordering: the Go side uses sync/atomic (sequentially consistent)
 * for every shared word except where docs/ring.md names a release store
 * (SPSC slot Seq, MPMC slot Len, MPMC claim words and Owner tags). This
 * code uses memory_order_seq_cst wherever Go uses sync/atomic, and
 * memory_order_release where Go uses a release store; loads Go makes with
 * sync/atomic are seq_cst here too (a plain MOV on x86-64, LDAR on arm64).
 */
#ifndef SHMRING_INTERNAL_H
#define SHMRING_INTERNAL_H

#define _GNU_SOURCE 1
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../include/shmring.h"

/* ---- atomics on shared memory ----
 * The mapping holds plain bytes; every shared word is accessed through
 * these, never directly. The casts are to _Atomic types of the same size
 * and alignment (lock-free on every target this builds for: asserted in
 * arena.c). */
#define A64(p) ((_Atomic uint64_t *)(void *)(p))
#define A32(p) ((_Atomic uint32_t *)(void *)(p))
#define SC memory_order_seq_cst
#define REL memory_order_release
#define ACQ memory_order_acquire
#define RLX memory_order_relaxed

static inline uint64_t ld64(void *p) { return atomic_load_explicit(A64(p), SC); }
static inline uint32_t ld32(void *p) { return atomic_load_explicit(A32(p), SC); }
static inline void st64(void *p, uint64_t v) { atomic_store_explicit(A64(p), v, SC); }
static inline void st32(void *p, uint32_t v) { atomic_store_explicit(A32(p), v, SC); }
static inline void strel64(void *p, uint64_t v) { atomic_store_explicit(A64(p), v, REL); }
static inline void strel32(void *p, uint32_t v) { atomic_store_explicit(A32(p), v, REL); }
static inline bool cas64(void *p, uint64_t old, uint64_t nw)
{
	return atomic_compare_exchange_strong_explicit(A64(p), &old, nw, SC, SC);
}
static inline bool cas32(void *p, uint32_t old, uint32_t nw)
{
	return atomic_compare_exchange_strong_explicit(A32(p), &old, nw, SC, SC);
}
static inline uint64_t add64(void *p, uint64_t v) { return atomic_fetch_add_explicit(A64(p), v, SC) + v; }
static inline uint32_t add32(void *p, uint32_t v) { return atomic_fetch_add_explicit(A32(p), v, SC) + v; }
static inline uint32_t swap32(void *p, uint32_t v) { return atomic_exchange_explicit(A32(p), v, SC); }

/* ---- arena layout (docs/layout.md) ---- */
#define ARENA_MAGIC "SHMRING\0"
#define ARENA_MAJOR 1
#define BYTE_ORDER_MARK 0x01020304u
#define ARENA_HEADER_SIZE 256
#define DIR_ENTRY_SIZE 128
#define STATE_READY 0x59444552u
#define MAX_DIR_CAP (1u << 16)
#define MAX_ARENA_SIZE (1ull << 46)

enum { /* header offsets */
	AH_MAGIC = 0, AH_MAJOR = 8, AH_MINOR = 10, AH_BYTEORDER = 12, AH_INCOMPAT = 16, AH_COMPAT = 24,
	AH_TOTALSIZE = 32, AH_PAGESIZE = 40, AH_PADUNIT = 44, AH_HEADERSIZE = 48, AH_DIRENTRYSIZE = 52,
	AH_DIROFFSET = 56, AH_DIRCAP = 64, AH_CREATORPID = 68, AH_CREATED = 72, AH_DATAOFFSET = 80,
	AH_ROCOMPAT = 88, AH_CHECKSUM = 124, AH_STATE = 128, AH_DIRCOUNT = 132, AH_ALLOCNEXT = 136,
	AH_DIRGEN = 144,
};
enum { /* directory entry offsets */
	DE_NAME = 0, DE_OFFSET = 64, DE_SIZE = 72, DE_ALIGN = 80, DE_KIND = 88, DE_FLAGS = 92,
	DE_CREATORPID = 96, DE_CREATED = 104, DE_CHECKSUM = 120, DE_STATE = 124,
};

uint32_t shmring_crc32c(const void *p, size_t n);

/* A peer-liveness lock byte held through the arena's locking description. */
struct held_set {
	int64_t *offs;
	size_t n, cap;
};

struct shmring_arena {
	char *path;
	int fd;      /* main description: liveness tests (F_OFD_GETLK) */
	int hold_fd; /* second description: liveness locks (F_OFD_SETLK), -1 until needed */
	uint8_t *mem;
	uint64_t size, page_size, pad_unit, dir_cap, data_offset;
	atomic_flag lock; /* guards hold_fd and held */
	struct held_set held;
	/* views: other mappings of the file (record rings' double mappings),
	 * replaced with the main mapping on a truncation; guarded by lock. */
	struct arena_view *views;
	size_t nviews, views_cap;
	/* broken: a check found the file truncated (arena_break_off): every
	 * mapping is anonymous memory now, the liveness locks are dropped,
	 * and lookups, checks and ring calls fail with SHMRING_ETRUNCATED. */
	atomic_bool broken;
	pid_t owner;                     /* the process that opened it: a forked child takes no locks */
	struct shmring_arena *next_open; /* the list of open arenas (arena.c, fork safety) */
};

struct arena_view {
	void *addr;
	size_t len;
};

/* Mappings of the arena file besides the main one (arena.c): added after
 * mapping, removed before unmapping. */
int arena_add_view(shmring_arena *a, void *addr, size_t len);
void arena_remove_view(shmring_arena *a, void *addr);
static inline bool arena_broken(shmring_arena *a) { return atomic_load_explicit(&a->broken, memory_order_acquire); }

/* Liveness locks (arena.c). */
int arena_lock_byte(shmring_arena *a, int64_t off);   /* OK, or SHMRING_EOUTSTANDING when held elsewhere */
void arena_unlock_byte(shmring_arena *a, int64_t off);
int arena_test_byte(shmring_arena *a, int64_t off, bool *held); /* held by any description but the main one */

/* ---- ring layout (docs/ring.md) ---- */
#define RING_MAGIC "SHMRRING"
#define RING_MAJOR 1
#define RING_HEADER_SIZE 256
#define PEER_ENTRY_MIN 128
#define CLOSED_BIT (1ull << 63)
#define POS_MASK (CLOSED_BIT - 1)
#define SPSC_EPOCH_SHIFT 56
#define SPSC_EPOCH_ONE (1ull << SPSC_EPOCH_SHIFT)
#define SPSC_POS_MASK (SPSC_EPOCH_ONE - 1)
#define SPSC_EPOCH_MASK (POS_MASK & ~SPSC_POS_MASK)
#define SKIP_BIT (1ull << 63)
#define BCAST_WRITING (1ull << 63) /* a broadcast slot's Seq while the producer rewrites it */
#define PE_CURSOR PE_CONSCLAIM     /* a subscriber entry's cursor (docs/ring.md subscriberEntry) */
#define PE_MISSED PE_MSGSIN
#define PE_LAPPED PE_FULLEVENTS
#define FLAG_PEER_LOCKS 1u
#define FLAG_CLAIM_REPAIR 2u
#define FLAG_MIRRORED 4u
#define KNOWN_RING_FLAGS (FLAG_PEER_LOCKS | FLAG_CLAIM_REPAIR | FLAG_MIRRORED)
#define REQUIRED_RING_FLAGS FLAG_CLAIM_REPAIR
#define MAX_SLOTS (1u << 30)
#define MAX_SLOT_SIZE (1u << 30)
#define MAX_PEERS 1024
#define MAX_RING_BYTES (1ull << 44)
#define RECORD_ALIGN 16
#define RECORD_DATA_ALIGN 4096
#define MAX_RECORD_CAPACITY (1ull << 34)

enum ring_kind { KIND_SPSC = 1, KIND_MPMC = 2, KIND_BROADCAST = 3, KIND_RECORDS = 4 };

enum { /* ring header offsets */
	RH_MAGIC = 0, RH_MAJOR = 8, RH_MINOR = 10, RH_KIND = 12, RH_SLOTS = 16, RH_SLOTSIZE = 20,
	RH_SLOTSTRIDE = 24, RH_PADUNIT = 28, RH_REGIONSIZE = 32, RH_PRODOFF = 40, RH_CONSOFF = 48,
	RH_PEERSOFF = 56, RH_PEERCAP = 64, RH_PEERSTRIDE = 68, RH_SLOTSOFF = 72, RH_CREATORPID = 80,
	RH_FLAGS = 84, RH_CREATED = 88, RH_SUBSCRIBERS = 96, RH_DATAALIGN = 100, RH_CAPACITY = 104,
	RH_CHECKSUM = 120, RH_STATE = 124, RH_CLOSED = 128, RH_SKIPPED = 136, RH_REDELIVERED = 144,
};
enum { /* producer / consumer unit offsets */
	PU_POS = 0, PU_NOTEMPTYSEQ = 8, PU_NOTEMPTYWAITERS = 12,
	CU_POS = 0, CU_NOTFULLSEQ = 8, CU_NOTFULLWAITERS = 12,
};
enum { /* peer entry offsets */
	PE_PID = 0, PE_ROLES = 4, PE_STARTTICKS = 8, PE_PRODCLAIM = 16, PE_HEARTBEAT = 24,
	PE_MSGSIN = 32, PE_BYTESIN = 40, PE_FULLEVENTS = 48, PE_SLEEPINGFULL = 56, PE_GENERATION = 60,
	PE_CONSCLAIM = 64, PE_ATTACH = 72, PE_MSGSOUT = 80, PE_BYTESOUT = 88, PE_EMPTYEVENTS = 96,
	PE_SLEEPS = 104, PE_WAKES = 112, PE_SLEEPINGEMPTY = 120,
};
enum { ROLE_PRODUCER = 1, ROLE_CONSUMER = 2, ROLE_SUBSCRIBER = 4, ROLE_TETHERED = 8 };

/* MPMC Owner tags (docs/ring.md, MPMC slot). */
#define TAG_IDX_MASK ((1u << 10) - 1)
#define TAG_CONSUMER (1u << 10)
#define TAG_LAP_SHIFT 11
#define TAG_LAP_MASK (0xFu << TAG_LAP_SHIFT)
#define TAG_GEN_SHIFT 15
#define TAG_GEN_MASK ((1u << 17) - 1)
#define TAG_OVERFLOW (TAG_GEN_MASK << TAG_GEN_SHIFT)
#define TAG_DEAD (1u << TAG_GEN_SHIFT)

struct geometry {
	enum ring_kind kind;
	uint64_t pad, slots, mask, slot_size, slot_header, stride;
	uint64_t prod_off, cons_off, peers_off, peers, sub_base, peer_stride, slots_off, size;
	uint64_t capacity, data_align;
	unsigned lap_shift;
	bool peer_locks, mirrored;
	uint64_t pos_mask;
	/* records: positions count bytes modulo pos_mod = capacity * 2^k <= 2^56;
	 * pow2: capacity is a power of two (index and lap by mask and shift). */
	uint64_t pos_mod;
	bool pow2;
};

struct eventcount {
	uint8_t *seq, *waiters;
};

struct kind_ops;

/* SPSC private state (spsc.c). */
#define UNSYNCED (~0ull)
struct spsc_state {
	uint64_t tail, p_epoch, head_cache;
	bool resv;
	uint64_t head, c_epoch, tail_cache;
	bool peek;
	uint32_t empty_polls;
	uint32_t p_ops, c_ops; /* operations since the last heartbeat */
};

/* MPMC stall tracking (mpmc.c): one per side. */
struct stall_tracker {
	uint64_t key, seq;
	int64_t since, probe;
};
struct mpmc_state {
	uint32_t empty_polls, full_polls;
	struct stall_tracker stall[2];
};

/* Broadcast producer private state (broadcast.c). */
struct bcast_state {
	uint64_t tail, epoch;
	/* limit: the lowest live tethered cursor at the last look + Slots
	 * (the tail then + Slots with none); positions below it may be
	 * written without looking again. 0 after a resync. */
	uint64_t limit;
	bool resv;
	/* dead[i]: dead_mark(Generation) of subscriber entry sub_base+i when
	 * it was found dead (its tether released); 0 none. In r->heap. */
	uint64_t *dead;
	int64_t last_probe;
	uint32_t ops;
};

/* Broadcast subscriber private state (broadcast.c). */
struct sub_state {
	uint64_t cursor;    /* next position to read */
	uint64_t join_tail; /* the tail read after the role store */
	uint64_t last_missed;
	uint32_t empty_polls, lap_streak, ops;
	bool lossy, peek;
};

/* Record ring private state (records.c). */
struct rec_peek {
	uint64_t pos, end, len;
};
struct rec_state {
	uint8_t *data; /* the data area: 2*capacity bytes if mirrored, else capacity */
	void *view;    /* the double mapping, if any */
	size_t view_len;
	/* producer */
	uint64_t need; /* the span the last SHMRING_EFULL was for (ready's room) */
	int64_t resv;  /* reservations not yet committed */
	uint32_t p_ops;
	/* consumer */
	uint64_t head, rel, epoch, tail_cache;
	struct rec_peek *peeks;
	size_t npeeks, peek_front, peek_cap;
	uint32_t empty_polls, c_ops;
	uint64_t stall_pos;
	int64_t stall_since, stall_probe;
};

struct shmring_ring {
	shmring_arena *arena;
	shmring_region region;
	uint8_t *mem; /* the region's bytes */
	struct geometry g;
	const struct kind_ops *ops;
	uint8_t *hdr, *prod, *cons;
	uint8_t *peer; /* our peer entry (entry 0 if none could be claimed) */
	int peer_idx;
	uint32_t peer_gen, owner_tag;
	int64_t lock_off; /* our liveness byte, -1 none */
	uint32_t roles_done;
	struct eventcount not_empty, not_full;
	int64_t claim_timeout_ns;
	int64_t last_recover;
	/* sweep_surplus's last look (ring.c; ring/peers.go sweepSurplus):
	 * the surplus seen and when (mono ns, 0 none yet). */
	uint32_t surplus_seen[2];
	int64_t surplus_at;
	bool closed_handle;
	bool subscriber; /* a broadcast subscriber: its entry is in the subscriber part */
	void *heap;      /* the kind's private allocation, freed at detach */
	union {
		struct spsc_state spsc;
		struct mpmc_state mpmc;
		struct bcast_state bc;
		struct sub_state sub;
		struct rec_state rec;
	} u;
};

/* What one ring kind implements; the shared wait loop (ring.c) drives it. */
struct kind_ops {
	int (*push)(shmring_ring *r, const void *msg, size_t len);
	int (*pop)(shmring_ring *r, void *dst, size_t cap, size_t *len);
	int (*reserve)(shmring_ring *r, size_t n, shmring_reservation *res);
	int (*commit)(shmring_ring *r, shmring_reservation *res, size_t n);
	int (*peek)(shmring_ring *r, shmring_message *m);
	int (*release)(shmring_ring *r, shmring_message *m);
	bool (*ready)(shmring_ring *r, bool push);                /* the eventcount's "ring ready" */
	bool (*blocked)(shmring_ring *r, bool push, bool *stuck); /* repair what blocks us; true: repaired */
	void (*repair_claims)(shmring_ring *r, int dead_idx, int *skipped, int *redelivered);
	void (*close)(shmring_ring *r); /* before the peer entry is released */
	void (*released)(shmring_ring *r); /* after the peer entry is released */
	int (*attach)(shmring_ring *r);   /* after the header is read, before the peer claim; may be NULL */
	void (*destroy)(shmring_ring *r); /* after the peer entry is released, before free; may be NULL */
	bool counts_empty_inside;         /* pop counts EmptyEvents itself (SPSC) */
};

extern const struct kind_ops shmring_spsc_ops, shmring_mpmc_ops, shmring_bcast_ops, shmring_sub_ops, shmring_records_ops;

/* broadcast.c */
int sub_join(shmring_ring *r, bool oldest);
uint64_t bcast_backlog(shmring_ring *r); /* Len of a broadcast ring: what the slowest live tethered subscriber has to read */

/* ring.c */
static inline uint8_t *peer_at(shmring_ring *r, uint64_t i) { return r->mem + r->g.peers_off + i * r->g.peer_stride; }
void ring_mark_role(shmring_ring *r, uint32_t role);
void ring_beat(shmring_ring *r);
void ring_count_in(shmring_ring *r, uint64_t n, uint64_t nbytes);
void ring_count_out(shmring_ring *r, uint64_t n, uint64_t nbytes);
void ring_count_full(shmring_ring *r);
void ring_count_empty(shmring_ring *r);
void ec_notify(shmring_ring *r, struct eventcount *ec, int n);
void ec_wake(shmring_ring *r, struct eventcount *ec, int n);
void ring_closed(shmring_ring *r); /* mirror + wake everyone */
bool ring_closed_hint(shmring_ring *r);
void ring_repair_closed_mirror(shmring_ring *r);
bool ring_quiet_empty(shmring_ring *r, uint32_t polls);
int peer_state(shmring_ring *r, int idx, int dead_idx); /* claim_alive / claim_unknown / claim_dead */
enum { CLAIM_ALIVE, CLAIM_UNKNOWN, CLAIM_DEAD };
bool peer_alive(shmring_ring *r, int idx, uint32_t pid, bool *tested);
int tag_state(shmring_ring *r, uint32_t tag, int dead_idx); /* whose tag (MPMC Owner, record Owner, ClaimLock) */
/* ring_wait_fn: the shared blocking loop around fn, which returns
 * SHMRING_EFULL (push) or SHMRING_EEMPTY while it must wait. */
int ring_wait_fn(shmring_ring *r, bool push, int (*fn)(shmring_ring *r, void *arg), void *arg, int64_t timeout_ns);

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}
int64_t mono_now(void);
int64_t deadline_after(int64_t timeout_ns); /* mono_now() + timeout_ns, saturating */
int64_t unix_now(void);

/* futex.c: shared (not private) futexes on 32-bit words in the mapping. */
int futex_wait_shared(void *addr, uint32_t val, int64_t timeout_ns); /* 0 woken/changed, SHMRING_ETIMEDOUT */
int futex_wake_shared(void *addr, int n);                             /* woken count, < 0 error */

/* procfs */
uint64_t self_start_ticks(void);
bool proc_stat(uint32_t pid, uint64_t *ticks, bool *zombie);

#define TAIL_EVERY 64
#define BEAT_EVERY 64
#define MAX_RETRIES (1 << 20)

#endif
