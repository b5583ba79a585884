package cpu

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

func isPow2(n int) bool { return n > 0 && n&(n-1) == 0 }

func TestDetectStable(t *testing.T) {
	first := Detect()
	t.Logf("detected: %v", first)
	if first.Arch != runtime.GOARCH {
		t.Errorf("Arch = %q, want runtime.GOARCH %q", first.Arch, runtime.GOARCH)
	}

	// Concurrent first-and-later calls must all see the same value; run with
	// -race to check the sync.Once publication.
	const goroutines = 8
	got := make([]Info, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() { got[g] = Detect() })
	}
	wg.Wait()
	for g, info := range got {
		if !reflect.DeepEqual(info, first) {
			t.Errorf("goroutine %d: Detect() = %+v, want %+v", g, info, first)
		}
	}
}

func TestDetectedPadUnit(t *testing.T) {
	info := Detect()
	u := info.PadUnit()
	if !isPow2(u) || u < 64 || u > 256 {
		t.Errorf("PadUnit() = %d, want a power of two in [64, 256]", u)
	}
	if info.PadReason() == "" {
		t.Error("PadReason() is empty")
	}
}

func TestDetectAMD64(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("GOARCH is %s", runtime.GOARCH)
	}
	info := Detect()
	if !info.PAUSE {
		t.Error("PAUSE = false on amd64")
	}
	if !info.AdjacentLinePrefetch {
		t.Error("AdjacentLinePrefetch = false on amd64")
	}
	if got := info.PadUnit(); got != 128 {
		t.Errorf("PadUnit() = %d on amd64, want 128", got)
	}
	if got := info.SpinHint(); got != "PAUSE" {
		t.Errorf("SpinHint() = %q on amd64, want PAUSE", got)
	}
	if info.YIELD || info.WFE {
		t.Errorf("arm64 instructions reported on amd64: YIELD=%v WFE=%v", info.YIELD, info.WFE)
	}
}

func TestPadUnitFor(t *testing.T) {
	tests := []struct {
		arch      string
		cacheLine int
		want      int
	}{
		{"amd64", 64, 128},
		{"amd64", 0, 128},
		{"386", 64, 128},
		{"arm64", 64, 128},
		{"arm64", 128, 128},
		{"arm64", 0, 128},
		{"arm64", 256, 256}, // A64FX; a larger reported line wins
		{"riscv64", 64, 64},
		{"riscv64", 0, 64},
		{"riscv64", -1, 64},
		{"riscv64", 32, 64},
		{"riscv64", 96, 128},
		{"ppc64le", 128, 128},
		{"ppc64le", 0, 128}, // cpuid cannot probe POWER; its lines are 128
		{"ppc64", 64, 128},
		{"s390x", 0, 256},
		{"mips", 512, 256},
		{"mips", 1 << 30, 256},
		{"loong64", 256, 256},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.arch, tt.cacheLine), func(t *testing.T) {
			if got := padUnitFor(tt.arch, tt.cacheLine); got != tt.want {
				t.Errorf("padUnitFor(%q, %d) = %d, want %d", tt.arch, tt.cacheLine, got, tt.want)
			}
			info := Info{Arch: tt.arch, CacheLine: tt.cacheLine}
			if got := info.PadUnit(); got != tt.want {
				t.Errorf("Info.PadUnit() = %d, want %d", got, tt.want)
			}
			if info.PadReason() == "" {
				t.Error("PadReason() is empty")
			}
		})
	}
}

// TestPadUnitForRange checks the documented bounds for every line size an
// architecture could plausibly report, not just the table's.
func TestPadUnitForRange(t *testing.T) {
	for _, arch := range []string{"amd64", "386", "arm64", "riscv64", "ppc64le", "s390x", "mips", "wasm"} {
		for line := -1; line <= 1024; line++ {
			u := padUnitFor(arch, line)
			if !isPow2(u) || u < 64 || u > 256 {
				t.Fatalf("padUnitFor(%q, %d) = %d, want a power of two in [64, 256]", arch, line, u)
			}
			if line >= 64 && line <= 256 && u < line {
				t.Fatalf("padUnitFor(%q, %d) = %d, smaller than the line", arch, line, u)
			}
		}
	}
}

func TestSpinHint(t *testing.T) {
	tests := []struct {
		arch string
		want string
	}{
		{"amd64", "PAUSE"},
		{"386", "PAUSE"},
		{"arm64", "YIELD"},
		{"arm", "none (runtime.Gosched)"},
		{"riscv64", "none (runtime.Gosched)"},
		{"ppc64le", "none (runtime.Gosched)"},
	}
	for _, tt := range tests {
		if got := (Info{Arch: tt.arch}).SpinHint(); got != tt.want {
			t.Errorf("SpinHint() for %s = %q, want %q", tt.arch, got, tt.want)
		}
	}
}

