/*
 * ring.c: what every ring kind shares: attaching (ring header validation
 * as ring/layout.go readHeader, waiting for State as ring/lifecycle.go
 * waitHeader), the peer table (claim, release, liveness, sleeper repair:
 * ring/peers.go), the eventcount (ring/eventcount.go), the one blocking
 * loop every kind's blocking calls use (ring/wait.go waitFor), counters,
 * Stats and Recover, and the public entry points, which dispatch to the
 * kind's ops (spsc.c, mpmc.c, broadcast.c; later records.c).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint32_t le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint16_t le16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }
static bool is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
	nanosleep(&ts, NULL);
}

/* ---- procfs ---- */

/* proc_stat reads field 3 (state) and 22 (starttime) of /proc/PID/stat,
 * counting fields after the last ')' (internal/procfs ParseStat). */
static bool parse_stat(const char *path, uint64_t *ticks, bool *zombie)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return false;
	p++;
	char *fields[20];
	int k = 0;
	for (char *tok = strtok(p, " \n"); tok && k < 20; tok = strtok(NULL, " \n"))
		fields[k++] = tok;
	if (k < 20)
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(fields[19], &end, 10);
	if (errno || *end)
		return false;
	*ticks = v;
	*zombie = strlen(fields[0]) == 1 && (fields[0][0] == 'Z' || fields[0][0] == 'X' || fields[0][0] == 'x');
	return true;
}

bool proc_stat(uint32_t pid, uint64_t *ticks, bool *zombie)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%u/stat", pid);
	return parse_stat(path, ticks, zombie);
}

uint64_t self_start_ticks(void)
{
	static _Atomic uint64_t cached; /* 0: not read yet (or unreadable, as Go's) */
	uint64_t v = atomic_load_explicit(&cached, RLX);
	if (!v) {
		bool z;
		if (parse_stat("/proc/self/stat", &v, &z))
			atomic_store_explicit(&cached, v, RLX);
		else
			v = 0;
	}
	return v;
}

/* ---- geometry and header ---- */

static uint64_t slot_header(enum ring_kind k) { return k == KIND_SPSC ? 8 : 16; }

static void compute_geometry(struct geometry *g, enum ring_kind kind, uint64_t pad, uint64_t slots,
			     uint64_t slot_size, uint64_t peers, uint64_t subscribers, uint64_t capacity)
{
	memset(g, 0, sizeof *g);
	g->kind = kind;
	g->pad = pad;
	g->slots = slots;
	g->slot_size = slot_size;
	g->sub_base = peers;
	g->peers = peers + subscribers;
	g->mask = slots - 1;
	g->lap_shift = slots ? (unsigned)__builtin_ctzll(slots) : 0;
	g->pos_mask = kind == KIND_MPMC ? POS_MASK : SPSC_POS_MASK;
	g->slot_header = slot_header(kind);
	g->stride = align_up(g->slot_header + slot_size, 8);
	uint64_t a = align_up(RING_HEADER_SIZE, pad);
	g->prod_off = a;
	g->cons_off = a + pad;
	g->peers_off = a + 2 * pad;
	g->peer_stride = pad > PEER_ENTRY_MIN ? pad : PEER_ENTRY_MIN;
	g->slots_off = align_up(g->peers_off + g->peers * g->peer_stride, pad);
	if (kind == KIND_RECORDS) {
		g->capacity = capacity;
		g->slots = capacity / RECORD_ALIGN;
		g->stride = RECORD_ALIGN;
		g->mask = g->slots - 1;
		g->data_align = pad > RECORD_DATA_ALIGN ? pad : RECORD_DATA_ALIGN;
		g->pow2 = is_pow2(capacity);
		g->lap_shift = capacity ? (unsigned)__builtin_ctzll(capacity) : 0;
		g->pos_mod = capacity;
		while (capacity && g->pos_mod <= (SPSC_POS_MASK + 1) >> 1) /* doubling stays <= 2^56 */
			g->pos_mod <<= 1;
		g->slots_off = align_up(g->peers_off + g->peers * g->peer_stride, g->data_align);
	}
	g->size = g->slots_off + g->slots * g->stride;
}

