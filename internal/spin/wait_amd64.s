//go:build gc && !purego

#include "textflag.h"

// The Go assembler has no mnemonics for MONITORX, MWAITX, UMONITOR, UMWAIT
// or TPAUSE, so they are spelt as bytes; each is annotated with the
// encoding from the AMD64 APM (MONITORX, MWAITX) or the Intel SDM
// (UMONITOR, UMWAIT, TPAUSE) and checked by disassembly in
// TestWaitEncodings. None of these functions may run unless the CPU
// reports the instruction (package spin's Select); on other CPUs they
// raise #UD (SIGILL).

// func rdtsc() uint64
TEXT ·rdtsc(SB), NOSPLIT|NOFRAME, $0-8
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func monitorxWait(addr unsafe.Pointer, old uint64, ticks uint32, wide bool)
TEXT ·monitorxWait(SB), NOSPLIT|NOFRAME, $0-21
	MOVQ    addr+0(FP), AX
	MOVQ    old+8(FP), R8
	MOVL    ticks+16(FP), BX
	MOVBLZX wide+20(FP), R10
	XORL    CX, CX // extensions: none
	XORL    DX, DX // hints: none

	// MONITORX rAX, ECX, EDX = 0F 01 FA: arm the monitor on [RAX]'s line.
	BYTE $0x0F; BYTE $0x01; BYTE $0xFA

	// Re-check after arming: a store that landed before the monitor was
	// armed does not trigger it, and MWAITX would sleep through it. A
	// store after arming triggers the monitor, and MWAITX then returns at
	// once even if it has not started yet. (A plain MOV is an acquire
	// load on x86.)
	TESTL R10, R10
	JNZ   wide
	MOVL  (AX), R9
	CMPL  R9, R8
	JNE   done
	JMP   wait

wide:
	MOVQ (AX), R9
	CMPQ R9, R8
	JNE  done

wait:
	MOVL $0xF0, AX // hint: EAX[7:4] = 0xF, stay in C0 (fastest exit)
	MOVL $2, CX    // ECX[1]: EBX holds a timeout in TSC (P0) ticks

	// MWAITX EAX, EBX, ECX = 0F 01 FB.
	BYTE $0x0F; BYTE $0x01; BYTE $0xFB

done:
	RET

// func umonitorWait(addr unsafe.Pointer, old uint64, deadline uint64, wide bool)
TEXT ·umonitorWait(SB), NOSPLIT|NOFRAME, $0-25
	MOVQ    addr+0(FP), CX
	MOVQ    old+8(FP), R8
	MOVBLZX wide+24(FP), R10

	// UMONITOR RCX = F3 0F AE /6 with ModRM 11 110 001 (F1): arm the
	// monitor on [RCX]'s line.
	BYTE $0xF3; BYTE $0x0F; BYTE $0xAE; BYTE $0xF1

	// Re-check after arming, as in monitorxWait.
	TESTL R10, R10
	JNZ   wide
	MOVL  (CX), R9
	CMPL  R9, R8
	JNE   done
	JMP   wait

wide:
	MOVQ (CX), R9
	CMPQ R9, R8
	JNE  done

wait:
	MOVQ deadline+16(FP), AX // EDX:EAX = the TSC deadline
	MOVQ AX, DX
	SHRQ $32, DX
	MOVL $1, CX // ECX[0] = 1: C0.1, the lighter state with the faster exit

	// UMWAIT ECX = F2 0F AE /6 with ModRM 11 110 001 (F1).
	BYTE $0xF2; BYTE $0x0F; BYTE $0xAE; BYTE $0xF1

done:
	RET

// func tpauseUntil(deadline uint64)
TEXT ·tpauseUntil(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ deadline+0(FP), AX // EDX:EAX = the TSC deadline
	MOVQ AX, DX
	SHRQ $32, DX
	MOVL $1, CX // ECX[0] = 1: C0.1

	// TPAUSE ECX = 66 0F AE /6 with ModRM 11 110 001 (F1).
	BYTE $0x66; BYTE $0x0F; BYTE $0xAE; BYTE $0xF1
	RET

// func waitCode() (monitorx, umonitor, tpause uintptr)
// The entry addresses of the three functions above, for TestWaitEncodings,
// which reads their bytes back.
TEXT ·waitCode(SB), NOSPLIT|NOFRAME, $0-24
	LEAQ ·monitorxWait(SB), AX
	MOVQ AX, monitorx+0(FP)
	LEAQ ·umonitorWait(SB), AX
	MOVQ AX, umonitor+8(FP)
	LEAQ ·tpauseUntil(SB), AX
	MOVQ AX, tpause+16(FP)
	RET
