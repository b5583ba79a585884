/*
 * ctool: the C side of the cross-process tests (internal/ctest). Each
 * subcommand is one peer; results are "key=value" tokens on stdout.
 *
 *   produce ARENA RING N ID CLOSE [pause_every pause_ms hang_after start]
 *       push messages start..N-1 of producer ID (blocking; every 3rd by
 *       reserve/commit), pausing pause_ms every pause_every messages; with
 *       hang_after > 0, stop after that many, hold a reservation, print
 *       "holding" and sleep until killed. Then close_write if CLOSE is 1
 *       (an SPSC handle's close ends the stream anyway) and close.
 *   consume ARENA RING PRODUCERS
 *       pop until EOF (every 5th by peek/release), check each producer's
 *       messages arrive in order and intact.
 *   open ARENA [RING KIND TIMEOUT_MS]
 *       print err=NAME for opening the arena (and the ring, unless RING is -).
 *   bproduce ARENA RING N [pause_every pause_ms hang_after]
 *       as produce, as the broadcast producer (ID 0); with hang_after,
 *       reserve the slot after that many (marked, never completed),
 *       print "holding" and sleep until killed. Then close (ends the stream).
 *   subscribe ARENA RING tethered|lossy newest|oldest [pause_every pause_ms hang_after]
 *       join, print "joined", read until EOF (every 5th by peek/release),
 *       pausing pause_ms every pause_every messages; producer 0's messages
 *       must come in order, intact, and every gap must be exactly the
 *       missed count of the lap reported before it (tethered: no laps,
 *       no gaps). With hang_after, stop reading after that many, print
 *       "holding" and sleep until killed.
 *   holdlock ARENA RING
 *       (record ring) push one message, then store the handle's tag in
 *       ClaimLock as a producer killed inside the claim section leaves
 *       it, print "holding" and sleep until killed.
 *   leak ARENA RING NE NF
 *       add NE to the ring's shared NotEmptyWaiters and NF to its
 *       NotFullWaiters without the entry's sleeping counts (what a sleeper
 *       killed between its two registration adds leaves), print "leaked"
 *       and exit without closing (as if killed).
 *   recover ARENA RING [idle]
 *       shmring_recover and print sleepers=N dead=N and the waiter counts
 *       after it; with idle, no recover call: push and pop (3 ms apart,
 *       at most 5 s) until the idle wakes' sweep has emptied both counts,
 *       then print the same.
 *   truncwait ARENA RING
 *       open the ring, print "ready", then call only shmring_recover
 *       (every 5 ms, at most 20 s) until it fails; print recover=ERR and
 *       what each later call returns, and close (which must not crash on
 *       the lost pages).
 *
 * Message of producer p, sequence s: [p u32][s u64][payload], length
 * 12 + (s*7919 + p*13) % (SlotSize-11), payload byte i = s*31 + i + p.
 * With CTOOL_FULLLEN=1 (record rings, one producer): length
 * (s*7919 + p*13) % (SlotSize+1), 0 .. SlotSize; a message shorter than
 * 12 bytes is payload bytes only.
 *
 * On a record ring the producer also pushes batches (shmring_push_batch,
 * every 5th message starts one of up to 4) and, when 3 of the largest
 * records fit, holds two reservations at once, committed newest first
 * (the second only if there is room at once);
 * the consumer also peeks two records at once, released in order.
 * CTOOL_PLAIN=1: push and pop only (the benchmarks).
 */
#define _GNU_SOURCE 1
#include "shmring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_NS (20LL * 1000000000)

static const char *ename(int err)
{
	static const char *names[] = {"OK", "EFULL", "EEMPTY", "EEOF", "ECLOSED", "ECORRUPT", "EVERSION", "EKIND",
				      "ETOOLARGE", "EFENCED", "ENOTRESERVED", "EOUTSTANDING", "ETIMEDOUT",
				      "EPEERDEAD", "EINVAL", "ENOTFOUND", "ESYS", "ENOTARENA", "ECHECKSUM",
				      "ETRUNCATED", "EBYTEORDER", "ENOTREADY", "EPERM", "EUNSUPPORTED",
				      "ESHORTBUF", "ELAPPED", "ESUBSCRIBERS", "EHANDLECLOSED"};
	int i = -err;
	return i >= 0 && i < (int)(sizeof names / sizeof *names) ? names[i] : "E?";
}

