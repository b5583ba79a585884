/*
 * arena.c: opening and validating an arena (docs/layout.md "Opening",
 * as arena/open.go and arena/header.go do it), region lookup
 * (arena/dir.go), and the peer liveness locks (arena/liveness_linux.go).
 *
 * Shared memory is hostile input: the header is copied out once after the
 * acquire-load of State, validated, and only the private copy of the
 * geometry is used afterwards.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free to be atomic across processes");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");

/* ---- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) ----
 * Bit by bit: it only checks headers and directory entries (at most 124
 * bytes each, at open and lookup), and needs no shared table. */
uint32_t shmring_crc32c(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++) {
		c ^= b[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
	}
	return c ^ 0xFFFFFFFFu;
}

/* Little-endian reads of a private copy (the host is little-endian:
 * checked by the byte-order mark). */
static uint16_t le16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static bool is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

int64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* deadline_after is mono_now() + timeout_ns, saturating at INT64_MAX
 * (a timeout of INT64_MAX, C++'s nanoseconds::max(), must not overflow). */
int64_t deadline_after(int64_t timeout_ns)
{
	int64_t now = mono_now();
	if (timeout_ns > INT64_MAX - now)
		return INT64_MAX;
	return now + timeout_ns;
}

/* Fork safety of the liveness locks. They are OFD locks held through each
 * arena's second description (hold_fd), which a child created by fork()
 * shares: left alone, the child would keep the parent's entries alive
 * after the parent died (survivors never recover them), and an unlock in
 * the child would drop the live parent's lock. So every open arena is in
 * a list, and in the child each one's hold_fd is closed (which releases
 * nothing: the parent still holds the description) and its locks are
 * forgotten; the arena's owner pid then refuses further locking in the
 * child (its handles do not survive fork, as the header says). */
static pthread_mutex_t arenas_mu = PTHREAD_MUTEX_INITIALIZER;
static shmring_arena *arenas; /* open arenas, linked by next_open */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void) { pthread_mutex_lock(&arenas_mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&arenas_mu); }
static void atfork_child(void)
{
	for (shmring_arena *a = arenas; a; a = a->next_open) {
		if (a->hold_fd >= 0)
			close(a->hold_fd);
		a->hold_fd = -1;
		a->held.n = 0;
	}
	pthread_mutex_unlock(&arenas_mu);
}
static void atfork_register(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

static void arenas_add(shmring_arena *a)
{
	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&arenas_mu);
	a->next_open = arenas;
	arenas = a;
	pthread_mutex_unlock(&arenas_mu);
}

static void arenas_remove(shmring_arena *a)
{
	pthread_mutex_lock(&arenas_mu);
	for (shmring_arena **pp = &arenas; *pp; pp = &(*pp)->next_open)
		if (*pp == a) {
			*pp = a->next_open;
			break;
		}
	pthread_mutex_unlock(&arenas_mu);
}

int64_t unix_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
	nanosleep(&ts, NULL);
}

/* ---- the file ---- */

/* check_file: fstat's checks of opening step 1 (arena/open.go fileFaults). */
static int check_file(int fd, int64_t *size)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return SHMRING_ESYS;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1 || (st.st_mode & 022))
		return SHMRING_EPERM;
	*size = st.st_size;
	return SHMRING_OK;
}

static int open_err(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return SHMRING_ENOTFOUND;
	case ELOOP:
	case EMLINK:
	case EISDIR:
	case ENXIO:
	case ENODEV:
	case EACCES:
	case EPERM:
	case EROFS:
		return SHMRING_EPERM;
	case ENAMETOOLONG:
		return SHMRING_EINVAL;
	}
	return SHMRING_ESYS;
}

/* identity: magic, byte order, major version (headerRules[:3]). */
static int check_identity(const uint8_t *h)
{
	if (memcmp(h + AH_MAGIC, ARENA_MAGIC, 8) != 0)
		return SHMRING_ENOTARENA;
	uint32_t bo = le32(h + AH_BYTEORDER);
	if (bo != BYTE_ORDER_MARK)
		return __builtin_bswap32(bo) == BYTE_ORDER_MARK ? SHMRING_EBYTEORDER : SHMRING_ECORRUPT;
	if (le16(h + AH_MAJOR) != ARENA_MAJOR)
		return SHMRING_EVERSION;
	return SHMRING_OK;
}

