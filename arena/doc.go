// Package arena maps a shared-memory arena: one file (under /dev/shm by
// default, or any path, such as a hugetlbfs mount) that several processes
// map at once, with a versioned, validated header and a directory of named
// regions in which rings and other shared structures live.
//
// # Layout
//
// The byte-exact layout is in docs/layout.md; in short:
//
//	0                256                      DataOffset (page-aligned)      TotalSize
//	+----------------+------------------------+-------------------------------+
//	| header         | directory: DirCapacity | regions, allocated upwards,   |
//	| (256 bytes)    | entries of 128 bytes   | each aligned as asked         |
//	+----------------+------------------------+-------------------------------+
//
// All integers are little-endian, every 8-byte field is 8-byte aligned, and
// the layout is the same on every architecture. The padding unit for hot
// fields is chosen once, at Create (from internal/cpu unless WithPadUnit
// says otherwise), and recorded in the header; every process uses the
// recorded value.
//
// # Creation and readiness
//
// Create makes the file with O_CREAT|O_EXCL, sizes it, writes the header
// and only then stores State = ready with a release store. Open reads State
// first (acquire) and waits a bounded time for it; a creator that died
// mid-initialisation yields ErrNotReady, never a half-built header.
//
// # Concurrency
//
// An *Arena is safe for concurrent use by goroutines. Regions are allocated
// under a cross-process lock (flock on the arena file, released by the
// kernel if its holder dies); Lookup and Regions take no lock: they
// acquire-load the directory count, which Alloc release-stores after the
// entry is complete, and read only immutable entry bytes below it.
//
// # Trust
//
// Shared memory is hostile input. Open validates every header field and
// every directory entry (bounds, alignment, overlap, duplicates, checksums)
// on a private copy and keeps its own copy of the geometry; nothing that
// bounds a memory access is ever re-read from the mapping. Any content
// yields a sentinel error (see errors.go), never a panic or a fault.
//
// One hazard remains outside any reader's control: a process with write
// access that truncates the file makes later accesses to the lost pages
// fault (SIGBUS). Keep arena files private to the processes that share them
// (the default mode 0600 and Open's ownership checks do).
package arena