static void die(const char *what, int err)
{
	fprintf(stderr, "ctool: %s: %s (%s)\n", what, ename(err), shmring_strerror(err));
	exit(1);
}

static int full_len, plain; /* CTOOL_PLAIN=1: push and pop only (benchmarks) */

static size_t msg_len(uint64_t s, uint32_t p, size_t slot_size)
{
	if (full_len)
		return (size_t)((s * 7919 + p * 13) % (slot_size + 1));
	return 12 + (size_t)((s * 7919 + p * 13) % (slot_size - 11));
}

static void fill(uint8_t *b, uint32_t p, uint64_t s, size_t n)
{
	size_t i = 0;
	if (n >= 12) {
		memcpy(b, &p, 4);
		memcpy(b + 4, &s, 8);
		i = 12;
	}
	for (; i < n; i++)
		b[i] = (uint8_t)(s * 31 + i + p);
}

static uint64_t span_of(size_t n) { return (n + 31) & ~(uint64_t)15; }

static void open_ring(const char *an, const char *rn, shmring_arena **a, shmring_ring **r)
{
	int err = shmring_arena_open(an, NULL, a);
	if (err)
		die("arena open", err);
	if ((err = shmring_ring_open(*a, rn, 0, NULL, r)))
		die("ring open", err);
}

