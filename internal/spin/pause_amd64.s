//go:build gc && !purego

#include "textflag.h"

// func Pause()
// Same semantics as the generic Pause in pause_generic.go.
TEXT ·Pause(SB), NOSPLIT|NOFRAME, $0-0
	PAUSE
	RET

// func PauseN(n int)
// Same semantics as the generic PauseN in pause_generic.go: n PAUSEs, none
// when n <= 0.
TEXT ·PauseN(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ  n+0(FP), CX
	TESTQ CX, CX
	JLE   done

loop:
	PAUSE
	DECQ CX
	JNZ  loop

done:
	RET
