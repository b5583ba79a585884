package cpu

import (
	"bufio"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/cpuid/v2"
)

// Info is what the running machine offers to a shared-memory ring. Fields are
// as reported by cpuid; zero or empty means cpuid could not tell.
type Info struct {
	// Arch is runtime.GOARCH of this build.
	Arch string
	// Vendor is the CPU vendor as cpuid names it ("AMD", "Intel", "ARM",
	// "Apple", ...), falling back to the raw vendor string, or "unknown".
	Vendor string
	// Brand is the brand name the CPU reports, e.g. "AMD EPYC 7B13".
	Brand string
	// Family and Model are the CPU family and model numbers (x86; 0 elsewhere
	// unless cpuid can read them).
	Family, Model int
	// LogicalCPUs is the number of hardware threads cpuid counted (0 if
	// unknown). It is the machine's, not the process's: compare
	// runtime.NumCPU, which honours the affinity mask.
	LogicalCPUs int
	// CacheLine is the L1D line size in bytes reported by cpuid (0 if
	// unknown). cpuid assumes 64 on arm64 and reports 0 on architectures it
	// cannot probe.
	CacheLine int
	// Hypervisor is true if the CPU says it runs under a hypervisor (the x86
	// CPUID hypervisor bit; always false where cpuid cannot tell).
	Hypervisor bool

	// PAUSE is the x86 spin-loop hint; true on every amd64 and 386 CPU.
	PAUSE bool
	// WAITPKG reports UMONITOR, UMWAIT and TPAUSE (Intel; CPUID.7.0:ECX[5]).
	WAITPKG bool
	// MONITORX reports AMD's user-space MONITORX and MWAITX
	// (CPUID.80000001h:ECX[29]). cpuid v2.4.2 has no feature bit for it, so
	// it is read from the "mwaitx" flag in /proc/cpuinfo on Linux and is
	// false elsewhere.
	MONITORX bool
	// YIELD is the arm64 spin-loop hint; architectural, so true on arm64.
	YIELD bool
	// WFE is the arm64 wait-for-event instruction; architectural, so true on
	// arm64 (Linux lets user space execute it).
	WFE bool
	// EventStream reports that the arm64 generic timer's event stream is on
	// (Linux HWCAP_EVTSTRM, 10 kHz by default): it wakes every WFE at least
	// every 100 µs, so a WFE wait is bounded even if nothing is stored to
	// the watched line. Only read on Linux (cpuid's darwin bit of the same
	// name means something else); false elsewhere.
	EventStream bool

	// AdjacentLinePrefetch is true on x86, where the L2 spatial prefetcher
	// fetches 64-byte lines in aligned 128-byte pairs, so two hot fields
	// must be 128 bytes apart to avoid false sharing (Intel 64 and IA-32
	// Architectures Optimization Reference Manual; Agrona and the JDK's
	// @Contended pad by 128 for the same reason).
	AdjacentLinePrefetch bool
}

var (
	detectOnce sync.Once
	detected   Info // written once inside detectOnce, read-only afterwards
)

// Detect returns the running machine's Info. The first call does the work:
// it copies what cpuid probed at package initialisation and, on Linux x86,
// reads /proc/cpuinfo up to the first "flags" line for MONITORX. Later calls
// return the cached value without I/O. Detect is safe for concurrent use.
func Detect() Info {
	detectOnce.Do(func() {
		arch := runtime.GOARCH
		monitorx := false
		if runtime.GOOS == "linux" && isX86(arch) {
			monitorx = procCPUInfoFlag("/proc/cpuinfo", "mwaitx")
		}
		// cpuid.CPU is written only by cpuid's init and by cpuid.Detect,
		// which nothing in shmring calls, so reading it here is race-free.
		detected = fromCPUID(arch, runtime.GOOS, &cpuid.CPU, monitorx)
	})
	return detected
}