static int produce(int argc, char **argv)
{
	if (argc < 7)
		return 2;
	uint64_t n = strtoull(argv[4], NULL, 10);
	uint32_t id = (uint32_t)strtoul(argv[5], NULL, 10);
	int do_close = atoi(argv[6]);
	uint64_t pause_every = argc > 7 ? strtoull(argv[7], NULL, 10) : 0;
	long pause_ms = argc > 8 ? strtol(argv[8], NULL, 10) : 0;
	uint64_t hang_after = argc > 9 ? strtoull(argv[9], NULL, 10) : 0;
	uint64_t start = argc > 10 ? strtoull(argv[10], NULL, 10) : 0;
	shmring_arena *a;
	shmring_ring *r;
	open_ring(argv[2], argv[3], &a, &r);
	size_t ss = shmring_ring_slot_size(r);
	uint8_t *buf = malloc(ss), *bbuf = malloc(4 * ss);
	int records = shmring_ring_kind(r) == SHMRING_KIND_RECORDS;
	uint64_t bytes = 0, since_pause = 0, doubles = 0;
	for (uint64_t s = start; s < n; s++) {
		if (hang_after && s == hang_after) {
			shmring_reservation res;
			int err = shmring_reserve(r, 12, &res, TIMEOUT_NS);
			if (err)
				die("reserve (hang)", err);
			fill(res.buf, id, s, 12); /* written, never committed */
			printf("holding sent=%llu bytes=%llu\n", (unsigned long long)s, (unsigned long long)bytes);
			fflush(stdout);
			for (;;)
				pause();
		}
		size_t len = msg_len(s, id, ss);
		int err;
		if (!plain && records && s % 5 == 0 && s + 1 < n && (!hang_after || s + 4 < hang_after)) {
			/* A batch of up to 4, committed in the claim section. */
			shmring_buf bufs[4];
			size_t k = 0, pushed;
			for (; k < 4 && s + k < n; k++) {
				size_t l = msg_len(s + k, id, ss);
				fill(bbuf + k * ss, id, s + k, l);
				bufs[k] = (shmring_buf){bbuf + k * ss, l};
			}
			if ((err = shmring_push_batch(r, bufs, k, &pushed, TIMEOUT_NS)))
				die("push_batch", err);
			for (size_t i = 0; i < k; i++)
				bytes += bufs[i].len;
			s += k - 1;
			since_pause += k;
			goto pause_check;
		}
		if (!plain && records && s % 11 == 2 && s + 1 < n && 3 * span_of(ss) <= shmring_ring_capacity(r) &&
		    (!hang_after || s + 1 < hang_after)) {
			/* Two reservations outstanding, committed newest first. */
			shmring_reservation r1, r2;
			size_t l2 = msg_len(s + 1, id, ss);
			if ((err = shmring_reserve(r, len, &r1, TIMEOUT_NS)))
				die("reserve 1", err);
			/* Never wait for room while holding r1: other producers' records
			 * after it can fill the ring, and r1 holds the consumer back. */
			if ((err = shmring_try_reserve(r, l2, &r2)) == SHMRING_EFULL) {
				fill(r1.buf, id, s, len);
				if ((err = shmring_commit(r, &r1, len)))
					die("commit 1", err);
				if ((err = shmring_reserve(r, l2, &r2, TIMEOUT_NS)))
					die("reserve 2", err);
				fill(r2.buf, id, s + 1, l2);
				if ((err = shmring_commit(r, &r2, l2)))
					die("commit 2", err);
			} else {
				if (err)
					die("reserve 2", err);
				fill(r2.buf, id, s + 1, l2);
				if ((err = shmring_commit(r, &r2, l2)))
					die("commit 2", err);
				fill(r1.buf, id, s, len);
				if ((err = shmring_commit(r, &r1, len)))
					die("commit 1", err);
				doubles++;
			}
			bytes += len + l2;
			s++;
			since_pause += 2;
			goto pause_check;
		}
		if (!plain && s % 3 == 2) {
			shmring_reservation res;
			if ((err = shmring_reserve(r, len, &res, TIMEOUT_NS)))
				die("reserve", err);
			fill(res.buf, id, s, len);
			err = shmring_commit(r, &res, len);
		} else {
			fill(buf, id, s, len);
			err = shmring_push(r, buf, len, TIMEOUT_NS);
		}
		if (err)
			die("push", err);
		bytes += len;
		since_pause++;
	pause_check:
		if (pause_every && since_pause >= pause_every) {
			struct timespec ts = {pause_ms / 1000, (pause_ms % 1000) * 1000000};
			nanosleep(&ts, NULL);
			since_pause = 0;
		}
	}
	if (do_close) {
		int err = shmring_close_write(r);
		if (err)
			die("close_write", err);
	}
	shmring_stats st;
	shmring_stats_get(r, &st);
	printf("sent=%llu bytes=%llu peer=%d pid=%d sleeps=%llu mirrored=%d doubles=%llu\n", (unsigned long long)(n - start),
	       (unsigned long long)bytes, shmring_ring_peer_index(r), (int)getpid(), (unsigned long long)st.sleeps,
	       shmring_ring_mirrored(r), (unsigned long long)doubles);
	shmring_ring_close(r);
	shmring_arena_close(a);
	free(buf);
	free(bbuf);
	return 0;
}

struct checker {
	uint32_t producers;
	size_t ss;
	uint8_t *want;
	uint64_t *next, got, bytes, sum;
};

/* check_msg: intact, each producer's in order, none twice (one producer:
 * none lost either). */
static int check_msg(struct checker *c, const uint8_t *m, size_t len)
{
	uint32_t p = 0;
	uint64_t s = c->next[0];
	if (len >= 12) {
		memcpy(&p, m, 4);
		memcpy(&s, m + 4, 8);
	} else if (!full_len || c->producers != 1) {
		fprintf(stderr, "ctool: message of %zu bytes\n", len);
		return 1;
	}
	if (p >= c->producers) {
		fprintf(stderr, "ctool: producer %u of %u\n", p, c->producers);
		return 1;
	}
	if (s < c->next[p]) {
		fprintf(stderr, "ctool: producer %u: seq %llu after %llu (duplicate or reordered)\n", p,
			(unsigned long long)s, (unsigned long long)c->next[p]);
		return 1;
	}
	if (s != c->next[p] && c->producers == 1) {
		fprintf(stderr, "ctool: seq %llu, want %llu (lost)\n", (unsigned long long)s,
			(unsigned long long)c->next[p]);
		return 1;
	}
	size_t wl = msg_len(s, p, c->ss);
	fill(c->want, p, s, wl);
	if (len != wl || memcmp(m, c->want, wl) != 0) {
		fprintf(stderr, "ctool: producer %u seq %llu: bad content (len %zu, want %zu)\n", p,
			(unsigned long long)s, len, wl);
		return 1;
	}
	for (size_t i = 0; i < len; i++)
		c->sum = c->sum * 31 + m[i];
	c->next[p] = s + 1;
	c->got++;
	c->bytes += len;
	return 0;
}

