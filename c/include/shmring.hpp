// shmring.hpp: a thin, header-only C++20 wrapper over shmring.h.
//
// RAII handles (Arena, Ring) that close on destruction and move but do not
// copy; std::span for message bytes; errors as shmring::Error (an
// exception carrying the C error code) from the constructors, and as the
// plain int code from the operations, whose SHMRING_EFULL / EEMPTY / EEOF
// answers are the normal flow of a ring, not exceptional. Nothing here
// adds state or behaviour to the C library: every call is one call of
// shmring.h, and its semantics are docs/ring.md's.

#ifndef SHMRING_HPP
#define SHMRING_HPP

#include <chrono>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

extern "C" {
#include "shmring.h"
}

namespace shmring {

// Error is a failed constructor's C error code (shmring_strerror's text).
class Error : public std::runtime_error {
public:
	explicit Error(int code) : std::runtime_error(shmring_strerror(code)), code_(code) {}
	int code() const noexcept { return code_; }
	// is reports whether the code matches target as Go's errors.Is would
	// (SHMRING_ECHECKSUM is also SHMRING_ECORRUPT, ...).
	bool is(int target) const noexcept { return shmring_err_is(code_, target) != 0; }

private:
	int code_;
};

inline int64_t to_ns(std::chrono::nanoseconds d) { return d.count(); }

// Arena is an open arena file.
class Arena {
public:
	explicit Arena(const std::string &path, const shmring_arena_opts *opts = nullptr) {
		if (int err = shmring_arena_open(path.c_str(), opts, &a_)) {
			throw Error(err);
		}
	}
	Arena(Arena &&o) noexcept : a_(std::exchange(o.a_, nullptr)) {}
	Arena &operator=(Arena &&o) noexcept {
		if (this != &o) {
			reset();
			a_ = std::exchange(o.a_, nullptr);
		}
		return *this;
	}
	Arena(const Arena &) = delete;
	Arena &operator=(const Arena &) = delete;
	~Arena() { reset(); }

	shmring_arena *get() const noexcept { return a_; }
	uint64_t size() const noexcept { return shmring_arena_size(a_); }
	int lookup(const std::string &name, shmring_region &out) const { return shmring_lookup(a_, name.c_str(), &out); }

private:
	void reset() noexcept {
		if (a_) {
			shmring_arena_close(a_);
			a_ = nullptr;
		}
	}
	shmring_arena *a_ = nullptr;
};

// Message is a record peeked in place: valid until its release.
struct Message {
	shmring_message m{};
	std::span<const std::byte> data() const noexcept {
		return {static_cast<const std::byte *>(m.data), m.len};
	}
};

// Reservation is room reserved for writing in place, then commit.
struct Reservation {
	shmring_reservation r{};
	std::span<std::byte> buf() const noexcept { return {static_cast<std::byte *>(r.buf), r.cap}; }
};

// Ring is an attached ring handle of any kind. The Arena must outlive it.
class Ring {
public:
	// open attaches to an SPSC, MPMC or record ring (kind 0: whatever the
	// region holds).
	static Ring open(Arena &a, const std::string &name, uint32_t kind = 0, const shmring_ring_opts *opts = nullptr) {
		shmring_ring *r = nullptr;
		if (int err = shmring_ring_open(a.get(), name.c_str(), kind, opts, &r)) {
			throw Error(err);
		}
		return Ring(r);
	}
	// broadcast attaches as a broadcast ring's producer.
	static Ring broadcast(Arena &a, const std::string &name, const shmring_ring_opts *opts = nullptr) {
		shmring_ring *r = nullptr;
		if (int err = shmring_broadcast_open(a.get(), name.c_str(), opts, &r)) {
			throw Error(err);
		}
		return Ring(r);
	}
	// subscribe joins a broadcast ring as a subscriber.
	static Ring subscribe(Arena &a, const std::string &name, const shmring_subscribe_opts *opts = nullptr) {
		shmring_ring *r = nullptr;
		if (int err = shmring_subscribe(a.get(), name.c_str(), opts, &r)) {
			throw Error(err);
		}
		return Ring(r);
	}

	Ring(Ring &&o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
	Ring &operator=(Ring &&o) noexcept {
		if (this != &o) {
			reset();
			r_ = std::exchange(o.r_, nullptr);
		}
		return *this;
	}
	Ring(const Ring &) = delete;
	Ring &operator=(const Ring &) = delete;
	~Ring() { reset(); }

	shmring_ring *get() const noexcept { return r_; }
	uint32_t kind() const noexcept { return shmring_ring_kind(r_); }

	// Producing: 0 or a SHMRING_E* code (EFULL from the try forms).
	int try_push(std::span<const std::byte> msg) noexcept { return shmring_try_push(r_, msg.data(), msg.size()); }
	int push(std::span<const std::byte> msg, std::chrono::nanoseconds timeout) noexcept {
		return shmring_push(r_, msg.data(), msg.size(), to_ns(timeout));
	}
	int try_reserve(size_t n, Reservation &res) noexcept { return shmring_try_reserve(r_, n, &res.r); }
	int reserve(size_t n, Reservation &res, std::chrono::nanoseconds timeout) noexcept {
		return shmring_reserve(r_, n, &res.r, to_ns(timeout));
	}
	int commit(Reservation &res, size_t n) noexcept { return shmring_commit(r_, &res.r, n); }
	int close_write() noexcept { return shmring_close_write(r_); }

	// Consuming: *n receives the message length; EEMPTY, EEOF, ELAPPED ...
	int try_pop(std::span<std::byte> dst, size_t &n) noexcept { return shmring_try_pop(r_, dst.data(), dst.size(), &n); }
	int pop(std::span<std::byte> dst, size_t &n, std::chrono::nanoseconds timeout) noexcept {
		return shmring_pop(r_, dst.data(), dst.size(), &n, to_ns(timeout));
	}
	int try_peek(Message &m) noexcept { return shmring_try_peek(r_, &m.m); }
	int peek(Message &m, std::chrono::nanoseconds timeout) noexcept { return shmring_peek(r_, &m.m, to_ns(timeout)); }
	int release(Message &m) noexcept { return shmring_release(r_, &m.m); }

	int stats(shmring_stats &s) noexcept { return shmring_stats_get(r_, &s); }
	int recover(shmring_recovery &rec) noexcept { return shmring_recover(r_, &rec); }

	// detach releases the handle without ending the stream.
	int detach() noexcept {
		int err = r_ ? shmring_ring_detach(r_) : 0;
		r_ = nullptr;
		return err;
	}

private:
	explicit Ring(shmring_ring *r) noexcept : r_(r) {}
	void reset() noexcept {
		if (r_) {
			shmring_ring_close(r_);
			r_ = nullptr;
		}
	}
	shmring_ring *r_ = nullptr;
};

} // namespace shmring

#endif