/* read_header: ring/layout.go readHeader, on a private copy of [0,124). */
static int read_header(const uint8_t *mem, uint64_t region_size, uint32_t want_kind, uint64_t arena_pad,
		       struct geometry *g)
{
	uint8_t h[RH_STATE];
	memcpy(h, mem, sizeof h);
	if (memcmp(h + RH_MAGIC, RING_MAGIC, 8) != 0)
		return SHMRING_EKIND;
	if (le16(h + RH_MAJOR) != RING_MAJOR)
		return SHMRING_EVERSION;
	if (shmring_crc32c(h, RH_CHECKSUM) != le32(h + RH_CHECKSUM))
		return SHMRING_ECHECKSUM;
	uint32_t flags = le32(h + RH_FLAGS);
	if (flags & ~KNOWN_RING_FLAGS)
		return SHMRING_EVERSION;
	if ((flags & REQUIRED_RING_FLAGS) != REQUIRED_RING_FLAGS)
		return SHMRING_EVERSION;
	uint32_t kind = le32(h + RH_KIND);
	if (kind != want_kind)
		return SHMRING_EKIND;
	uint64_t slots = le32(h + RH_SLOTS), slot_size = le32(h + RH_SLOTSIZE);
	uint64_t peer_cap = le32(h + RH_PEERCAP), subs = le32(h + RH_SUBSCRIBERS);
	uint64_t data_align = le32(h + RH_DATAALIGN), capacity = le64(h + RH_CAPACITY), pad = le32(h + RH_PADUNIT);
	if (subs > peer_cap)
		return SHMRING_ECORRUPT;
	uint64_t peers = peer_cap - subs;
	if (kind == KIND_RECORDS) {
		if (capacity > MAX_RECORD_CAPACITY || slots * RECORD_ALIGN != capacity)
			return SHMRING_ECORRUPT;
		if (subs != 0 || capacity < 4096 || capacity % RECORD_DATA_ALIGN != 0)
			return SHMRING_ECORRUPT;
		uint64_t max_rec = capacity / 2 - 16;
		if (slot_size < 1 || slot_size > max_rec || slot_size > MAX_SLOT_SIZE)
			return SHMRING_ECORRUPT;
	} else {
		if (data_align != 0 || capacity != 0 || (flags & FLAG_MIRRORED))
			return SHMRING_ECORRUPT;
		if (slots < 2 || slots > MAX_SLOTS || !is_pow2(slots))
			return SHMRING_ECORRUPT;
		if (slot_size < 1 || slot_size > MAX_SLOT_SIZE)
			return SHMRING_ECORRUPT;
		if (kind == KIND_BROADCAST ? subs < 1 || subs > MAX_PEERS : subs != 0)
			return SHMRING_ECORRUPT;
	}
	if (peers < 1 || peers > MAX_PEERS)
		return SHMRING_ECORRUPT;
	if (!is_pow2(pad) || pad < 64 || pad > 4096 || (arena_pad && pad != arena_pad))
		return SHMRING_ECORRUPT;
	compute_geometry(g, (enum ring_kind)kind, pad, kind == KIND_RECORDS ? 0 : slots, slot_size, peers, subs,
			 capacity);
	g->peer_locks = flags & FLAG_PEER_LOCKS;
	g->mirrored = flags & FLAG_MIRRORED;
	if (kind == KIND_RECORDS && data_align != g->data_align)
		return SHMRING_ECORRUPT;
	if (le32(h + RH_SLOTSTRIDE) != g->stride || le64(h + RH_REGIONSIZE) != g->size ||
	    le64(h + RH_PRODOFF) != g->prod_off || le64(h + RH_CONSOFF) != g->cons_off ||
	    le64(h + RH_PEERSOFF) != g->peers_off || le32(h + RH_PEERSTRIDE) != g->peer_stride ||
	    le64(h + RH_SLOTSOFF) != g->slots_off)
		return SHMRING_ECORRUPT;
	if (g->size > region_size)
		return SHMRING_ECORRUPT;
	return SHMRING_OK;
}

/* wait_header: the directory entry is published before the creator writes
 * the ring header, so wait while State is 0 (ring/lifecycle.go waitHeader). */
static int wait_header(const uint8_t *mem, uint64_t size, uint32_t kind, uint64_t pad, int64_t timeout,
		       struct geometry *g)
{
	if (size < RING_HEADER_SIZE)
		return SHMRING_EKIND;
	int64_t deadline = deadline_after(timeout), pause = 20000;
	for (;;) {
		/* Acquire: pairs with the creator's store of State after the header. */
		uint32_t st = atomic_load_explicit(A32((void *)(mem + RH_STATE)), ACQ);
		if (st == STATE_READY)
			break;
		if (st != 0)
			return SHMRING_ECORRUPT;
		int64_t left = deadline - mono_now();
		if (left <= 0)
			return SHMRING_ENOTREADY;
		sleep_ns(pause < left ? pause : left);
		pause = pause * 2 > 5000000 ? 5000000 : pause * 2;
	}
	return read_header(mem, size, kind, pad, g);
}

/* ---- liveness ---- */

static bool uses_locks(shmring_ring *r) { return r->g.peer_locks; }

static int64_t lock_off(shmring_ring *r, int i)
{
	return (int64_t)(r->region.offset + r->g.peers_off + (uint64_t)i * r->g.peer_stride);
}

static bool pid_alive(uint32_t pid, uint64_t start_ticks)
{
	if (pid == (uint32_t)getpid())
		return start_ticks == 0 || start_ticks == self_start_ticks();
	if (pid == 0 || pid > (1u << 22))
		return false;
	if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
		return false;
	uint64_t ticks;
	bool zombie;
	if (!proc_stat(pid, &ticks, &zombie))
		return true; /* no /proc view: kill said it exists */
	return !zombie && (start_ticks == 0 || ticks == 0 || ticks == start_ticks);
}

/* peer_alive: ring/peers.go peerAlive. *tested: the lock could be tested. */
bool peer_alive(shmring_ring *r, int idx, uint32_t pid, bool *tested)
{
	*tested = false;
	if (uses_locks(r)) {
		bool held;
		if (arena_test_byte(r->arena, lock_off(r, idx), &held) == SHMRING_OK) {
			*tested = true;
			return held;
		}
	}
	return pid_alive(pid, ld64(peer_at(r, (uint64_t)idx) + PE_STARTTICKS));
}

/* peer_state: ring/mpmc_repair.go entryState (no memo). */
int peer_state(shmring_ring *r, int idx, int dead_idx)
{
	if (idx == 0)
		return CLAIM_UNKNOWN;
	if (idx == dead_idx)
		return CLAIM_DEAD;
	uint32_t pid = ld32(peer_at(r, (uint64_t)idx) + PE_PID);
	if (pid == 0)
		return CLAIM_DEAD; /* released */
	bool tested;
	if (peer_alive(r, idx, pid, &tested))
		return CLAIM_ALIVE;
	if (r->g.peer_locks && !tested)
		return CLAIM_UNKNOWN;
	return CLAIM_DEAD;
}