static int consume(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	shmring_arena *a;
	shmring_ring *r;
	open_ring(argv[2], argv[3], &a, &r);
	struct checker c = {.producers = (uint32_t)strtoul(argv[4], NULL, 10), .ss = shmring_ring_slot_size(r)};
	uint8_t *buf = malloc(c.ss);
	c.want = malloc(c.ss);
	c.next = calloc(c.producers, sizeof *c.next);
	int records = shmring_ring_kind(r) == SHMRING_KIND_RECORDS;
	uint64_t pipelined = 0;
	for (;;) {
		size_t len = 0;
		shmring_message msg, msg2;
		int err, peeked = !plain && c.got % 5 == 4;
		if (peeked) {
			err = shmring_peek(r, &msg, TIMEOUT_NS);
			len = msg.len;
		} else {
			err = shmring_pop(r, buf, c.ss, &len, TIMEOUT_NS);
		}
		if (err == SHMRING_EEOF)
			break;
		if (err)
			die("pop", err);
		if (check_msg(&c, peeked ? msg.data : buf, len))
			return 1;
		if (!peeked)
			continue;
		/* A record ring: a second peek while the first is outstanding. */
		if (records && c.got % 3 == 0 && shmring_try_peek(r, &msg2) == SHMRING_OK) {
			if (check_msg(&c, msg2.data, msg2.len))
				return 1;
			if ((err = shmring_release(r, &msg2)) != SHMRING_ENOTRESERVED)
				die("release out of order", err ? err : SHMRING_EINVAL);
			if ((err = shmring_release(r, &msg)) || (err = shmring_release(r, &msg2)))
				die("release pipelined", err);
			pipelined++;
			continue;
		}
		if ((err = shmring_release(r, &msg)))
			die("release", err);
	}
	shmring_stats st;
	shmring_stats_get(r, &st);
	printf("got=%llu bytes=%llu sum=%llu peer=%d sleeps=%llu skipped=%llu pipelined=%llu mirrored=%d msgs_out=%llu\n",
	       (unsigned long long)c.got, (unsigned long long)c.bytes, (unsigned long long)c.sum,
	       shmring_ring_peer_index(r), (unsigned long long)st.sleeps, (unsigned long long)st.skipped,
	       (unsigned long long)pipelined, shmring_ring_mirrored(r), (unsigned long long)st.msgs_out);
	shmring_ring_close(r);
	shmring_arena_close(a);
	free(buf);
	free(c.want);
	free(c.next);
	return 0;
}

/* holdlock: what a producer killed inside the claim section leaves: its
 * tag in ClaimLock (docs/ring.md recordProd, offsets from the ring header). */
static int holdlock(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	shmring_arena *a;
	shmring_ring *r;
	open_ring(argv[2], argv[3], &a, &r);
	uint8_t one[12];
	fill(one, 0, 0, 12);
	int err = shmring_push(r, one, 12, TIMEOUT_NS);
	if (err)
		die("push", err);
	shmring_region reg;
	if ((err = shmring_lookup(a, argv[3], &reg)))
		die("lookup", err);
	uint8_t *mem = reg.mem;
	uint64_t prod_off, peers_off;
	uint32_t stride, gen;
	int idx = shmring_ring_peer_index(r);
	memcpy(&prod_off, mem + 40, 8);
	memcpy(&peers_off, mem + 56, 8);
	memcpy(&stride, mem + 68, 4);
	gen = __atomic_load_n((uint32_t *)(void *)(mem + peers_off + (uint64_t)idx * stride + 60), __ATOMIC_SEQ_CST);
	uint32_t tag = idx ? ((uint32_t)idx & 1023) | (gen & 0x1ffff) << 15 : 0xffff8000u;
	__atomic_store_n((uint32_t *)(void *)(mem + prod_off + 16), tag, __ATOMIC_SEQ_CST);
	printf("holding tag=%u peer=%d\n", tag, idx);
	fflush(stdout);
	for (;;)
		pause();
}

