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
// and only then stores State = ready with a release store. Open polls the
// header with pread until State is ready, then maps the file and confirms
// with an acquire load of State that the mapped header is the one it
// validated (pread alone orders nothing on weakly ordered CPUs; a copy that
// does not match is read again until the ready timeout). A creator that
// died mid-initialisation yields ErrNotReady, never a half-built header;
// docs/layout.md says when such a file may be removed.
//
// # Concurrency
//
// An *Arena is safe for concurrent use by goroutines. Regions are allocated
// under a cross-process lock (flock on the arena file, released by the
// kernel if its holder dies) and, within one handle, a mutex; an Alloc
// waiting for the lock does not hold up Lookup or Regions, and Close waits
// for it. Lookup and Regions take no directory lock: they acquire-load the
// directory count, which Alloc release-stores after the entry is complete,
// and read only immutable entry bytes below it.
//
// Every process that maps an arena needs lock-free, address-free 64-bit
// atomics on shared memory. Go provides them on every 64-bit port, on 386,
// and on 32-bit ARM from ARMv7 (LDREXD/STREXD). On older ARM and on 32-bit
// MIPS, Go emulates 64-bit atomics with a lock private to the process,
// which another process does not take, so such hosts must not share an
// arena.
//
// # Trust
//
// Shared memory is hostile input. Open validates every header field and
// every directory entry (bounds, alignment, overlap, duplicates, checksums)
// on a private copy and keeps its own copy of the geometry; nothing that
// bounds a memory access is ever re-read from the mapping. Whatever bytes
// the file holds, a malformed arena makes Open, Alloc, Lookup and Regions
// return a sentinel error (see errors.go); they do not panic or touch
// memory outside the mapping.
//
// # Inspecting and checking
//
// Header and Directory (fields.go) list the header and the directory
// entries field by field as they lie in the mapping, with their file
// offsets and docs/layout.md names, for tools. Check (check.go) is the
// consistency checker: it reads a file with pread, maps nothing, and
// applies the rules Open applies (the same list: headerRules,
// entryRules, walkDir), but reports every failure with its offset instead
// of stopping at the first, and checks the reserved bytes too.
//
// # Liveness
//
// LockLive and LiveLocked (liveness.go) give the handles of the things in
// an arena a kernel-kept proof of life: an open-file-description lock on
// one byte of the file, released by the kernel when its holder dies.
// Rings use one per attached handle. Remove refuses (ErrInUse) while
// another process holds one, unless WithForce.
//
// # Closing and pins
//
// Close ends the handle's mapping. Code that works on a Region's bytes
// outside the arena's methods (a ring handle) pins the mapping first
// (Pin): Close calls each pin's callback while the memory is still the
// file's, then, while pins remain, replaces the mapping in place (mmap
// MAP_FIXED) with private anonymous memory instead of unmapping it, so
// that a user's operation already under way touches harmless memory
// rather than faulting; the last Unpin unmaps it (pin.go).
//
// # Mirrors
//
// Mirror (mirror.go) maps a page-aligned range of a region a second time,
// twice back to back, so that a variable-length record crossing the end of
// a ring's data area is contiguous in memory: Bytes()[i] and Bytes()[i+n]
// are one byte of the file. The range's offset in the file and its length
// are multiples of PageSize (the huge page size on hugetlbfs). The handle
// tracks its mirrors: its Close (and a truncation CheckSize finds)
// replaces each one in place by anonymous memory, as it does the main
// mapping, and only Mirror.Close unmaps it. Linux only; elsewhere Mirror
// returns ErrUnsupported.
//
// # Truncation
//
// Validation cannot cover the file's length, which is not in shared
// memory: a process with write access that truncates the file under a
// live mapping makes accesses to the lost pages fault (SIGBUS: the Go
// runtime dies with "fatal error: fault", which no recover catches). Open
// refuses a file shorter than its header says (ErrTruncated), also when
// it shrinks between validation and mapping. On a live handle, CheckSize
// (one fstat; Alloc, Lookup and Regions run it, and ring handles from
// Recover) finds it, and then breaks the handle: the mapping is replaced
// by anonymous memory as Close does, the liveness locks are released, the
// pins are told, and its methods return ErrTruncated. An access to a lost
// page before the first check still kills the process: keep arena files
// private to the processes that share them (the default mode 0600 and
// Open's ownership checks do). truncate.go and docs/layout.md give the
// details.
package arena
