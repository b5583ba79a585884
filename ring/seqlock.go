package ring

// The seqlock primitives of the broadcast ring: the fences around a
// slot's data and the copies of it, which under the race detector are
// made of atomic word accesses (a lossy subscriber's copy races the
// producer's rewrite by design, and the seqlock check, not the detector,
// decides whether the copy is kept).

import (
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/shmring/shmring/internal/atomicx"
)

// storeStoreFence orders the stores before it before the stores after it:
// a seqlock writer's "writing" mark before the data it then changes. On
// amd64 stores are not reordered with stores (TSO) and the compiler keeps
// an assembly call's neighbours in place, so it is empty there; elsewhere
// a full fence (DMB ISH on arm64).
func storeStoreFence() {
	if runtime.GOARCH != "amd64" {
		atomicx.Fence()
	}
}

// loadLoadFence orders the loads before it before the loads after it: a
// seqlock reader's data copy before its second look at Seq. On amd64
// loads are not reordered with loads (TSO), and the copy is a call
// (memmove) that the compiler does not move below the atomic load after
// it; elsewhere a full fence.
func loadLoadFence() {
	if runtime.GOARCH != "amd64" {
		atomicx.Fence()
	}
}

// storeRelease64 is a release store of a slot word that readers
// acquire-load (the broadcast Seq): a plain MOV on amd64, STLR on arm64;
// sync/atomic under the race detector.
func storeRelease64(addr *uint64, v uint64) {
	if atomicx.Race {
		atomic.StoreUint64(addr, v)
	} else {
		atomicx.StoreRelease64(addr, v)
	}
}

// sharedCopyIn copies src into a broadcast slot's data area dst
// (len(dst) == len(src), cap(dst) rounded up to 8 and 8-aligned).
func sharedCopyIn(dst, src []byte) {
	if !atomicx.Race {
		copy(dst, src)
		return
	}
	var w [8]byte
	for i := 0; i < len(src); i += 8 {
		clear(w[:])
		copy(w[:], src[i:])
		// In bounds: i < len(dst) and cap(dst) is a multiple of 8 from an
		// 8-aligned start.
		atomic.StoreUint64((*uint64)(unsafe.Pointer(unsafe.SliceData(dst[i:i+8]))), binary.LittleEndian.Uint64(w[:]))
	}
}

// sharedCopyOut copies a broadcast slot's data area src (8-aligned, and
// inside a slot whose data area is rounded up to 8 bytes, whatever cap(src)
// says: a peeked message's Data is capped at its length) into dst
// (len(dst) == len(src)).
func sharedCopyOut(dst, src []byte) {
	if !atomicx.Race {
		copy(dst, src)
		return
	}
	// The whole words src lies in: inside the slot's data area (above).
	words := unsafe.Slice(unsafe.SliceData(src), alignUp(uint64(len(src)), 8))
	var w [8]byte
	for i := 0; i < len(src); i += 8 {
		v := atomic.LoadUint64((*uint64)(unsafe.Pointer(&words[i]))) // as in sharedCopyIn
		binary.LittleEndian.PutUint64(w[:], v)
		copy(dst[i:], w[:])
	}
}
