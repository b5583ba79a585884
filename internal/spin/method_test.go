package spin

import (
	"bufio"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/shmring/shmring/internal/cpu"
)

// CPUs and builds the selection tables are run against.
var (
	x86Plain     = cpu.Info{Arch: "amd64", PAUSE: true}
	amdMWAITX    = cpu.Info{Arch: "amd64", Vendor: "AMD", PAUSE: true, MONITORX: true}
	intelWAITPKG = cpu.Info{Arch: "amd64", Vendor: "Intel", PAUSE: true, WAITPKG: true}
	x86Both      = cpu.Info{Arch: "amd64", PAUSE: true, MONITORX: true, WAITPKG: true}
	arm64Evt     = cpu.Info{Arch: "arm64", YIELD: true, WFE: true, EventStream: true}
	arm64NoEvt   = cpu.Info{Arch: "arm64", YIELD: true, WFE: true}
	riscv64      = cpu.Info{Arch: "riscv64"}

	amd64Build   = setOf(MethodNone, MethodPause, MethodTPAUSE, MethodMWAITX, MethodUMWAIT)
	arm64Build   = setOf(MethodNone, MethodYield, MethodWFE)
	genericBuild = setOf(MethodNone)
)

// envValues is every SHMRING_WAIT value the doc names, plus the unset,
// automatic and unknown cases.
var envValues = []string{"", "auto", "none", "pause", "yield", "tpause", "mwaitx", "umwait", "wfe", "bogus", " UMWAIT "}

func TestSelect(t *testing.T) {
	tests := []struct {
		name   string
		info   cpu.Info
		build  buildSet
		env    string
		want   Method
		inName string // substring of Choice.Name
		inWhy  string // substring of Choice.Reason
	}{
		{"x86 plain", x86Plain, amd64Build, "", MethodPause, "PAUSE", "neither MONITORX"},
		{"amd mwaitx", amdMWAITX, amd64Build, "", MethodMWAITX, "MONITORX/MWAITX", "mwaitx"},
		{"intel waitpkg", intelWAITPKG, amd64Build, "", MethodUMWAIT, "UMONITOR/UMWAIT", "WAITPKG"},
		{"both prefer mwaitx", x86Both, amd64Build, "", MethodMWAITX, "MONITORX/MWAITX", ""},
		{"auto is automatic", amdMWAITX, amd64Build, "auto", MethodMWAITX, "MONITORX/MWAITX", ""},
		{"force tpause", intelWAITPKG, amd64Build, "tpause", MethodTPAUSE, "TPAUSE", "forced by SHMRING_WAIT=tpause"},
		{"force is case and space blind", intelWAITPKG, amd64Build, " TPause ", MethodTPAUSE, "TPAUSE", "forced"},
		{"force pause on amd", amdMWAITX, amd64Build, "pause", MethodPause, "PAUSE", "forced"},
		{"force none", x86Plain, amd64Build, "none", MethodNone, "none", "forced"},
		{"force umwait without waitpkg", x86Plain, amd64Build, "umwait", MethodPause, "PAUSE (SHMRING_WAIT=umwait unsupported)", "WAITPKG"},
		{"force tpause without waitpkg", amdMWAITX, amd64Build, "tpause", MethodPause, "unsupported", "WAITPKG"},
		{"force mwaitx without monitorx", intelWAITPKG, amd64Build, "mwaitx", MethodPause, "PAUSE (SHMRING_WAIT=mwaitx unsupported)", "MONITORX"},
		{"force wfe on amd64", x86Both, amd64Build, "wfe", MethodPause, "unsupported", "GOARCH amd64"},
		{"force yield on amd64", x86Plain, amd64Build, "yield", MethodPause, "unsupported", "GOARCH amd64"},
		{"unknown value", amdMWAITX, amd64Build, "mwait", MethodPause, "PAUSE (SHMRING_WAIT=mwait not recognised)", "not one of"},
		{"purego on amd", amdMWAITX, genericBuild, "", MethodNone, "none", "no wait assembly"},
		{"purego forced mwaitx", amdMWAITX, genericBuild, "mwaitx", MethodNone, "none (SHMRING_WAIT=mwaitx unsupported)", "no wait assembly"},
		{"purego forced pause", x86Plain, genericBuild, "pause", MethodNone, "unsupported", "no wait assembly"},
		{"arm64 event stream", arm64Evt, arm64Build, "", MethodWFE, "WFE", "event stream"},
		{"arm64 without event stream", arm64NoEvt, arm64Build, "", MethodYield, "YIELD", "HWCAP_EVTSTRM"},
		{"arm64 forced wfe without event stream", arm64NoEvt, arm64Build, "wfe", MethodWFE, "WFE", "no timer event stream"},
		{"arm64 forced yield", arm64Evt, arm64Build, "yield", MethodYield, "YIELD", "forced"},
		{"arm64 forced pause", arm64Evt, arm64Build, "pause", MethodYield, "YIELD (SHMRING_WAIT=pause unsupported)", "GOARCH arm64"},
		{"arm64 forced umwait", arm64Evt, arm64Build, "umwait", MethodYield, "unsupported", ""},
		{"riscv64", riscv64, genericBuild, "", MethodNone, "none", "GOARCH riscv64"},
		// An Info that does not match the build (never happens with
		// cpu.Detect) still selects nothing the build lacks.
		{"arm64 CPU with amd64 build", arm64Evt, amd64Build, "", MethodNone, "none", "no spin hint"},
		{"amd64 CPU with arm64 build", amdMWAITX, arm64Build, "mwaitx", MethodNone, "unsupported", "not implemented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := choose(tt.info, tt.env, tt.build)
			if c.Method != tt.want {
				t.Errorf("Method = %v, want %v (choice %+v)", c.Method, tt.want, c)
			}
			if !strings.Contains(c.Name, tt.inName) {
				t.Errorf("Name = %q, want it to contain %q", c.Name, tt.inName)
			}
			if !strings.Contains(c.Reason, tt.inWhy) {
				t.Errorf("Reason = %q, want it to contain %q", c.Reason, tt.inWhy)
			}
			if c.Env != tt.env {
				t.Errorf("Env = %q, want %q", c.Env, tt.env)
			}
		})
	}
}

