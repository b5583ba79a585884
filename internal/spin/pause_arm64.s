//go:build gc && !purego

#include "textflag.h"

// func Pause()
// Same semantics as the generic Pause in pause_generic.go.
TEXT ·Pause(SB), NOSPLIT|NOFRAME, $0-0
	YIELD
	RET

// func PauseN(n int)
// Same semantics as the generic PauseN in pause_generic.go: n YIELDs, none
// when n <= 0.
TEXT ·PauseN(SB), NOSPLIT|NOFRAME, $0-8
	MOVD n+0(FP), R0
	CMP  $0, R0
	BLE  done

loop:
	YIELD
	SUBS $1, R0, R0
	BNE  loop

done:
	RET