/* validate_header: every header rule in the order of arena/header.go
 * headerRules. */
static int validate_header(const uint8_t *h, int64_t file_size)
{
	int err = check_identity(h);
	if (err)
		return err;
	if (shmring_crc32c(h, AH_CHECKSUM) != le32(h + AH_CHECKSUM))
		return SHMRING_ECHECKSUM;
	if (le64(h + AH_INCOMPAT) != 0) /* no incompatible feature is defined */
		return SHMRING_EVERSION;
	if (le32(h + AH_HEADERSIZE) != ARENA_HEADER_SIZE || le32(h + AH_DIRENTRYSIZE) != DIR_ENTRY_SIZE ||
	    le64(h + AH_DIROFFSET) != ARENA_HEADER_SIZE)
		return SHMRING_ECORRUPT;
	uint64_t page = le32(h + AH_PAGESIZE), pad = le32(h + AH_PADUNIT);
	if (!is_pow2(page) || page < 4096 || page > (1u << 30))
		return SHMRING_ECORRUPT;
	if (!is_pow2(pad) || pad < 64 || pad > 4096)
		return SHMRING_ECORRUPT;
	uint64_t total = le64(h + AH_TOTALSIZE);
	if (total == 0 || total > MAX_ARENA_SIZE || total % page != 0)
		return SHMRING_ECORRUPT;
	uint64_t cap = le32(h + AH_DIRCAP);
	if (cap == 0 || cap > MAX_DIR_CAP)
		return SHMRING_ECORRUPT;
	uint64_t data = le64(h + AH_DATAOFFSET), dir_end = ARENA_HEADER_SIZE + cap * DIR_ENTRY_SIZE;
	if (data < dir_end || data % page != 0 || data > total)
		return SHMRING_ECORRUPT;
	if (file_size < 0 || (uint64_t)file_size < total)
		return SHMRING_ETRUNCATED;
	if ((uint64_t)file_size != total)
		return SHMRING_ECORRUPT;
	if (total > (uint64_t)PTRDIFF_MAX)
		return SHMRING_ECORRUPT;
	return SHMRING_OK;
}

/* wait_ready: opening step 2. The first page is mapped so that State is
 * acquire-loaded before the header is copied (docs/layout.md; Go polls with
 * pread and re-checks through the mapping: either is correct). */
static int wait_ready(int fd, int64_t timeout, uint8_t hdr[ARENA_HEADER_SIZE], int64_t *size_out)
{
	int64_t deadline = deadline_after(timeout), pause = 20000;
	for (;;) {
		int64_t size;
		int err = check_file(fd, &size);
		if (err)
			return err;
		bool ready = false;
		uint32_t state = 0;
		if (size > 0) {
			void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
			if (m == MAP_FAILED)
				return SHMRING_ESYS;
			size_t n = size < ARENA_HEADER_SIZE ? (size_t)size : ARENA_HEADER_SIZE;
			/* Acquire: pairs with the creator's release store of State. */
			if (n == ARENA_HEADER_SIZE)
				state = atomic_load_explicit(A32((uint8_t *)m + AH_STATE), ACQ);
			memset(hdr, 0, ARENA_HEADER_SIZE);
			memcpy(hdr, m, n);
			munmap(m, 4096);
			for (size_t i = 0; i < n && i < 8; i++)
				if (hdr[i] != 0 && hdr[i] != (uint8_t)ARENA_MAGIC[i])
					return SHMRING_ENOTARENA;
			bool all_zero = true;
			for (size_t i = 0; i < n; i++)
				if (hdr[i]) {
					all_zero = false;
					break;
				}
			if (n < ARENA_HEADER_SIZE && !all_zero)
				return SHMRING_ETRUNCATED;
			if (n >= 16 && memcmp(hdr, ARENA_MAGIC, 8) == 0 && le32(hdr + AH_BYTEORDER) != 0 &&
			    le16(hdr + AH_MAJOR) != 0) {
				if ((err = check_identity(hdr)))
					return err;
			}
			ready = n == ARENA_HEADER_SIZE && state == STATE_READY;
			if (ready && shmring_crc32c(hdr, AH_CHECKSUM) == le32(hdr + AH_CHECKSUM)) {
				if ((err = check_file(fd, &size)))
					return err;
				if ((uint64_t)size >= le64(hdr + AH_TOTALSIZE)) {
					*size_out = size;
					return SHMRING_OK;
				}
			} else if (state != 0 && state != STATE_READY) {
				return SHMRING_ECORRUPT;
			}
		}
		if (mono_now() >= deadline) {
			if (ready) {
				*size_out = size;
				return SHMRING_OK; /* validate names what is wrong */
			}
			return SHMRING_ENOTREADY;
		}
		sleep_ns(pause);
		pause = pause * 2 > 5000000 ? 5000000 : pause * 2;
	}
}

