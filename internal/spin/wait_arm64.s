//go:build gc && !purego

#include "textflag.h"

// func wfeWait(addr unsafe.Pointer, old uint64, wide bool)
// The wait of Linux's __cmpwait (arch/arm64/include/asm/cmpxchg.h).
TEXT ·wfeWait(SB), NOSPLIT|NOFRAME, $0-17
	MOVD  addr+0(FP), R0
	MOVD  old+8(FP), R1
	MOVBU wide+16(FP), R3

	// Clear a stale event: SEVL sets this core's event register and WFE
	// consumes it at once, so the WFE below sleeps until a new event.
	SEVL
	WFE

	// The load-exclusive arms the exclusive monitor on the word's line; a
	// store to that line by another core clears the monitor, which
	// generates an event. A store before the load is seen in its value.
	CBNZ   R3, wide
	LDAXRW (R0), R2
	CMPW   R1, R2
	BNE    done
	WFE
	RET

wide:
	LDAXR (R0), R2
	CMP   R1, R2
	BNE   done
	WFE

done:
	RET

// func cntvct() uint64
TEXT ·cntvct(SB), NOSPLIT|NOFRAME, $0-8
	MRS  CNTVCT_EL0, R0
	MOVD R0, ret+0(FP)
	RET

// func cntfrq() uint64
TEXT ·cntfrq(SB), NOSPLIT|NOFRAME, $0-8
	MRS  CNTFRQ_EL0, R0
	MOVD R0, ret+0(FP)
	RET
