/*
 * md_consumer: a C market-data consumer subscribing to a Go feed's
 * broadcast ring through the C peer library (c/include/shmring.h).
 *
 *   md_consumer [-lossy] [-oldest] [-wait MS] ARENA RING
 *
 * It joins the ring as a subscriber (tethered unless -lossy: the feed
 * never overwrites a quote it has not read; lossy: it never holds the
 * feed back and is told exactly how many quotes it lost when lapped),
 * reads quotes until the feed ends the stream, and checks each one: whole
 * (its CRC-32C), sane prices, and numbered one after the other (the
 * feed numbers its quotes by their position in the ring, so a lossy
 * subscriber's next quote after a lap must be exactly the one after the
 * quotes it missed). It keeps the last bid and ask of every symbol and
 * prints a summary; exit status 0 if every check passed, 1 otherwise.
 * -wait: how long to wait for the arena and ring to appear (default 5 s).
 *
 * The quote, 48 bytes little-endian (examples/marketdata/wire.go):
 *   0 Seq u64 | 8 Symbol [8] | 16 Bid i64 | 24 Ask i64 | 32 SentNs i64
 *   (CLOCK_MONOTONIC) | 40 Sum u32 = CRC-32C of bytes 0..40 | 44 zero
 */
#define _GNU_SOURCE 1
#include "shmring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUOTE_SIZE 48
#define MAX_SYMBOLS 64
#define READ_TIMEOUT_NS (10LL * 1000000000) /* a feed silent this long is gone */

struct quote {
	uint64_t seq;
	char symbol[9];
	int64_t bid, ask, sent_ns;
};

struct book {
	char symbol[9];
	int64_t bid, ask;
	uint64_t quotes;
};

static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = ~0u;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c >> 1 ^ (0x82f63b78u & -(c & 1));
	}
	return ~c;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8); /* the ring's byte order is little-endian, as this host's */
	return v;
}

static int decode(const uint8_t *b, size_t n, struct quote *q)
{
	uint32_t sum;
	if (n != QUOTE_SIZE)
		return -1;
	memcpy(&sum, b + 40, 4);
	if (sum != crc32c(b, 40))
		return -1;
	q->seq = get64(b);
	memcpy(q->symbol, b + 8, 8);
	q->symbol[8] = 0;
	q->bid = (int64_t)get64(b + 16);
	q->ask = (int64_t)get64(b + 24);
	q->sent_ns = (int64_t)get64(b + 32);
	return q->bid > 0 && q->ask > q->bid ? 0 : -1;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* attach waits for the feed to create the arena and the ring. */
static int attach(const char *arena, const char *ring, const shmring_subscribe_opts *so, long wait_ms,
		  shmring_arena **a, shmring_ring **r)
{
	int err;
	for (long waited = 0;; waited += 10) {
		err = shmring_arena_open(arena, NULL, a);
		if (!err) {
			err = shmring_subscribe(*a, ring, so, r);
			if (!err)
				return 0;
			shmring_arena_close(*a);
		}
		if ((err != SHMRING_ENOTFOUND && err != SHMRING_ENOTREADY) || waited >= wait_ms)
			return err;
		sleep_ms(10);
	}
}

int main(int argc, char **argv)
{
	shmring_subscribe_opts so = {0};
	long wait_ms = 5000;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-lossy"))
			so.lossy = 1;
		else if (!strcmp(argv[i], "-oldest"))
			so.oldest = 1;
		else if (!strcmp(argv[i], "-wait") && i + 1 < argc)
			wait_ms = strtol(argv[++i], NULL, 10);
		else
			break;
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: md_consumer [-lossy] [-oldest] [-wait MS] ARENA RING\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	shmring_arena *a;
	shmring_ring *r;
	int err = attach(argv[i], argv[i + 1], &so, wait_ms, &a, &r);
	if (err) {
		fprintf(stderr, "md_consumer: attach %s %s: %s\n", argv[i], argv[i + 1], shmring_strerror(err));
		return 1;
	}
	printf("subscribed %s\n", so.lossy ? "lossy" : "tethered");

	struct book books[MAX_SYMBOLS];
	int nbooks = 0, bad = 0;
	uint64_t quotes = 0, laps = 0, missed = 0, next = 0;
	int64_t lat_sum = 0, lat_max = 0;
	int have_next = 0;
	uint8_t buf[256];
	for (;;) {
		size_t n;
		err = shmring_pop(r, buf, sizeof buf, &n, READ_TIMEOUT_NS);
		if (err == SHMRING_EEOF)
			break; /* the feed closed the ring and we read all of it */
		if (err == SHMRING_ELAPPED) {
			uint64_t m = 0;
			shmring_sub_last_missed(r, &m);
			laps++;
			missed += m;
			next += m; /* the next quote must be the one after those we lost */
			continue;
		}
		if (err) {
			fprintf(stderr, "md_consumer: read: %s\n", shmring_strerror(err));
			bad++;
			break;
		}
		struct quote q;
		if (decode(buf, n, &q)) {
			fprintf(stderr, "md_consumer: torn or bad quote of %zu bytes after %llu\n", n,
				(unsigned long long)quotes);
			bad++;
			continue;
		}
		if (have_next && q.seq != next) {
			fprintf(stderr, "md_consumer: quote %llu, want %llu (laps %llu, missed %llu)\n",
				(unsigned long long)q.seq, (unsigned long long)next, (unsigned long long)laps,
				(unsigned long long)missed);
			bad++;
		}
		have_next = 1;
		next = q.seq + 1;
		quotes++;
		int64_t lat = mono_ns() - q.sent_ns;
		lat_sum += lat;
		if (lat > lat_max)
			lat_max = lat;
		int k = 0;
		while (k < nbooks && strcmp(books[k].symbol, q.symbol) != 0)
			k++;
		if (k == nbooks && nbooks < MAX_SYMBOLS)
			memcpy(books[nbooks++].symbol, q.symbol, sizeof q.symbol);
		if (k < nbooks) {
			books[k].bid = q.bid;
			books[k].ask = q.ask;
			books[k].quotes++;
		}
	}
	for (int k = 0; k < nbooks; k++)
		printf("  %-8s bid %lld.%04lld ask %lld.%04lld (%llu quotes)\n", books[k].symbol,
		       (long long)(books[k].bid / 10000), (long long)(books[k].bid % 10000),
		       (long long)(books[k].ask / 10000), (long long)(books[k].ask % 10000),
		       (unsigned long long)books[k].quotes);
	printf("quotes=%llu laps=%llu missed=%llu next=%llu symbols=%d mean_latency_ns=%lld max_latency_ns=%lld bad=%d\n",
	       (unsigned long long)quotes, (unsigned long long)laps, (unsigned long long)missed,
	       (unsigned long long)next, nbooks, (long long)(quotes ? lat_sum / (int64_t)quotes : 0),
	       (long long)lat_max, bad);
	shmring_ring_close(r); /* leaves the ring: a tethered subscriber stops holding the feed */
	shmring_arena_close(a);
	return bad ? 1 : 0;
}