/* tag_state: ring/mpmc_repair.go tagState: whose claim a tag names. */
int tag_state(shmring_ring *r, uint32_t tag, int dead_idx)
{
	int idx = (int)(tag & TAG_IDX_MASK);
	if (idx == 0 || (uint64_t)idx >= r->g.peers)
		return CLAIM_UNKNOWN; /* the overflow entry (or garbage) */
	if (idx == dead_idx)
		return CLAIM_DEAD;
	if ((ld32(peer_at(r, (uint64_t)idx) + PE_GENERATION) & TAG_GEN_MASK) != tag >> TAG_GEN_SHIFT)
		return CLAIM_DEAD; /* the entry was claimed again */
	return peer_state(r, idx, dead_idx);
}

/* ---- sleepers ---- */

static uint32_t subtract_clamped(void *w, uint32_t v)
{
	for (int try = 0; try < MAX_RETRIES; try++) {
		uint32_t cur = ld32(w);
		uint32_t d = cur < v ? cur : v;
		if (d == 0 || cas32(w, cur, cur - d))
			return d;
	}
	return 0;
}

/* unregister_sleepers takes a dead (and unclaimed) entry's registrations
 * out of the shared counts (docs/ring.md Sleepers, "repair"). */
static int unregister_sleepers(shmring_ring *r, uint8_t *e, int idx_gen_check, uint32_t gen)
{
	int n = 0;
	struct {
		uint8_t *reg, *waiters;
	} s[2] = {{e + PE_SLEEPINGEMPTY, r->prod + PU_NOTEMPTYWAITERS}, {e + PE_SLEEPINGFULL, r->cons + CU_NOTFULLWAITERS}};
	for (int i = 0; i < 2; i++) {
		uint32_t v = swap32(s[i].reg, 0);
		if (v == 0)
			continue;
		if (idx_gen_check && ld32(e + PE_GENERATION) != gen) {
			add32(s[i].reg, v); /* a new owner's: give them back */
			continue;
		}
		n += (int)subtract_clamped(s[i].waiters, v);
	}
	return n;
}

static int recover_sleepers(shmring_ring *r, int *dead)
{
	int n = 0;
	for (uint64_t i = 1; i < r->g.peers; i++) {
		uint8_t *e = peer_at(r, i);
		uint32_t gen = ld32(e + PE_GENERATION);
		uint32_t pid = ld32(e + PE_PID);
		if (pid == 0)
			continue;
		if (uses_locks(r)) {
			if (arena_lock_byte(r->arena, lock_off(r, (int)i)) != SHMRING_OK)
				continue; /* alive (or ours) */
			(*dead)++;
			n += unregister_sleepers(r, e, 0, 0);
			arena_unlock_byte(r->arena, lock_off(r, (int)i));
			continue;
		}
		bool tested;
		if (peer_alive(r, (int)i, pid, &tested))
			continue;
		(*dead)++;
		n += unregister_sleepers(r, e, 1, gen);
	}
	return n;
}

/* surplus: each shared waiter count (NotEmptyWaiters, NotFullWaiters)
 * minus the sum of every entry's sleeping count (SleepingEmpty,
 * SleepingFull; entry 0 and the subscriber part included), or 0
 * (ring/peers.go surplus). */
static void surplus(shmring_ring *r, uint32_t out[2])
{
	uint64_t sum[2] = {0, 0};
	for (uint64_t i = 0; i < r->g.peers; i++) {
		uint8_t *e = peer_at(r, i);
		sum[0] += ld32(e + PE_SLEEPINGEMPTY);
		sum[1] += ld32(e + PE_SLEEPINGFULL);
	}
	uint8_t *w[2] = {r->prod + PU_NOTEMPTYWAITERS, r->cons + CU_NOTFULLWAITERS};
	for (int i = 0; i < 2; i++) {
		uint64_t v = ld32(w[i]);
		out[i] = v > sum[i] ? (uint32_t)(v - sum[i]) : 0;
	}
}

#define SWEEP_APART_NS 1000000 /* how far apart sweep_surplus's two looks must be (Go's sweepApart) */

static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* sweep_surplus takes out of the shared waiter counts what no entry
 * accounts for (ring/peers.go sweepSurplus; docs/ring.md Sleepers): what a
 * handle killed between its two registration adds (or its two subtracts),
 * or a repairer killed between its swap and its subtract, leaves behind.
 * A live registration is surplus only for the instant between its two
 * steps, so a surplus is taken out only once seen at two looks at least
 * 1 ms apart, and only as much as the smaller look saw. With wait
 * (shmring_recover) the second look comes after sleeping 1 ms; otherwise
 * (idle wakes, at most every 10 ms) it is the next call's look. Two looks
 * that each caught a different live registration mid-way take one out too
 * many: that sleeper may wake at its 100 ms bound instead, and the count
 * heals as sleepers unregister (clamped at 0). Returns how many it took
 * out. */
static int sweep_surplus(shmring_ring *r, bool wait)
{
	int64_t now = mono_now();
	uint32_t cur[2];
	surplus(r, cur);
	if (wait && (cur[0] != 0 || cur[1] != 0)) {
		struct timespec ts = {0, SWEEP_APART_NS};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		uint32_t prev[2] = {cur[0], cur[1]};
		surplus(r, cur);
		cur[0] = min32(prev[0], cur[0]);
		cur[1] = min32(prev[1], cur[1]);
	} else if (!wait) {
		int64_t prev_at = r->surplus_at;
		uint32_t prev[2] = {r->surplus_seen[0], r->surplus_seen[1]};
		r->surplus_seen[0] = cur[0];
		r->surplus_seen[1] = cur[1];
		r->surplus_at = now;
		if (prev_at == 0 || now - prev_at < SWEEP_APART_NS)
			return 0;
		cur[0] = min32(prev[0], cur[0]);
		cur[1] = min32(prev[1], cur[1]);
	}
	int n = 0;
	uint8_t *w[2] = {r->prod + PU_NOTEMPTYWAITERS, r->cons + CU_NOTFULLWAITERS};
	for (int i = 0; i < 2; i++)
		if (cur[i] != 0) {
			n += (int)subtract_clamped(w[i], cur[i]);
			r->surplus_seen[i] = 0;
		}
	return n;
}