func TestFromCPUID(t *testing.T) {
	tests := []struct {
		name     string
		arch     string
		features []cpuid.FeatureID
		goos     string // "" means linux
		monitorx bool
		want     []string // WaitInstructions
		hyper    bool
		evtstrm  bool // want EventStream
	}{
		{name: "plain x86", arch: "amd64", want: []string{"PAUSE"}},
		{name: "intel waitpkg", arch: "amd64", features: []cpuid.FeatureID{cpuid.WAITPKG},
			want: []string{"PAUSE", "UMONITOR", "UMWAIT", "TPAUSE"}},
		{name: "amd monitorx in a VM", arch: "amd64", features: []cpuid.FeatureID{cpuid.HYPERVISOR}, monitorx: true,
			want: []string{"PAUSE", "MONITORX", "MWAITX"}, hyper: true},
		{name: "386 with both", arch: "386", features: []cpuid.FeatureID{cpuid.WAITPKG}, monitorx: true,
			want: []string{"PAUSE", "UMONITOR", "UMWAIT", "TPAUSE", "MONITORX", "MWAITX"}},
		{name: "arm64", arch: "arm64", want: []string{"YIELD", "WFE"}},
		{name: "arm64 linux event stream", arch: "arm64", features: []cpuid.FeatureID{cpuid.EVTSTRM},
			want: []string{"YIELD", "WFE"}, evtstrm: true},
		{name: "arm64 darwin EVTSTRM bit is not the event stream", arch: "arm64", goos: "darwin",
			features: []cpuid.FeatureID{cpuid.EVTSTRM}, want: []string{"YIELD", "WFE"}},
		{name: "EVTSTRM ignored off arm64", arch: "amd64", features: []cpuid.FeatureID{cpuid.EVTSTRM},
			want: []string{"PAUSE"}},
		{name: "x86 bits ignored off x86", arch: "arm64", features: []cpuid.FeatureID{cpuid.WAITPKG}, monitorx: true,
			want: []string{"YIELD", "WFE"}},
		{name: "riscv64", arch: "riscv64", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cpuid.CPUInfo{
				BrandName:    "  Test CPU  ",
				VendorString: "GenuineTest",
				LogicalCores: 4,
				Family:       6,
				Model:        85,
				CacheLine:    64,
			}
			c.Enable(tt.features...)
			goos := tt.goos
			if goos == "" {
				goos = "linux"
			}
			info := fromCPUID(tt.arch, goos, &c, tt.monitorx)
			if info.EventStream != tt.evtstrm {
				t.Errorf("EventStream = %v, want %v", info.EventStream, tt.evtstrm)
			}
			if got := info.WaitInstructions(); !slices.Equal(got, tt.want) || got == nil {
				t.Errorf("WaitInstructions() = %#v, want %#v", got, tt.want)
			}
			if info.Hypervisor != tt.hyper {
				t.Errorf("Hypervisor = %v, want %v", info.Hypervisor, tt.hyper)
			}
			if info.Arch != tt.arch || info.Brand != "Test CPU" || info.Vendor != "GenuineTest" ||
				info.Family != 6 || info.Model != 85 || info.LogicalCPUs != 4 || info.CacheLine != 64 {
				t.Errorf("identity fields not copied: %+v", info)
			}
			x86 := tt.arch == "amd64" || tt.arch == "386"
			if info.PAUSE != x86 || info.AdjacentLinePrefetch != x86 {
				t.Errorf("PAUSE = %v, AdjacentLinePrefetch = %v, want %v", info.PAUSE, info.AdjacentLinePrefetch, x86)
			}
		})
	}
}

func TestVendorName(t *testing.T) {
	tests := []struct {
		id   cpuid.Vendor
		raw  string
		want string
	}{
		{cpuid.AMD, "AuthenticAMD", "AMD"},
		{cpuid.Intel, "GenuineIntel", "Intel"},
		{cpuid.ARM, "", "ARM"},
		{cpuid.VendorUnknown, " SomeNewVendor ", "SomeNewVendor"},
		{cpuid.VendorUnknown, "", "unknown"},
	}
	for _, tt := range tests {
		c := cpuid.CPUInfo{VendorID: tt.id, VendorString: tt.raw}
		if got := vendorName(&c); got != tt.want {
			t.Errorf("vendorName(%v, %q) = %q, want %q", tt.id, tt.raw, got, tt.want)
		}
	}
}

func TestCPUInfoHasFlag(t *testing.T) {
	const amd = "processor\t: 0\nvendor_id\t: AuthenticAMD\n" +
		"flags\t\t: fpu vme sse2 monitor mwaitx cpb\n" +
		"bugs\t\t: sysret_ss_attrs\n\nprocessor\t: 1\nflags\t\t: fpu\n"
	tests := []struct {
		name  string
		input string
		flag  string
		want  bool
	}{
		{"present", amd, "mwaitx", true},
		{"prefix only", amd, "mwait", false},
		{"other key ignored", amd, "sysret_ss_attrs", false},
		{"first stanza only", "flags : fpu\nflags : fpu mwaitx\n", "mwaitx", false},
		{"last word", "flags\t: fpu mwaitx", "mwaitx", true},
		{"arm64 features key", "Features\t: fp asimd mwaitx\n", "mwaitx", false},
		{"empty", "", "mwaitx", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cpuinfoHasFlag(strings.NewReader(tt.input), tt.flag); got != tt.want {
				t.Errorf("cpuinfoHasFlag(%q) = %v, want %v", tt.flag, got, tt.want)
			}
		})
	}
	if procCPUInfoFlag("/nonexistent/cpuinfo", "mwaitx") {
		t.Error("procCPUInfoFlag on a missing file = true")
	}
}

func TestString(t *testing.T) {
	s := Detect().String()
	if strings.Contains(s, "\n") {
		t.Errorf("String() spans lines: %q", s)
	}
	for _, want := range []string{runtime.GOARCH, "pad ", "spin "} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, missing %q", s, want)
		}
	}
}

func ExampleDetect() {
	info := Detect()
	u := info.PadUnit()
	fmt.Println("pad unit is a power of two in [64, 256]:", u >= 64 && u <= 256 && u&(u-1) == 0)
	fmt.Println("spin hint chosen:", info.SpinHint() != "")
	// Output:
	// pad unit is a power of two in [64, 256]: true
	// spin hint chosen: true
}