static int name_ok(const uint8_t *name64)
{
	size_t n = 0;
	while (n < 64 && name64[n])
		n++;
	if (n == 0 || n > 63)
		return 0;
	for (size_t i = n; i < 64; i++)
		if (name64[i])
			return 0;
	for (size_t i = 0; i < n; i++)
		if (name64[i] < 0x21 || name64[i] > 0x7e)
			return 0;
	return 1;
}

/* validate_entry: arena/header.go entryRules on a private copy. */
static int validate_entry(const shmring_arena *a, const uint8_t *e)
{
	if (shmring_crc32c(e, DE_CHECKSUM) != le32(e + DE_CHECKSUM))
		return SHMRING_ECHECKSUM;
	if (!name_ok(e + DE_NAME))
		return SHMRING_ECORRUPT;
	uint64_t align = le64(e + DE_ALIGN), size = le64(e + DE_SIZE), off = le64(e + DE_OFFSET);
	if (!is_pow2(align) || align < 8 || align > a->page_size)
		return SHMRING_ECORRUPT;
	if (size == 0)
		return SHMRING_ECORRUPT;
	if (off < a->data_offset || off > a->size || size > a->size - off)
		return SHMRING_ECORRUPT;
	if (off % align != 0)
		return SHMRING_ECORRUPT;
	return SHMRING_OK;
}

/* load_entry copies entry i after an acquire-load of its State. */
static bool load_entry(const shmring_arena *a, uint64_t i, uint8_t e[DIR_ENTRY_SIZE])
{
	uint8_t *src = a->mem + ARENA_HEADER_SIZE + i * DIR_ENTRY_SIZE; /* i < dir_cap: inside the directory */
	bool ready = atomic_load_explicit(A32(src + DE_STATE), ACQ) == STATE_READY;
	memcpy(e, src, DIR_ENTRY_SIZE);
	return ready;
}

struct span {
	uint64_t off, end;
};
static int cmp_span(const void *x, const void *y)
{
	const struct span *a = x, *b = y;
	return a->off < b->off ? -1 : a->off > b->off;
}

/* scan_dir: opening step 5 (arena/dir.go walkDir). */
static int scan_dir(shmring_arena *a)
{
	uint64_t count = ld32(a->mem + AH_DIRCOUNT), next = ld64(a->mem + AH_ALLOCNEXT);
	if (count > a->dir_cap)
		return SHMRING_ECORRUPT;
	if (next < a->data_offset || next > a->size)
		return SHMRING_ECORRUPT;
	if (count == 0)
		return SHMRING_OK;
	struct span *sp = calloc(count, sizeof *sp);
	char(*names)[64] = calloc(count, 64);
	int err = SHMRING_OK;
	if (!sp || !names) {
		err = SHMRING_ESYS;
		goto out;
	}
	for (uint64_t i = 0; i < count && !err; i++) {
		uint8_t e[DIR_ENTRY_SIZE];
		if (!load_entry(a, i, e)) {
			err = SHMRING_ECORRUPT; /* counted but not published */
			break;
		}
		if ((err = validate_entry(a, e)))
			break;
		memcpy(names[i], e + DE_NAME, 64);
		for (uint64_t j = 0; j < i; j++)
			if (memcmp(names[j], names[i], 64) == 0)
				err = SHMRING_ECORRUPT; /* duplicate name */
		sp[i].off = le64(e + DE_OFFSET);
		sp[i].end = sp[i].off + le64(e + DE_SIZE);
		if (sp[i].end > next)
			err = SHMRING_ECORRUPT;
	}
	if (!err) {
		qsort(sp, count, sizeof *sp, cmp_span);
		uint64_t far = sp[0].end;
		for (uint64_t i = 1; i < count; i++) {
			if (far > sp[i].off) {
				err = SHMRING_ECORRUPT; /* overlap */
				break;
			}
			if (sp[i].end > far)
				far = sp[i].end;
		}
	}
out:
	free(sp);
	free(names);
	return err;
}