// fromCPUID builds an Info for arch and goos from cpuid's view of the CPU
// and the MONITORX bit found elsewhere. It is pure so tests can feed it any
// CPU.
func fromCPUID(arch, goos string, c *cpuid.CPUInfo, monitorx bool) Info {
	x86 := isX86(arch)
	arm64 := arch == "arm64"
	return Info{
		Arch:                 arch,
		Vendor:               vendorName(c),
		Brand:                strings.TrimSpace(c.BrandName),
		Family:               c.Family,
		Model:                c.Model,
		LogicalCPUs:          c.LogicalCores,
		CacheLine:            c.CacheLine,
		Hypervisor:           c.Has(cpuid.HYPERVISOR),
		PAUSE:                x86,
		WAITPKG:              x86 && c.Has(cpuid.WAITPKG),
		MONITORX:             x86 && monitorx,
		YIELD:                arm64,
		WFE:                  arm64,
		EventStream:          arm64 && goos == "linux" && c.Has(cpuid.EVTSTRM),
		AdjacentLinePrefetch: x86,
	}
}

func isX86(arch string) bool { return arch == "amd64" || arch == "386" }

// vendorName prefers cpuid's normalised vendor ("AMD") to the raw string
// ("AuthenticAMD"), which is all there is for vendors cpuid does not know.
func vendorName(c *cpuid.CPUInfo) string {
	if c.VendorID != cpuid.VendorUnknown {
		return c.VendorID.String()
	}
	if s := strings.TrimSpace(c.VendorString); s != "" {
		return s
	}
	return "unknown"
}

// procCPUInfoFlag reports whether the first "flags" line of the cpuinfo file
// at path lists flag. A missing or unreadable file means false.
func procCPUInfoFlag(path, flag string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return cpuinfoHasFlag(f, flag)
}

// cpuinfoHasFlag reports whether the first "flags : ..." line read from r
// lists flag as a whole word. Every processor stanza of a Linux x86
// /proc/cpuinfo repeats the same flags, so the first one is enough.
func cpuinfoHasFlag(r io.Reader, flag string) bool {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20) // a flags line is a few KiB; allow for growth
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		for f := range strings.FieldsSeq(value) {
			if f == flag {
				return true
			}
		}
		return false
	}
	return false
}

// Padding bounds. The unit is recorded in the arena header, which stores it
// as a power of two in this range.
const (
	minPadUnit = 64  // the common line size; also covers 32-byte lines (MIPS, ARMv7)
	maxPadUnit = 256 // s390x's line; anything larger wastes more than it saves

	// x86PadUnit covers a pair of 64-byte lines fetched together by the L2
	// spatial (adjacent-line) prefetcher.
	x86PadUnit = 128
	// arm64PadUnit covers both the 64-byte lines of Cortex/Neoverse cores
	// and the 128-byte lines of Apple M-series cores.
	arm64PadUnit = 128
)

// archPadUnit is the padding an architecture needs whatever cpuid reports,
// and why; 0 and "" if nothing is known beyond the reported line size. For
// ppc64 and s390x, which cpuid cannot probe (it reports 0), the values are the
// line sizes the Go runtime itself pads to (internal/cpu.CacheLinePadSize).
func archPadUnit(arch string) (unit int, reason string) {
	switch arch {
	case "amd64", "386":
		return x86PadUnit, "x86 L2 adjacent-line prefetcher fetches 64-byte lines in 128-byte pairs"
	case "arm64":
		return arm64PadUnit, "arm64 lines are 64 bytes (Neoverse, Cortex) or 128 (Apple M-series); 128 covers both"
	case "ppc64", "ppc64le":
		return 128, "POWER cache lines are 128 bytes"
	case "s390x":
		return 256, "z/Architecture cache lines are 256 bytes"
	}
	return 0, ""
}

// PadUnit is the padding unit a newly created arena records for hot fields:
// 128 on amd64 and 386 (adjacent-line prefetch) and on arm64 (Apple M-series
// and Neoverse cores have 64- or 128-byte lines; 128 is safe on both), 128 on
// ppc64 and 256 on s390x (their line sizes, which cpuid cannot probe);
// otherwise the larger of 64 and CacheLine rounded up to a power of two,
// never above 256. A reported CacheLine larger than the architecture's unit
// wins, so the unit is never smaller than a line of up to 256 bytes. The
// result is always a power of two in [64, 256].
//
// It is only the choice for a new arena; an opened arena's unit is the one
// recorded in its header.
func (i Info) PadUnit() int {
	u, _ := padChoice(i.Arch, i.CacheLine)
	return u
}