// TestSelectNeverUnsupported checks, for every CPU, build and override,
// that the choice is a method both the build and the CPU implement: the
// property that keeps SIGILL away.
func TestSelectNeverUnsupported(t *testing.T) {
	infos := []cpu.Info{x86Plain, amdMWAITX, intelWAITPKG, x86Both, arm64Evt, arm64NoEvt, riscv64, {}, cpu.Detect()}
	builds := []buildSet{amd64Build, arm64Build, genericBuild, thisBuild, 0}
	for _, info := range infos {
		for _, build := range builds {
			for _, env := range envValues {
				c := choose(info, env, build)
				if c.Method != MethodNone && (!build.has(c.Method) || !onCPU(c.Method, info)) {
					t.Errorf("choose(%+v, %q, %b) = %v, which the build or CPU lacks", info, env, build, c.Method)
				}
				if !strings.HasPrefix(c.Name, c.Method.String()) || c.Reason == "" {
					t.Errorf("choose(%+v, %q, %b) = %+v: name must start with the method, reason must be set", info, env, build, c)
				}
			}
		}
	}
}

// procFlags returns the first "flags" line of /proc/cpuinfo, read here
// independently of package cpu, or nil where there is none.
func procFlags(t *testing.T) []string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "flags" {
			return strings.Fields(v)
		}
	}
	return nil
}

// TestChosenOnThisMachine checks the process's real choice: it is what
// Select returns for cpu.Detect and the environment, and no override makes
// it pick an instruction the kernel does not list for this CPU. On a
// machine without mwaitx or waitpkg (the development VM) that means the
// MWAITX, UMWAIT and TPAUSE paths are never taken.
func TestChosenOnThisMachine(t *testing.T) {
	info := cpu.Detect()
	c := Chosen()
	t.Logf("chosen: %s: %s (SHMRING_WAIT=%q); budgets on %s", c.Name, c.Reason, c.Env, BudgetClock())
	if want := Select(info, os.Getenv(EnvWait)); c != want {
		t.Errorf("Chosen() = %+v, want Select(cpu.Detect(), $%s) = %+v", c, EnvWait, want)
	}
	if Current() != c.Method {
		t.Errorf("Current() = %v, want %v", Current(), c.Method)
	}
	flags := procFlags(t)
	x86Linux := runtime.GOOS == "linux" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "386")
	for _, env := range envValues {
		m := Select(info, env).Method
		if !thisBuild.has(m) || !onCPU(m, info) {
			t.Errorf("SHMRING_WAIT=%q selects %v, which this build or CPU lacks", env, m)
		}
		if !x86Linux {
			continue
		}
		if m == MethodMWAITX && !slices.Contains(flags, "mwaitx") {
			t.Errorf("SHMRING_WAIT=%q selects MWAITX but /proc/cpuinfo lists no mwaitx", env)
		}
		if (m == MethodUMWAIT || m == MethodTPAUSE) && !slices.Contains(flags, "waitpkg") {
			t.Errorf("SHMRING_WAIT=%q selects %v but /proc/cpuinfo lists no waitpkg", env, m)
		}
	}
	if x86Linux && flags != nil {
		if got, want := info.MONITORX, slices.Contains(flags, "mwaitx"); got != want {
			t.Errorf("cpu.Detect().MONITORX = %v, /proc/cpuinfo mwaitx = %v", got, want)
		}
		if info.WAITPKG && !slices.Contains(flags, "waitpkg") {
			t.Logf("CPUID reports WAITPKG but the kernel lists no waitpkg (old kernel or clearcpuid)")
		}
		if !slices.Contains(flags, "mwaitx") && !slices.Contains(flags, "waitpkg") && c.Method.Timed() {
			t.Errorf("this CPU offers neither mwaitx nor waitpkg, yet %v was chosen", c.Method)
		}
	}
}

func TestMethodNames(t *testing.T) {
	seen := map[string]bool{}
	for m := range Method(numMethods) {
		s := m.String()
		if s == "" || seen[s] || strings.HasPrefix(s, "Method(") {
			t.Errorf("Method %d has name %q (empty, duplicate or unnamed)", m, s)
		}
		seen[s] = true
		if m.Monitors() && !m.Timed() {
			t.Errorf("%v monitors but is not timed", m)
		}
	}
	if got := Method(200).String(); got != "Method(200)" {
		t.Errorf("Method(200).String() = %q", got)
	}
	// The message for an unknown value lists every accepted one.
	why := choose(x86Plain, "bogus", amd64Build).Reason
	for env := range envMethods {
		if !strings.Contains(why, env) {
			t.Errorf("the unknown-value reason %q does not list %q", why, env)
		}
	}
}