int shmring_arena_open(const char *path, const shmring_arena_opts *opts, shmring_arena **out)
{
	if (!path || !*path || !out)
		return SHMRING_EINVAL;
	*out = NULL;
	int64_t timeout = opts && opts->ready_timeout_ns > 0 ? opts->ready_timeout_ns : 1000000000;
	char *p;
	if (strchr(path, '/')) {
		p = strdup(path);
	} else {
		p = malloc(strlen(path) + 10);
		if (p)
			sprintf(p, "/dev/shm/%s", path);
	}
	if (!p)
		return SHMRING_ESYS;
	int fd = open(p, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		int e = errno, err = open_err(e);
		free(p);
		errno = e;
		return err;
	}
	int64_t deadline = deadline_after(timeout);
	uint8_t hdr[ARENA_HEADER_SIZE];
	uint8_t *mem = MAP_FAILED;
	uint64_t total = 0;
	int err;
	for (;;) {
		int64_t size, left = deadline - mono_now();
		if ((err = wait_ready(fd, left > 0 ? left : 0, hdr, &size)))
			goto fail;
		if ((err = validate_header(hdr, size)))
			goto fail;
		total = le64(hdr + AH_TOTALSIZE);
		mem = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (mem == MAP_FAILED) {
			err = SHMRING_ESYS;
			goto fail;
		}
		int64_t now_size;
		if ((err = check_file(fd, &now_size)))
			goto fail;
		if ((uint64_t)now_size < total) {
			err = SHMRING_ETRUNCATED; /* shrank between validation and mapping */
			goto fail;
		}
		/* Acquire: as in wait_ready; then the once bytes must be those validated. */
		uint32_t st = atomic_load_explicit(A32(mem + AH_STATE), ACQ);
		if (st == STATE_READY && memcmp(mem, hdr, AH_CHECKSUM + 4) == 0)
			break;
		munmap(mem, total);
		mem = MAP_FAILED;
		if (mono_now() >= deadline) {
			err = SHMRING_ECORRUPT;
			goto fail;
		}
		sleep_ns(100000);
	}
	shmring_arena *a = calloc(1, sizeof *a);
	if (!a) {
		err = SHMRING_ESYS;
		goto fail;
	}
	a->path = p;
	a->fd = fd;
	a->hold_fd = -1;
	a->mem = mem;
	a->size = total;
	a->page_size = le32(hdr + AH_PAGESIZE);
	a->pad_unit = le32(hdr + AH_PADUNIT);
	a->dir_cap = le32(hdr + AH_DIRCAP);
	a->data_offset = le64(hdr + AH_DATAOFFSET);
	atomic_flag_clear(&a->lock);
	a->owner = getpid();
	if ((err = scan_dir(a))) {
		free(a);
		goto fail;
	}
	arenas_add(a);
	*out = a;
	return SHMRING_OK;
fail:;
	int e = errno;
	if (mem != MAP_FAILED)
		munmap(mem, total);
	close(fd);
	free(p);
	errno = e;
	return err;
}

void shmring_arena_close(shmring_arena *a)
{
	if (!a)
		return;
	arenas_remove(a);
	munmap(a->mem, a->size);
	if (a->hold_fd >= 0)
		close(a->hold_fd); /* drops every liveness lock held through it */
	close(a->fd);
	free(a->held.offs);
	free(a->views);
	free(a->path);
	free(a);
}

/* ---- truncation (arena/truncate.go) ----
 * Any process that may write the file can ftruncate it; the pages past
 * the new end are then gone for every mapping, and touching one is
 * SIGBUS. Nothing tells a mapping that its file shrank: a check (one
 * fstat) finds it, in shmring_arena_check_size, which shmring_lookup
 * (and so every ring open) and shmring_recover call, as Go's Lookup and
 * Recover do. An access to a lost page before the first check still
 * faults, in C as in Go. */