/* ---- claim and release (docs/ring.md Claim / Release; ring/peers.go) ---- */

static uint32_t make_tag(int idx, uint32_t gen) { return ((uint32_t)idx & TAG_IDX_MASK) | (gen & TAG_GEN_MASK) << TAG_GEN_SHIFT; }

static void use_overflow(shmring_ring *r)
{
	r->peer = peer_at(r, 0);
	r->peer_idx = 0;
	r->owner_tag = TAG_OVERFLOW;
}

/* try_claim takes entry i (old: the PID read in the scan). 1 claimed, 0 not, < 0 error. */
static int try_claim(shmring_ring *r, int i, uint32_t old)
{
	uint8_t *e = peer_at(r, (uint64_t)i);
	uint32_t self = (uint32_t)getpid();
	if (uses_locks(r)) {
		int err = arena_lock_byte(r->arena, lock_off(r, i));
		if (err == SHMRING_EOUTSTANDING)
			return 0; /* held: alive, or being released */
		if (err)
			return err;
		r->lock_off = lock_off(r, i);
		/* Holding the lock, no live handle owns the entry: a store, as Go. */
		st32(e + PE_PID, self);
	} else {
		if (old != 0) {
			bool tested;
			if (peer_alive(r, i, old, &tested))
				return 0;
		}
		if (!cas32(e + PE_PID, old, self))
			return 0;
	}
	st64(e + PE_STARTTICKS, self_start_ticks());
	st32(e + PE_ROLES, 0);
	unregister_sleepers(r, e, 0, 0); /* the dead handle's registrations, before Generation moves */
	int64_t now = unix_now();
	uint32_t gen = add32(e + PE_GENERATION, 1);
	if ((ld64(e + PE_PRODCLAIM) | ld64(e + PE_CONSCLAIM)) != 0) {
		int sk = 0, rd = 0;
		if (r->ops->repair_claims)
			r->ops->repair_claims(r, i, &sk, &rd);
		st64(e + PE_PRODCLAIM, 0);
		st64(e + PE_CONSCLAIM, 0);
	}
	r->peer_gen = gen;
	r->owner_tag = make_tag(i, gen);
	st64(e + PE_ATTACH, (uint64_t)now);
	st64(e + PE_HEARTBEAT, (uint64_t)now);
	r->peer = e;
	r->peer_idx = i;
	r->roles_done = 0;
	return 1;
}

static int claim_peer(shmring_ring *r)
{
	/* Producers and consumers: entries 1 .. PeerCapacity-Subscribers-1;
	 * a broadcast subscriber: the subscriber part only, and never the
	 * overflow entry (its cursor lives in its entry). */
	uint64_t lo = r->subscriber ? r->g.sub_base : 1, hi = r->subscriber ? r->g.peers : r->g.sub_base;
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t i = lo; i < hi; i++) {
			uint32_t old = ld32(peer_at(r, i) + PE_PID);
			if ((pass == 0) != (old == 0))
				continue; /* free entries first, then occupied ones that are dead */
			int rc = try_claim(r, (int)i, old);
			if (rc < 0)
				return rc;
			if (rc == 1)
				return SHMRING_OK;
		}
	if (r->subscriber)
		return SHMRING_ESUBSCRIBERS;
	use_overflow(r);
	return SHMRING_OK;
}

static void release_peer(shmring_ring *r)
{
	if (r->peer_idx > 0 && ld32(r->peer + PE_GENERATION) == r->peer_gen)
		cas32(r->peer + PE_PID, (uint32_t)getpid(), 0);
	if (r->lock_off >= 0)
		arena_unlock_byte(r->arena, r->lock_off);
	r->lock_off = -1;
	use_overflow(r);
}

void ring_mark_role(shmring_ring *r, uint32_t role)
{
	if ((r->roles_done & role) != role) {
		atomic_fetch_or_explicit(A32(r->peer + PE_ROLES), role, SC);
		r->roles_done |= role;
	}
}

void ring_beat(shmring_ring *r) { st64(r->peer + PE_HEARTBEAT, (uint64_t)unix_now()); }

/* Counters: locked adds (correct for every writer; Go's single-threaded
 * sides use plain adds, which a locked add is as good as). */
void ring_count_in(shmring_ring *r, uint64_t n, uint64_t nbytes)
{
	add64(r->peer + PE_MSGSIN, n);
	add64(r->peer + PE_BYTESIN, nbytes);
}
void ring_count_out(shmring_ring *r, uint64_t n, uint64_t nbytes)
{
	add64(r->peer + PE_MSGSOUT, n);
	add64(r->peer + PE_BYTESOUT, nbytes);
}
void ring_count_full(shmring_ring *r) { add64(r->peer + PE_FULLEVENTS, 1); }
void ring_count_empty(shmring_ring *r) { add64(r->peer + PE_EMPTYEVENTS, 1); }

/* ---- eventcount (docs/ring.md Eventcount protocol) ---- */

static void idle_wake(shmring_ring *r)
{
	int64_t now = mono_now();
	if (now - r->last_recover < 10000000)
		return;
	r->last_recover = now;
	int dead = 0;
	recover_sleepers(r, &dead);
	sweep_surplus(r, false);
}

/* ec_wake: n is how many it published or released; <= 0 wakes everyone. */
void ec_wake(shmring_ring *r, struct eventcount *ec, int n)
{
	add32(ec->seq, 1); /* makes a racing FUTEX_WAIT return EAGAIN */
	int woken = futex_wake_shared(ec->seq, n);
	if (woken > 0)
		add64(r->peer + PE_WAKES, (uint64_t)woken);
	if (woken == 0)
		idle_wake(r);
}