// PadReason says in one phrase why [Info.PadUnit] chose its value.
func (i Info) PadReason() string {
	_, why := padChoice(i.Arch, i.CacheLine)
	return why
}

// padUnitFor is the padding unit for an architecture and a reported L1D line
// size (0 or negative if unknown). See [Info.PadUnit].
func padUnitFor(arch string, cacheLine int) int {
	u, _ := padChoice(arch, cacheLine)
	return u
}

// padChoice returns the padding unit for arch and cacheLine and the reason
// for it.
func padChoice(arch string, cacheLine int) (unit int, reason string) {
	archUnit, archReason := archPadUnit(arch)
	if cacheLine <= 0 {
		if archUnit > 0 {
			return archUnit, archReason
		}
		return minPadUnit, "cache line size unknown; using the " + strconv.Itoa(minPadUnit) + "-byte minimum"
	}
	unit = min(max(cacheLine, minPadUnit), maxPadUnit)
	unit = 1 << bits.Len(uint(unit-1)) // round up to a power of two; stays <= maxPadUnit
	if archUnit >= unit {
		return archUnit, archReason
	}
	reason = "reported cache line is " + strconv.Itoa(cacheLine) + " bytes"
	switch {
	case cacheLine > maxPadUnit:
		reason += "; capped at " + strconv.Itoa(maxPadUnit)
	case cacheLine < minPadUnit:
		reason += "; raised to the " + strconv.Itoa(minPadUnit) + "-byte minimum"
	case unit != cacheLine:
		reason += "; rounded up to a power of two"
	}
	return unit, reason
}

// Spin hints, as returned by [Info.SpinHint].
const (
	spinPAUSE = "PAUSE"
	spinYIELD = "YIELD"
	spinNone  = "none (runtime.Gosched)"
)

// SpinHint names the instruction the portable spin loop issues between polls:
// "PAUSE" on amd64 and 386, "YIELD" on arm64, and "none (runtime.Gosched)"
// elsewhere, where the loop yields the processor to the Go scheduler instead.
func (i Info) SpinHint() string {
	switch i.Arch {
	case "amd64", "386":
		return spinPAUSE
	case "arm64":
		return spinYIELD
	}
	return spinNone
}

// WaitInstructions lists by name the spin and wait instructions available to
// user space, for example ["PAUSE" "UMONITOR" "UMWAIT" "TPAUSE"]. The slice is
// never nil and is newly allocated on each call.
func (i Info) WaitInstructions() []string {
	out := make([]string, 0, 7)
	if i.PAUSE {
		out = append(out, "PAUSE")
	}
	if i.WAITPKG {
		out = append(out, "UMONITOR", "UMWAIT", "TPAUSE")
	}
	if i.MONITORX {
		out = append(out, "MONITORX", "MWAITX")
	}
	if i.YIELD {
		out = append(out, "YIELD")
	}
	if i.WFE {
		out = append(out, "WFE")
	}
	return out
}

// String summarises i on one line, for logs and test output.
func (i Info) String() string {
	brand := i.Brand
	if brand == "" {
		brand = "unknown brand"
	}
	line := "unknown cache line"
	if i.CacheLine > 0 {
		line = strconv.Itoa(i.CacheLine) + "-byte cache line"
	}
	virt := "bare metal or undetected hypervisor"
	if i.Hypervisor {
		virt = "hypervisor"
	}
	wait := strings.Join(i.WaitInstructions(), ",")
	if wait == "" {
		wait = "none"
	}
	if i.EventStream {
		wait += " evtstrm"
	}
	return fmt.Sprintf("%s %s %q family %d model %d, %d logical CPUs, %s, %s, wait [%s], pad %d, spin %s",
		i.Arch, i.Vendor, brand, i.Family, i.Model, i.LogicalCPUs, line, virt, wait, i.PadUnit(), i.SpinHint())
}