static void lock_arena(shmring_arena *a);
static void unlock_arena(shmring_arena *a);

/* remap_anon replaces [addr, addr+len) in place with private anonymous
 * memory (zeros): from then on no access to it faults. */
static void remap_anon(void *addr, size_t len)
{
	(void)mmap(addr, len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
}

/* arena_break_off breaks the handle for good on a truncation found:
 * every mapping of the file (the views first: a record ring works
 * through its view alone) becomes anonymous memory, the liveness locks
 * are dropped (this handle's ring entries must read as dead to the other
 * processes: they will never be released), and broken is set. */
static void arena_break_off(shmring_arena *a)
{
	lock_arena(a);
	if (!atomic_load_explicit(&a->broken, memory_order_relaxed)) {
		for (size_t i = 0; i < a->nviews; i++)
			remap_anon(a->views[i].addr, a->views[i].len);
		remap_anon(a->mem, a->size);
		if (a->hold_fd >= 0 && getpid() == a->owner)
			close(a->hold_fd); /* drops every liveness lock held through it */
		a->hold_fd = -1;
		a->held.n = 0;
		atomic_store_explicit(&a->broken, true, memory_order_release);
	}
	unlock_arena(a);
}

int shmring_arena_check_size(shmring_arena *a)
{
	struct stat st;
	if (!a)
		return SHMRING_EINVAL;
	if (arena_broken(a))
		return SHMRING_ETRUNCATED;
	if (fstat(a->fd, &st) != 0)
		return SHMRING_ESYS;
	if ((uint64_t)st.st_size >= a->size)
		return SHMRING_OK;
	arena_break_off(a);
	return SHMRING_ETRUNCATED;
}

int arena_add_view(shmring_arena *a, void *addr, size_t len)
{
	int err = SHMRING_OK;
	lock_arena(a);
	if (a->nviews == a->views_cap) {
		size_t nc = a->views_cap ? 2 * a->views_cap : 4;
		struct arena_view *nv = realloc(a->views, nc * sizeof *nv);
		if (!nv) {
			err = SHMRING_ESYS;
			goto out;
		}
		a->views = nv;
		a->views_cap = nc;
	}
	a->views[a->nviews++] = (struct arena_view){addr, len};
	if (atomic_load_explicit(&a->broken, memory_order_relaxed))
		remap_anon(addr, len); /* mapped after the break-off: the pages may be gone */
out:
	unlock_arena(a);
	return err;
}

void arena_remove_view(shmring_arena *a, void *addr)
{
	lock_arena(a);
	for (size_t i = 0; i < a->nviews; i++)
		if (a->views[i].addr == addr) {
			a->views[i] = a->views[--a->nviews];
			break;
		}
	unlock_arena(a);
}

uint32_t shmring_arena_pad_unit(const shmring_arena *a) { return a ? (uint32_t)a->pad_unit : 0; }
uint64_t shmring_arena_size(const shmring_arena *a) { return a ? a->size : 0; }

int shmring_lookup(shmring_arena *a, const char *name, shmring_region *out)
{
	if (!a || !name || !out)
		return SHMRING_EINVAL;
	size_t len = strlen(name);
	uint8_t want[64] = {0};
	if (len == 0 || len > 63)
		return SHMRING_EINVAL;
	memcpy(want, name, len);
	if (!name_ok(want))
		return SHMRING_EINVAL;
	int err = shmring_arena_check_size(a);
	if (err)
		return err;
	uint64_t count = ld32(a->mem + AH_DIRCOUNT);
	if (count > a->dir_cap)
		return SHMRING_ECORRUPT;
	for (uint64_t i = 0; i < count; i++) {
		uint8_t e[DIR_ENTRY_SIZE];
		if (!load_entry(a, i, e))
			return SHMRING_ECORRUPT;
		if (memcmp(e + DE_NAME, want, 64) != 0)
			continue;
		if ((err = validate_entry(a, e)))
			return err;
		memset(out, 0, sizeof *out);
		memcpy(out->name, e + DE_NAME, 63);
		out->offset = le64(e + DE_OFFSET);
		out->size = le64(e + DE_SIZE);
		out->align = le64(e + DE_ALIGN);
		out->kind = le32(e + DE_KIND);
		out->creator_pid = le32(e + DE_CREATORPID);
		out->created_unix_nano = (int64_t)le64(e + DE_CREATED);
		out->mem = a->mem + out->offset;
		return SHMRING_OK;
	}
	return SHMRING_ENOTFOUND;
}

/* ---- liveness locks ---- */

static void lock_arena(shmring_arena *a)
{
	while (atomic_flag_test_and_set_explicit(&a->lock, ACQ))
		sched_yield();
}
static void unlock_arena(shmring_arena *a) { atomic_flag_clear_explicit(&a->lock, REL); }

/* hold_file opens the second description the locks are held through
 * (/proc/self/fd/N, as arena/liveness_linux.go holdFile). Called locked. */
static int hold_file(shmring_arena *a)
{
	if (a->hold_fd >= 0)
		return SHMRING_OK;
	char buf[64];
	snprintf(buf, sizeof buf, "/proc/self/fd/%d", a->fd);
	int fd = open(buf, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fd = open(a->path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
		if (fd < 0)
			return SHMRING_ESYS;
		struct stat st, want;
		if (fstat(fd, &st) != 0 || fstat(a->fd, &want) != 0 || st.st_dev != want.st_dev ||
		    st.st_ino != want.st_ino) {
			close(fd);
			return SHMRING_ENOTFOUND;
		}
	}
	a->hold_fd = fd;
	return SHMRING_OK;
}

int arena_lock_byte(shmring_arena *a, int64_t off)
{
	if (off < 0 || (uint64_t)off >= a->size)
		return SHMRING_EINVAL;
	if (getpid() != a->owner)
		return SHMRING_EUNSUPPORTED; /* a forked child: its handles do not survive fork */
	lock_arena(a);
	int err = SHMRING_OK;
	if (atomic_load_explicit(&a->broken, memory_order_relaxed)) {
		err = SHMRING_ETRUNCATED; /* the locks were dropped for good */
		goto out;
	}
	for (size_t i = 0; i < a->held.n; i++)
		if (a->held.offs[i] == off) {
			err = SHMRING_EOUTSTANDING; /* ours already (another handle of this arena) */
			goto out;
		}
	if ((err = hold_file(a)))
		goto out;
	if (a->held.n == a->held.cap) {
		size_t nc = a->held.cap ? 2 * a->held.cap : 16;
		int64_t *no = realloc(a->held.offs, nc * sizeof *no);
		if (!no) {
			err = SHMRING_ESYS;
			goto out;
		}
		a->held.offs = no;
		a->held.cap = nc;
	}
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1, .l_pid = 0};
	int rc;
	do
		rc = fcntl(a->hold_fd, F_OFD_SETLK, &lk);
	while (rc != 0 && errno == EINTR);
	if (rc != 0) {
		if (errno == EAGAIN || errno == EACCES)
			err = SHMRING_EOUTSTANDING; /* another holder: alive */
		else if (errno == EINVAL)
			err = SHMRING_EUNSUPPORTED; /* a kernel before 3.15 */
		else
			err = SHMRING_ESYS;
		goto out;
	}
	a->held.offs[a->held.n++] = off;
out:
	unlock_arena(a);
	return err;
}

void arena_unlock_byte(shmring_arena *a, int64_t off)
{
	if (getpid() != a->owner)
		return; /* a forked child must not drop the parent's lock (the description is shared) */
	lock_arena(a);
	for (size_t i = 0; i < a->held.n; i++)
		if (a->held.offs[i] == off) {
			a->held.offs[i] = a->held.offs[--a->held.n];
			struct flock lk = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};
			while (fcntl(a->hold_fd, F_OFD_SETLK, &lk) != 0 && errno == EINTR)
				;
			break;
		}
	unlock_arena(a);
}

int arena_test_byte(shmring_arena *a, int64_t off, bool *held)
{
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1, .l_pid = 0};
	int rc;
	do
		rc = fcntl(a->fd, F_OFD_GETLK, &lk);
	while (rc != 0 && errno == EINTR);
	if (rc != 0)
		return errno == EINVAL ? SHMRING_EUNSUPPORTED : SHMRING_ESYS;
	*held = lk.l_type != F_UNLCK;
	return SHMRING_OK;
}