static int open_cmd(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int64_t tmo = argc > 5 ? strtoll(argv[5], NULL, 10) * 1000000 : 0;
	shmring_arena_opts ao = {.ready_timeout_ns = tmo};
	shmring_ring_opts ro = {.open_timeout_ns = tmo};
	shmring_arena *a;
	int err = shmring_arena_open(argv[2], &ao, &a);
	int arena_err = err;
	if (!err && argc > 3 && strcmp(argv[3], "-") != 0) {
		shmring_ring *r;
		uint32_t kind = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 0) : 0;
		err = shmring_ring_open(a, argv[3], kind, &ro, &r);
		if (!err)
			shmring_ring_close(r);
	}
	if (!arena_err)
		shmring_arena_close(a);
	printf("err=%s\n", ename(err));
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void hold_forever(void)
{
	for (;;)
		pause();
}

static int bproduce(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	uint64_t n = strtoull(argv[4], NULL, 10);
	uint64_t pause_every = argc > 5 ? strtoull(argv[5], NULL, 10) : 0;
	long pause_ms = argc > 6 ? strtol(argv[6], NULL, 10) : 0;
	uint64_t hang_after = argc > 7 ? strtoull(argv[7], NULL, 10) : 0;
	shmring_arena *a;
	shmring_ring *r;
	int err = shmring_arena_open(argv[2], NULL, &a);
	if (err)
		die("arena open", err);
	if ((err = shmring_broadcast_open(a, argv[3], NULL, &r)))
		die("broadcast open", err);
	size_t ss = shmring_ring_slot_size(r);
	uint8_t *buf = malloc(ss);
	uint64_t bytes = 0;
	for (uint64_t s = 0; s < n; s++) {
		size_t len = msg_len(s, 0, ss);
		if (hang_after && s == hang_after) {
			shmring_reservation res;
			if ((err = shmring_reserve(r, len, &res, TIMEOUT_NS)))
				die("reserve (hang)", err);
			fill(res.buf, 0, s, len); /* marked and written, never completed */
			printf("holding sent=%llu bytes=%llu\n", (unsigned long long)s, (unsigned long long)bytes);
			fflush(stdout);
			hold_forever();
		}
		if (s % 3 == 2) {
			shmring_reservation res;
			if ((err = shmring_reserve(r, len, &res, TIMEOUT_NS)))
				die("reserve", err);
			fill(res.buf, 0, s, len);
			err = shmring_commit(r, &res, len);
		} else {
			fill(buf, 0, s, len);
			err = shmring_push(r, buf, len, TIMEOUT_NS);
		}
		if (err)
			die("push", err);
		bytes += len;
		if (pause_every && (s + 1) % pause_every == 0)
			sleep_ms(pause_ms);
	}
	shmring_stats st;
	shmring_stats_get(r, &st);
	printf("sent=%llu bytes=%llu peer=%d pid=%d sleeps=%llu full=%llu\n", (unsigned long long)n,
	       (unsigned long long)bytes, shmring_ring_peer_index(r), (int)getpid(), (unsigned long long)st.sleeps,
	       (unsigned long long)st.full_events);
	if ((err = shmring_ring_close(r)))
		die("close", err);
	shmring_arena_close(a);
	free(buf);
	return 0;
}

