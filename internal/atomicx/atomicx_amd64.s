//go:build gc && !purego

#include "textflag.h"

// x86-TSO: a plain MOV store is a release store and a plain MOV load is an
// acquire load. Neither orders a store before a later load (no StoreLoad);
// only Fence does. Same semantics as atomicx_generic.go under the package's
// ordering contract. A naturally aligned MOV of 4 or 8 bytes is atomic.

// func StoreRelease64(addr *uint64, v uint64)
TEXT ·StoreRelease64(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ addr+0(FP), AX
	MOVQ v+8(FP), BX
	MOVQ BX, (AX)
	RET

// func StoreRelease32(addr *uint32, v uint32)
TEXT ·StoreRelease32(SB), NOSPLIT|NOFRAME, $0-12
	MOVQ addr+0(FP), AX
	MOVL v+8(FP), BX
	MOVL BX, (AX)
	RET

// func LoadAcquire64(addr *uint64) uint64
TEXT ·LoadAcquire64(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ addr+0(FP), AX
	MOVQ (AX), AX
	MOVQ AX, ret+8(FP)
	RET

// func LoadAcquire32(addr *uint32) uint32
TEXT ·LoadAcquire32(SB), NOSPLIT|NOFRAME, $0-12
	MOVQ addr+0(FP), AX
	MOVL (AX), AX
	MOVL AX, ret+8(FP)
	RET

// func Fence()
TEXT ·Fence(SB), NOSPLIT|NOFRAME, $0-0
	MFENCE
	RET
