//go:build gc && !purego

package spin

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestCalibrateTSC(t *testing.T) {
	hz := calibrateTSC(200 * time.Microsecond)
	t.Logf("TSC %.3f GHz", float64(hz)/1e9)
	if hz < minTSCHz || hz > maxTSCHz {
		t.Fatalf("calibrateTSC = %d Hz, outside [%g, %g]", hz, float64(minTSCHz), float64(maxTSCHz))
	}
	// The rate must agree with the clock over a longer interval.
	c0, t0 := rdtsc(), time.Now()
	time.Sleep(5 * time.Millisecond)
	c1, el := rdtsc(), time.Since(t0)
	if got := float64(c1-c0) / el.Seconds(); got < float64(hz)*0.8 || got > float64(hz)*1.25 {
		t.Errorf("TSC ran at %.3f GHz over %v, calibrated %.3f GHz", got/1e9, el, float64(hz)/1e9)
	}
}

// TestWaitEncodings reads the machine code of the hand-encoded functions
// back from memory and checks each instruction's bytes and their order:
// the monitor is armed before the re-checking load, which comes before the
// wait. It never executes them. (Disassembled with binutils objdump when
// written: monitorx %rax,%ecx,%edx / mwaitx %eax,%ecx / umonitor %rcx /
// umwait %ecx / tpause %ecx.)
func TestWaitEncodings(t *testing.T) {
	monitorx, umonitor, tpause := waitCode()
	tests := []struct {
		fn   string
		pc   uintptr
		want [][]byte // in this order
	}{
		{"monitorxWait", monitorx, [][]byte{
			{0x0F, 0x01, 0xFA}, // MONITORX
			{0x44, 0x8B, 0x08}, // MOVL (AX), R9: the 32-bit re-check
			{0x4C, 0x8B, 0x08}, // MOVQ (AX), R9: the 64-bit re-check
			{0x0F, 0x01, 0xFB}, // MWAITX
		}},
		{"umonitorWait", umonitor, [][]byte{
			{0xF3, 0x0F, 0xAE, 0xF1}, // UMONITOR RCX
			{0x44, 0x8B, 0x09},       // MOVL (CX), R9: the 32-bit re-check
			{0x4C, 0x8B, 0x09},       // MOVQ (CX), R9: the 64-bit re-check
			{0xF2, 0x0F, 0xAE, 0xF1}, // UMWAIT ECX
		}},
		{"tpauseUntil", tpause, [][]byte{
			{0x66, 0x0F, 0xAE, 0xF1}, // TPAUSE ECX
		}},
	}
	for _, tt := range tests {
		f := runtime.FuncForPC(tt.pc)
		if f == nil || !strings.HasSuffix(f.Name(), "spin."+tt.fn) || f.Entry() != tt.pc {
			t.Fatalf("waitCode() address %#x is not the entry of spin.%s (%v)", tt.pc, tt.fn, f)
		}
		// The function's code, read (never run) from the text segment;
		// 96 bytes covers each function, and the text beyond a short one
		// is the next function's, still mapped. The double conversion
		// turns the code address into a pointer without an arithmetic
		// uintptr conversion.
		b := (*(*[96]byte)(*(*unsafe.Pointer)(unsafe.Pointer(&tt.pc))))[:]
		at := 0
		for _, w := range tt.want {
			i := bytes.Index(b[at:], w)
			if i < 0 {
				t.Errorf("%s: % X not found after offset %d in % X", tt.fn, w, at, b)
				break
			}
			at += i + len(w)
		}
	}
}
