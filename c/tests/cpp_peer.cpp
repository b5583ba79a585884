// cpp_peer: the C++ wrapper (shmring.hpp) as a peer, for
// internal/ctest's TestCPlusPlus.
//
//   cpp_peer consume ARENA RING   pop until EOF; message i must be "m<i>";
//                                 print "count=N"
//   cpp_peer produce ARENA RING N reserve/commit "m0".."m<N-1>", peek none,
//                                 then close_write; print "count=N"
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shmring.hpp"

using namespace std::chrono_literals;

static int consume(shmring::Arena &a, const char *name) {
	auto r = shmring::Ring::open(a, name);
	std::vector<std::byte> buf(4096);
	unsigned long i = 0;
	for (;;) {
		shmring::Message m;
		int err = r.peek(m, 10s);
		if (err == SHMRING_EEOF)
			break;
		if (err) {
			std::fprintf(stderr, "cpp_peer: peek: %s\n", shmring_strerror(err));
			return 1;
		}
		std::string want = "m" + std::to_string(i);
		auto d = m.data();
		if (d.size() != want.size() || std::memcmp(d.data(), want.data(), d.size()) != 0) {
			std::fprintf(stderr, "cpp_peer: message %lu: got %zu bytes, want %s\n", i, d.size(), want.c_str());
			return 1;
		}
		if ((err = r.release(m))) {
			std::fprintf(stderr, "cpp_peer: release: %s\n", shmring_strerror(err));
			return 1;
		}
		i++;
		if (i % 2 == 0) { // and every other one by pop, into a span
			size_t n = 0;
			err = r.pop(buf, n, 10s);
			if (err == SHMRING_EEOF)
				break;
			if (err) {
				std::fprintf(stderr, "cpp_peer: pop: %s\n", shmring_strerror(err));
				return 1;
			}
			want = "m" + std::to_string(i);
			if (n != want.size() || std::memcmp(buf.data(), want.data(), n) != 0) {
				std::fprintf(stderr, "cpp_peer: message %lu differs\n", i);
				return 1;
			}
			i++;
		}
	}
	std::printf("count=%lu\n", i);
	return 0;
}

static int produce(shmring::Arena &a, const char *name, unsigned long n) {
	auto r = shmring::Ring::open(a, name);
	for (unsigned long i = 0; i < n; i++) {
		std::string msg = "m" + std::to_string(i);
		shmring::Reservation res;
		if (int err = r.reserve(msg.size(), res, 10s)) {
			std::fprintf(stderr, "cpp_peer: reserve: %s\n", shmring_strerror(err));
			return 1;
		}
		std::memcpy(res.buf().data(), msg.data(), msg.size());
		if (int err = r.commit(res, msg.size())) {
			std::fprintf(stderr, "cpp_peer: commit: %s\n", shmring_strerror(err));
			return 1;
		}
	}
	if (int err = r.close_write()) {
		std::fprintf(stderr, "cpp_peer: close_write: %s\n", shmring_strerror(err));
		return 1;
	}
	std::printf("count=%lu\n", n);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 4) {
		std::fprintf(stderr, "usage: cpp_peer consume|produce ARENA RING [N]\n");
		return 2;
	}
	try {
		shmring::Arena a(argv[2]);
		if (!std::strcmp(argv[1], "consume"))
			return consume(a, argv[3]);
		if (!std::strcmp(argv[1], "produce") && argc > 4)
			return produce(a, argv[3], std::strtoul(argv[4], nullptr, 10));
	} catch (const shmring::Error &e) {
		std::fprintf(stderr, "cpp_peer: %s (%d)\n", e.what(), e.code());
		return 1;
	}
	return 2;
}
