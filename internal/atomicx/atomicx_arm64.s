//go:build gc && !purego

#include "textflag.h"

// STLR/LDAR are the release store and acquire load of ARMv8 (the same
// instructions sync/atomic uses for Store and Load). DMB ISH is a full
// barrier for the inner-shareable domain, which holds every core a user
// process runs on. Same semantics as atomicx_generic.go under the package's
// ordering contract.

// func StoreRelease64(addr *uint64, v uint64)
TEXT ·StoreRelease64(SB), NOSPLIT|NOFRAME, $0-16
	MOVD addr+0(FP), R0
	MOVD v+8(FP), R1
	STLR R1, (R0)
	RET

// func StoreRelease32(addr *uint32, v uint32)
TEXT ·StoreRelease32(SB), NOSPLIT|NOFRAME, $0-12
	MOVD  addr+0(FP), R0
	MOVWU v+8(FP), R1
	STLRW R1, (R0)
	RET

// func LoadAcquire64(addr *uint64) uint64
TEXT ·LoadAcquire64(SB), NOSPLIT|NOFRAME, $0-16
	MOVD addr+0(FP), R0
	LDAR (R0), R0
	MOVD R0, ret+8(FP)
	RET

// func LoadAcquire32(addr *uint32) uint32
TEXT ·LoadAcquire32(SB), NOSPLIT|NOFRAME, $0-12
	MOVD  addr+0(FP), R0
	LDARW (R0), R0
	MOVW  R0, ret+8(FP)
	RET

// func Fence()
TEXT ·Fence(SB), NOSPLIT|NOFRAME, $0-0
	DMB $0xb // ISH
	RET