void ec_notify(shmring_ring *r, struct eventcount *ec, int n)
{
	/* After the publish's seq-cst RMW: the StoreLoad the Dekker pattern needs. */
	if (ld32(ec->waiters) == 0)
		return;
	ec_wake(r, ec, n);
}

static uint32_t ec_prepare(struct eventcount *ec, uint8_t *reg)
{
	add32(ec->waiters, 1); /* full fence: the re-check comes after */
	add32(reg, 1);         /* after the shared count (the sweep relies on it) */
	return ld32(ec->seq);
}

static void ec_cancel(struct eventcount *ec, uint8_t *reg)
{
	for (int try = 0; try < MAX_RETRIES; try++) {
		uint32_t v = ld32(reg);
		if (v == 0)
			return; /* a repair took our registration out already */
		if (cas32(reg, v, v - 1)) {
			subtract_clamped(ec->waiters, 1);
			return;
		}
	}
}

void ring_closed(shmring_ring *r)
{
	st32(r->hdr + RH_CLOSED, 1);
	ec_wake(r, &r->not_empty, 0);
	ec_wake(r, &r->not_full, 0);
}

bool ring_closed_hint(shmring_ring *r) { return ld32(r->hdr + RH_CLOSED) != 0; }

void ring_repair_closed_mirror(shmring_ring *r)
{
	if (!ring_closed_hint(r))
		st32(r->hdr + RH_CLOSED, 1);
}

/* ring_quiet_empty: an empty poll that need not look at the producer's
 * line: not every 64th, and the Closed mirror clear (gap 7). */
bool ring_quiet_empty(shmring_ring *r, uint32_t polls) { return polls % TAIL_EVERY != 0 && !ring_closed_hint(r); }

/* other_side_dead: ring/peers.go otherSideDead. */
static bool other_side_dead(shmring_ring *r, bool push)
{
	uint32_t role = push ? ROLE_CONSUMER : ROLE_PRODUCER;
	if (ld32(peer_at(r, 0) + PE_ROLES) & role)
		return false;
	bool saw_dead = false;
	for (uint64_t i = 1; i < r->g.peers; i++) {
		uint8_t *e = peer_at(r, i);
		uint32_t pid = ld32(e + PE_PID);
		if (pid == 0 || !(ld32(e + PE_ROLES) & role))
			continue;
		bool tested;
		if (peer_alive(r, (int)i, pid, &tested) || (r->g.peer_locks && !tested))
			return false;
		saw_dead = true;
	}
	return saw_dead;
}

/* ---- the one blocking loop (ring/wait.go waitFor, WaitAdaptive) ---- */

#define ADAPTIVE_SPIN_NS 20000
#define ADAPTIVE_YIELD_NS 100000
#define MAX_SLEEP_NS 100000000
#define STALL_SLEEP_NS 2000000
#define PEER_CHECK_NS 100000000

struct waiter {
	shmring_ring *r;
	bool push, looked, slept, slept_now, stuck;
	int64_t start, deadline, peer_check;
	int iter, phase;
};

static bool unblock_now(struct waiter *w)
{
	bool stuck = false, repaired = false;
	if (w->r->ops->blocked)
		repaired = w->r->ops->blocked(w->r, w->push, &stuck);
	w->stuck = stuck;
	if (repaired) {
		w->iter = 0;
		w->phase = 0;
	}
	return repaired;
}

static int w_sleep(struct waiter *w)
{
	shmring_ring *r = w->r;
	int64_t now = mono_now();
	if (w->deadline >= 0 && now >= w->deadline)
		return SHMRING_ETIMEDOUT;
	if (!w->looked) {
		w->looked = true;
		if (unblock_now(w))
			return SHMRING_OK;
	}
	struct eventcount *ec = w->push ? &r->not_full : &r->not_empty;
	uint8_t *reg = r->peer + (w->push ? PE_SLEEPINGFULL : PE_SLEEPINGEMPTY);
	int64_t d = MAX_SLEEP_NS;
	if (w->stuck && d > STALL_SLEEP_NS)
		d = STALL_SLEEP_NS;
	if (w->deadline >= 0 && w->deadline - now < d)
		d = w->deadline - now;
	ring_beat(r);
	uint32_t key = ec_prepare(ec, reg);
	if (r->ops->ready(r, w->push)) {
		ec_cancel(ec, reg);
		return SHMRING_OK;
	}
	w->slept = w->slept_now = true;
	add64(r->peer + PE_SLEEPS, 1);
	if (futex_wait_shared(ec->seq, key, d) == SHMRING_ESYS)
		sleep_ns(d < 1000000 ? d : 1000000);
	ec_cancel(ec, reg);
	if (w->deadline >= 0 && mono_now() >= w->deadline)
		return SHMRING_ETIMEDOUT;
	return SHMRING_OK;
}

static int w_wait(struct waiter *w)
{
	w->iter++;
	w->slept_now = false;
	if (w->iter == 1)
		w->start = mono_now();
	if (w->phase < 2 && w->iter % 32 == 0) {
		int64_t el = mono_now() - w->start;
		if (w->deadline >= 0 && mono_now() >= w->deadline)
			return SHMRING_ETIMEDOUT;
		if (el >= ADAPTIVE_SPIN_NS + ADAPTIVE_YIELD_NS)
			w->phase = 2;
		else if (el >= ADAPTIVE_SPIN_NS)
			w->phase = 1;
	}
	switch (w->phase) {
	case 0:
		for (int i = 0; i < (w->iter <= 8 ? 1 : 4); i++)
			cpu_relax();
		return SHMRING_OK;
	case 1:
		sched_yield();
		return SHMRING_OK;
	}
	return w_sleep(w);
}