static int subscribe(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	shmring_subscribe_opts so = {.lossy = !strcmp(argv[4], "lossy"), .oldest = !strcmp(argv[5], "oldest")};
	uint64_t pause_every = argc > 6 ? strtoull(argv[6], NULL, 10) : 0;
	long pause_ms = argc > 7 ? strtol(argv[7], NULL, 10) : 0;
	uint64_t hang_after = argc > 8 ? strtoull(argv[8], NULL, 10) : 0;
	shmring_arena *a;
	shmring_ring *r;
	int err = shmring_arena_open(argv[2], NULL, &a);
	if (err)
		die("arena open", err);
	if ((err = shmring_subscribe(a, argv[3], &so, &r)))
		die("subscribe", err);
	printf("joined peer=%d\n", shmring_ring_peer_index(r));
	size_t ss = shmring_ring_slot_size(r);
	uint8_t *buf = malloc(ss), *want = malloc(ss);
	uint64_t next = 0, got = 0, bytes = 0, sum = 0, laps = 0, missed = 0, first = ~0ull;
	for (;;) {
		if (hang_after && got == hang_after) {
			printf("holding got=%llu\n", (unsigned long long)got);
			fflush(stdout);
			hold_forever();
		}
		size_t len = 0;
		shmring_message msg;
		int peeked = got % 5 == 4;
		if (peeked) {
			/* Copy out, then release: a lossy subscriber's peeked data
			 * may be torn, and Release says so. */
			if (!(err = shmring_peek(r, &msg, TIMEOUT_NS))) {
				len = msg.len;
				memcpy(buf, msg.data, len);
				err = shmring_release(r, &msg);
			}
		} else {
			err = shmring_pop(r, buf, ss, &len, TIMEOUT_NS);
		}
		if (err == SHMRING_EEOF)
			break;
		if (err == SHMRING_ELAPPED) {
			uint64_t m;
			shmring_sub_last_missed(r, &m);
			if (!so.lossy || m == 0) {
				fprintf(stderr, "ctool: lapped (missed %llu) %s subscriber\n", (unsigned long long)m, argv[4]);
				return 1;
			}
			laps++;
			missed += m;
			next += m; /* the next message must be exactly this one */
			continue;
		}
		if (err)
			die("pop", err);
		uint32_t p;
		uint64_t s;
		if (len < 12) {
			fprintf(stderr, "ctool: message of %zu bytes\n", len);
			return 1;
		}
		memcpy(&p, buf, 4);
		memcpy(&s, buf + 4, 8);
		if (first == ~0ull) {
			/* Where it joined; lapped before its first message, a
			 * subscriber that joined at position 0 (the tests' lossy
			 * ones join before the first push) must be exactly there. */
			if (laps == 0)
				next = s;
			first = laps == 0 ? s : 0;
		}
		if (p != 0 || s != next) {
			fprintf(stderr, "ctool: producer %u seq %llu, want %llu (laps %llu missed %llu)\n", p,
				(unsigned long long)s, (unsigned long long)next, (unsigned long long)laps,
				(unsigned long long)missed);
			return 1;
		}
		size_t wl = msg_len(s, 0, ss);
		fill(want, 0, s, wl);
		if (len != wl || memcmp(buf, want, wl) != 0) {
			fprintf(stderr, "ctool: seq %llu: bad content (len %zu, want %zu)\n", (unsigned long long)s, len, wl);
			return 1;
		}
		for (size_t i = 0; i < len; i++)
			sum = sum * 31 + buf[i];
		next = s + 1;
		got++;
		bytes += len;
		if (pause_every && got % pause_every == 0)
			sleep_ms(pause_ms);
	}
	uint64_t lag;
	shmring_sub_lag(r, &lag);
	shmring_stats st;
	shmring_stats_get(r, &st);
	printf("got=%llu bytes=%llu sum=%llu first=%llu next=%llu laps=%llu missed=%llu peer=%d sleeps=%llu lag=%llu\n",
	       (unsigned long long)got, (unsigned long long)bytes, (unsigned long long)sum,
	       (unsigned long long)(first == ~0ull ? 0 : first), (unsigned long long)next, (unsigned long long)laps,
	       (unsigned long long)missed, shmring_ring_peer_index(r), (unsigned long long)st.sleeps,
	       (unsigned long long)lag);
	shmring_ring_close(r);
	shmring_arena_close(a);
	free(buf);
	free(want);
	return 0;
}

static uint8_t *waiters_of(shmring_arena *a, const char *ring, int which)
{
	shmring_region reg;
	int err = shmring_lookup(a, ring, &reg);
	if (err)
		die("lookup", err);
	uint64_t off;
	memcpy(&off, reg.mem + (which ? 48 : 40), 8); /* ConsumerOffset : ProducerOffset */
	return reg.mem + off + 12;                    /* NotFullWaiters : NotEmptyWaiters */
}