static bool w_unblock(struct waiter *w)
{
	if (!w->slept_now && w->iter % 64 != 0)
		return false;
	return unblock_now(w);
}

static bool w_peers_gone(struct waiter *w)
{
	if (!w->slept_now && w->iter % 256 != 0)
		return false;
	int64_t now = mono_now();
	if (w->peer_check == 0) {
		w->peer_check = now;
		return false;
	}
	if (now - w->peer_check < PEER_CHECK_NS)
		return false;
	w->peer_check = now;
	return other_side_dead(w->r, w->push) && !w->r->ops->ready(w->r, w->push);
}

static void w_done(struct waiter *w)
{
	/* A sleeper that leaves passes a wake on if others still wait and the
	 * ring is ready for them (ring/wait.go waiter.done). */
	if (w->slept) {
		struct eventcount *ec = w->push ? &w->r->not_full : &w->r->not_empty;
		if (ld32(ec->waiters) != 0 && w->r->ops->ready(w->r, w->push))
			ec_wake(w->r, ec, 1);
	}
}

enum op_kind { OP_PUSH, OP_POP, OP_RESERVE, OP_PEEK, OP_FN_PUSH, OP_FN_POP };
struct op_args {
	int (*fn)(shmring_ring *r, void *arg);
	void *arg;
	const void *msg;
	void *dst;
	size_t len, cap, *outlen;
	shmring_reservation *res;
	shmring_message *m;
};

static int try_op(shmring_ring *r, enum op_kind k, struct op_args *a)
{
	switch (k) {
	case OP_PUSH: return r->ops->push(r, a->msg, a->len);
	case OP_POP: return r->ops->pop(r, a->dst, a->cap, a->outlen);
	case OP_RESERVE: return r->ops->reserve(r, a->len, a->res);
	case OP_PEEK: return r->ops->peek(r, a->m);
	case OP_FN_PUSH:
	case OP_FN_POP: return a->fn(r, a->arg);
	}
	return SHMRING_EINVAL;
}

static int wait_for(shmring_ring *r, enum op_kind k, struct op_args *a, int64_t timeout_ns)
{
	bool push = k == OP_PUSH || k == OP_RESERVE || k == OP_FN_PUSH;
	int busy = push ? SHMRING_EFULL : SHMRING_EEMPTY;
	struct waiter w = {.r = r, .push = push, .deadline = timeout_ns < 0 ? -1 : deadline_after(timeout_ns)};
	int err;
	for (;;) {
		if ((err = w_wait(&w)))
			break;
		err = try_op(r, k, a);
		if (err != busy)
			break;
		if (w_unblock(&w))
			continue;
		if (w_peers_gone(&w)) {
			err = SHMRING_EPEERDEAD;
			break;
		}
	}
	w_done(&w);
	return err;
}

int ring_wait_fn(shmring_ring *r, bool push, int (*fn)(shmring_ring *r, void *arg), void *arg, int64_t timeout_ns)
{
	struct op_args a = {.fn = fn, .arg = arg};
	return wait_for(r, push ? OP_FN_PUSH : OP_FN_POP, &a, timeout_ns);
}

/* ---- public entry points ---- */

static int ring_usable(shmring_ring *r)
{
	if (!r)
		return SHMRING_EINVAL;
	if (r->closed_handle)
		return SHMRING_EHANDLECLOSED;
	if (arena_broken(r->arena))
		return SHMRING_ETRUNCATED; /* the ring's memory may be gone (arena.c, truncation) */
	if (!r->ops)
		return SHMRING_EUNSUPPORTED;
	return SHMRING_OK;
}

static const struct kind_ops *ops_of(uint32_t kind)
{
	switch (kind) {
	case KIND_SPSC: return &shmring_spsc_ops;
	case KIND_MPMC: return &shmring_mpmc_ops;
	case KIND_BROADCAST: return &shmring_bcast_ops; /* the subscriber's are chosen at attach */
	case KIND_RECORDS: return &shmring_records_ops;
	}
	return NULL;
}

static uint32_t ring_kind_of_region(uint32_t k)
{
	switch (k) {
	case SHMRING_KIND_SPSC: return KIND_SPSC;
	case SHMRING_KIND_MPMC: return KIND_MPMC;
	case SHMRING_KIND_BROADCAST: return KIND_BROADCAST;
	case SHMRING_KIND_RECORDS: return KIND_RECORDS;
	}
	return 0;
}

enum attach_as { AS_RING, AS_BROADCAST, AS_SUBSCRIBER };

static int ring_attach(shmring_arena *a, const char *name, uint32_t kind, enum attach_as as,
		       const shmring_ring_opts *opts, shmring_ring **out)
{
	if (!a || !name || !out)
		return SHMRING_EINVAL;
	*out = NULL;
	shmring_region reg;
	int err = shmring_lookup(a, name, &reg);
	if (err)
		return err;
	uint32_t rk = ring_kind_of_region(reg.kind);
	if (!rk || (kind && reg.kind != kind) || (rk == KIND_BROADCAST && as == AS_RING))
		return SHMRING_EKIND;
	int64_t timeout = opts && opts->open_timeout_ns > 0 ? opts->open_timeout_ns : 1000000000;
	struct geometry g;
	if ((err = wait_header(reg.mem, reg.size, rk, a->pad_unit, timeout, &g)))
		return err;
	const struct kind_ops *ops = as == AS_SUBSCRIBER ? &shmring_sub_ops : ops_of(rk);
	if (!ops)
		return SHMRING_EUNSUPPORTED;
	shmring_ring *r = calloc(1, sizeof *r);
	if (!r)
		return SHMRING_ESYS;
	r->arena = a;
	r->region = reg;
	r->mem = reg.mem;
	r->g = g;
	r->ops = ops;
	r->hdr = r->mem;
	r->prod = r->mem + g.prod_off;
	r->cons = r->mem + g.cons_off;
	r->not_empty = (struct eventcount){r->prod + PU_NOTEMPTYSEQ, r->prod + PU_NOTEMPTYWAITERS};
	r->not_full = (struct eventcount){r->cons + CU_NOTFULLSEQ, r->cons + CU_NOTFULLWAITERS};
	r->lock_off = -1;
	r->claim_timeout_ns = opts ? opts->claim_timeout_ns : 0;
	if (rk == KIND_SPSC) {
		r->u.spsc.tail = UNSYNCED;
		r->u.spsc.head = UNSYNCED;
	}
	if (as == AS_BROADCAST)
		r->u.bc.tail = UNSYNCED;
	r->subscriber = as == AS_SUBSCRIBER;
	use_overflow(r);
	if (ops->attach && (err = ops->attach(r))) {
		free(r);
		return err;
	}
	if ((err = claim_peer(r))) {
		if (ops->destroy)
			ops->destroy(r);
		free(r);
		return err;
	}
	*out = r;
	return SHMRING_OK;
}

int shmring_ring_open(shmring_arena *a, const char *name, uint32_t kind, const shmring_ring_opts *opts,
		      shmring_ring **out)
{
	return ring_attach(a, name, kind, AS_RING, opts, out);
}

int shmring_broadcast_open(shmring_arena *a, const char *name, const shmring_ring_opts *opts, shmring_ring **out)
{
	return ring_attach(a, name, SHMRING_KIND_BROADCAST, AS_BROADCAST, opts, out);
}

int shmring_subscribe(shmring_arena *a, const char *name, const shmring_subscribe_opts *opts, shmring_ring **out)
{
	shmring_ring_opts ro = {.open_timeout_ns = opts ? opts->open_timeout_ns : 0};
	shmring_ring *r;
	int err = ring_attach(a, name, SHMRING_KIND_BROADCAST, AS_SUBSCRIBER, &ro, &r);
	if (err)
		return err;
	r->u.sub.lossy = opts && opts->lossy;
	if ((err = sub_join(r, opts && opts->oldest))) {
		shmring_ring_detach(r);
		return err;
	}
	*out = r;
	return SHMRING_OK;
}

int shmring_ring_detach(shmring_ring *r)
{
	if (!r)
		return SHMRING_OK;
	if (!r->closed_handle) {
		r->closed_handle = true;
		release_peer(r);
		if (r->ops && r->ops->released)
			r->ops->released(r);
		if (r->ops && r->ops->destroy)
			r->ops->destroy(r);
	}
	free(r->heap);
	free(r);
	return SHMRING_OK;
}

int shmring_ring_close(shmring_ring *r)
{
	if (!r)
		return SHMRING_OK;
	if (!r->closed_handle && r->ops && r->ops->close)
		r->ops->close(r);
	return shmring_ring_detach(r);
}

uint32_t shmring_ring_kind(const shmring_ring *r)
{
	static const uint32_t k[] = {0, SHMRING_KIND_SPSC, SHMRING_KIND_MPMC, SHMRING_KIND_BROADCAST, SHMRING_KIND_RECORDS};
	return r && r->g.kind <= 4 ? k[r->g.kind] : 0;
}
uint32_t shmring_ring_slots(const shmring_ring *r) { return r ? (uint32_t)r->g.slots : 0; }
uint32_t shmring_ring_slot_size(const shmring_ring *r) { return r ? (uint32_t)r->g.slot_size : 0; }
uint64_t shmring_ring_capacity(const shmring_ring *r) { return r ? r->g.capacity : 0; }
int shmring_ring_peer_index(const shmring_ring *r) { return r ? r->peer_idx : 0; }

int shmring_try_push(shmring_ring *r, const void *msg, size_t len)
{
	int err = ring_usable(r);
	if (err)
		return err;
	if (len && !msg)
		return SHMRING_EINVAL;
	err = r->ops->push(r, msg, len);
	if (err == SHMRING_EFULL)
		ring_count_full(r);
	return err;
}

int shmring_push(shmring_ring *r, const void *msg, size_t len, int64_t timeout_ns)
{
	int err = shmring_try_push(r, msg, len);
	if (err != SHMRING_EFULL || timeout_ns == 0)
		return err;
	struct op_args a = {.msg = msg, .len = len};
	return wait_for(r, OP_PUSH, &a, timeout_ns);
}

int shmring_try_reserve(shmring_ring *r, size_t n, shmring_reservation *res)
{
	int err = ring_usable(r);
	if (err)
		return err;
	if (!res)
		return SHMRING_EINVAL;
	err = r->ops->reserve(r, n, res);
	if (err == SHMRING_EFULL)
		ring_count_full(r);
	return err;
}

int shmring_reserve(shmring_ring *r, size_t n, shmring_reservation *res, int64_t timeout_ns)
{
	int err = shmring_try_reserve(r, n, res);
	if (err != SHMRING_EFULL || timeout_ns == 0)
		return err;
	struct op_args a = {.len = n, .res = res};
	return wait_for(r, OP_RESERVE, &a, timeout_ns);
}

int shmring_commit(shmring_ring *r, shmring_reservation *res, size_t n)
{
	int err = ring_usable(r);
	if (err)
		return err;
	if (!res)
		return SHMRING_EINVAL;
	return r->ops->commit(r, res, n);
}