static int leak(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	shmring_arena *a;
	shmring_ring *r;
	open_ring(argv[2], argv[3], &a, &r);
	__atomic_add_fetch((uint32_t *)(void *)waiters_of(a, argv[3], 0), (uint32_t)strtoul(argv[4], NULL, 10),
			   __ATOMIC_SEQ_CST);
	__atomic_add_fetch((uint32_t *)(void *)waiters_of(a, argv[3], 1), (uint32_t)strtoul(argv[5], NULL, 10),
			   __ATOMIC_SEQ_CST);
	printf("leaked\n");
	fflush(stdout);
	_exit(0); /* as if killed: no close */
}

static int recover_cmd(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	shmring_arena *a;
	shmring_ring *r;
	open_ring(argv[2], argv[3], &a, &r);
	shmring_recovery rec = {0};
	shmring_stats st;
	int err;
	if (argc > 4 && !strcmp(argv[4], "idle")) {
		uint8_t buf[16] = {0};
		size_t len;
		for (int i = 0; i < 5000 / 3; i++) {
			if ((err = shmring_stats_get(r, &st)))
				die("stats", err);
			if (st.not_empty_waiters == 0 && st.not_full_waiters == 0)
				break;
			if ((err = shmring_try_push(r, buf, sizeof buf)))
				die("push", err);
			if ((err = shmring_try_pop(r, buf, sizeof buf, &len)))
				die("pop", err);
			sleep_ms(3);
		}
	} else if ((err = shmring_recover(r, &rec))) {
		die("recover", err);
	}
	if ((err = shmring_stats_get(r, &st)))
		die("stats", err);
	printf("sleepers=%d dead=%d not_empty_waiters=%u not_full_waiters=%u\n", rec.sleepers, rec.dead_peers,
	       st.not_empty_waiters, st.not_full_waiters);
	shmring_ring_close(r);
	shmring_arena_close(a);
	return 0;
}

static int truncwait(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	shmring_arena *a;
	shmring_ring *r;
	open_ring(argv[2], argv[3], &a, &r);
	printf("ready\n");
	fflush(stdout);
	int err = SHMRING_OK;
	for (int i = 0; i < 20000 / 5 && !err; i++) {
		sleep_ms(5);
		err = shmring_recover(r, NULL);
	}
	uint8_t buf[16] = {0};
	size_t len;
	shmring_stats st;
	shmring_message m;
	shmring_recovery rec;
	shmring_region reg;
	printf("recover=%s push=%s pop=%s peek=%s stats=%s recover2=%s closed=%d lookup=%s check=%s corrupt=%d\n",
	       ename(err), ename(shmring_try_push(r, buf, sizeof buf)), ename(shmring_try_pop(r, buf, sizeof buf, &len)),
	       ename(shmring_try_peek(r, &m)), ename(shmring_stats_get(r, &st)), ename(shmring_recover(r, &rec)),
	       shmring_is_closed(r), ename(shmring_lookup(a, argv[3], &reg)), ename(shmring_arena_check_size(a)),
	       shmring_err_is(err, SHMRING_ECORRUPT));
	shmring_ring_close(r);
	shmring_arena_close(a);
	printf("closed\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *fl = getenv("CTOOL_FULLLEN");
	full_len = fl && !strcmp(fl, "1");
	const char *pl = getenv("CTOOL_PLAIN");
	plain = pl && !strcmp(pl, "1");
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "produce"))
		return produce(argc, argv);
	if (!strcmp(argv[1], "consume"))
		return consume(argc, argv);
	if (!strcmp(argv[1], "open"))
		return open_cmd(argc, argv);
	if (!strcmp(argv[1], "bproduce"))
		return bproduce(argc, argv);
	if (!strcmp(argv[1], "subscribe"))
		return subscribe(argc, argv);
	if (!strcmp(argv[1], "holdlock"))
		return holdlock(argc, argv);
	if (!strcmp(argv[1], "leak"))
		return leak(argc, argv);
	if (!strcmp(argv[1], "recover"))
		return recover_cmd(argc, argv);
	if (!strcmp(argv[1], "truncwait"))
		return truncwait(argc, argv);
	fprintf(stderr, "ctool: unknown command %s\n", argv[1]);
	return 2;
}