int shmring_try_pop(shmring_ring *r, void *dst, size_t cap, size_t *len)
{
	int err = ring_usable(r);
	if (err)
		return err;
	size_t dummy;
	if (!len)
		len = &dummy;
	*len = 0;
	if (cap && !dst)
		return SHMRING_EINVAL;
	err = r->ops->pop(r, dst, cap, len);
	if (err == SHMRING_EEMPTY && !r->ops->counts_empty_inside)
		ring_count_empty(r);
	return err;
}

int shmring_pop(shmring_ring *r, void *dst, size_t cap, size_t *len, int64_t timeout_ns)
{
	size_t dummy;
	if (!len)
		len = &dummy;
	int err = shmring_try_pop(r, dst, cap, len);
	if (err != SHMRING_EEMPTY || timeout_ns == 0)
		return err;
	struct op_args a = {.dst = dst, .cap = cap, .outlen = len};
	return wait_for(r, OP_POP, &a, timeout_ns);
}

int shmring_try_peek(shmring_ring *r, shmring_message *m)
{
	int err = ring_usable(r);
	if (err)
		return err;
	if (!m)
		return SHMRING_EINVAL;
	err = r->ops->peek(r, m);
	if (err == SHMRING_EEMPTY && !r->ops->counts_empty_inside)
		ring_count_empty(r);
	return err;
}

int shmring_peek(shmring_ring *r, shmring_message *m, int64_t timeout_ns)
{
	int err = shmring_try_peek(r, m);
	if (err != SHMRING_EEMPTY || timeout_ns == 0)
		return err;
	struct op_args a = {.m = m};
	return wait_for(r, OP_PEEK, &a, timeout_ns);
}

int shmring_release(shmring_ring *r, shmring_message *m)
{
	int err = ring_usable(r);
	if (err)
		return err;
	if (!m)
		return SHMRING_EINVAL;
	return r->ops->release(r, m);
}

int shmring_close_write(shmring_ring *r)
{
	int err = ring_usable(r);
	if (err)
		return err;
	for (int try = 0;; try++) {
		if (try == MAX_RETRIES)
			return SHMRING_ECORRUPT;
		uint64_t p = ld64(r->prod + PU_POS);
		if (p & CLOSED_BIT)
			break;
		if (cas64(r->prod + PU_POS, p, p | CLOSED_BIT))
			break;
	}
	ring_closed(r);
	return SHMRING_OK;
}

int shmring_is_closed(shmring_ring *r)
{
	if (ring_usable(r))
		return 0;
	return (ld64(r->prod + PU_POS) & CLOSED_BIT) != 0;
}

int shmring_stats_get(shmring_ring *r, shmring_stats *s)
{
	int err = ring_usable(r);
	if (err)
		return err;
	if (!s)
		return SHMRING_EINVAL;
	memset(s, 0, sizeof *s);
	uint64_t p = ld64(r->prod + PU_POS);
	bool records = r->g.kind == KIND_RECORDS; /* positions count bytes: the records are the entries' counts */
	s->closed = (p & CLOSED_BIT) != 0;
	if (!records) {
		s->msgs_in = p & r->g.pos_mask;
		s->msgs_out = ld64(r->cons + CU_POS) & r->g.pos_mask;
		if (s->msgs_in >= s->msgs_out)
			s->len = s->msgs_in - s->msgs_out;
	}
	if (r->g.kind == KIND_BROADCAST) {
		/* No consumer position: the subscriber entries' Delivered are
		 * summed below; Len is the slowest tethered subscriber's. */
		s->msgs_out = 0;
		s->len = bcast_backlog(r);
	}
	for (uint64_t i = 1; i < r->g.peers; i++) {
		uint32_t pid = ld32(peer_at(r, i) + PE_PID);
		if (!pid)
			continue;
		bool tested;
		if (peer_alive(r, (int)i, pid, &tested))
			s->peers++;
		else
			s->dead_peers++;
	}
	s->skipped = ld64(r->hdr + RH_SKIPPED);
	s->redelivered = ld64(r->hdr + RH_REDELIVERED);
	s->not_empty_waiters = ld32(r->prod + PU_NOTEMPTYWAITERS);
	s->not_full_waiters = ld32(r->cons + CU_NOTFULLWAITERS);
	for (uint64_t i = 0; i < r->g.peers; i++) {
		uint8_t *e = peer_at(r, i);
		if (i < r->g.sub_base) {
			if (records) {
				s->msgs_in += ld64(e + PE_MSGSIN);
				s->msgs_out += ld64(e + PE_MSGSOUT);
			}
			s->bytes_in += ld64(e + PE_BYTESIN);
			s->full_events += ld64(e + PE_FULLEVENTS);
		} else {
			s->msgs_out += ld64(e + PE_MSGSOUT); /* a subscriber's Delivered */
		}
		s->bytes_out += ld64(e + PE_BYTESOUT);
		s->empty_events += ld64(e + PE_EMPTYEVENTS);
		s->sleeps += ld64(e + PE_SLEEPS);
		s->wakes += ld64(e + PE_WAKES);
	}
	if (records && s->msgs_in >= s->msgs_out)
		s->len = s->msgs_in - s->msgs_out;
	return SHMRING_OK;
}

int shmring_recover(shmring_ring *r, shmring_recovery *rec)
{
	int err = ring_usable(r);
	if (err)
		return err;
	shmring_recovery tmp = {0};
	if ((err = shmring_arena_check_size(r->arena)))
		return err;
	tmp.sleepers = recover_sleepers(r, &tmp.dead_peers);
	tmp.sleepers += sweep_surplus(r, true);
	if (r->ops->repair_claims)
		r->ops->repair_claims(r, -1, &tmp.skipped, &tmp.redelivered);
	if (rec)
		*rec = tmp;
	return SHMRING_OK;
}
