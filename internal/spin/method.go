package spin

import (
	"os"
	"strconv"
	"strings"

	"github.com/shmring/shmring/internal/cpu"
)

// Method is a way of waiting for a word in memory to change: a pause hint
// between polls, or an instruction that sleeps the hardware thread until
// the word's cache line is written or a timer expires.
type Method uint8

// The wait methods. A method is only ever run if the CPU reports it (see
// [Select]); executing one the CPU lacks raises SIGILL.
const (
	// MethodNone polls with no hint at all (the purego build, GOARCHes
	// without assembly, or SHMRING_WAIT=none).
	MethodNone Method = iota
	// MethodPause polls with the x86 PAUSE hint between checks (the
	// behaviour before wait methods existed).
	MethodPause
	// MethodYield polls with the arm64 YIELD hint between checks.
	MethodYield
	// MethodTPAUSE polls with Intel's TPAUSE (WAITPKG) between checks: a
	// timed pause in the light C0.1 state, with no address monitored.
	MethodTPAUSE
	// MethodMWAITX arms AMD's MONITORX on the word's line and sleeps in
	// MWAITX with its timer on, until a store to the line or the timer.
	MethodMWAITX
	// MethodUMWAIT arms Intel's UMONITOR on the word's line and sleeps in
	// UMWAIT (C0.1) until a store to the line or a TSC deadline.
	MethodUMWAIT
	// MethodWFE arms the arm64 exclusive monitor with a load-exclusive of
	// the word and sleeps in WFE until a store to the line clears the
	// monitor, or the generic timer's event stream (10 kHz on Linux)
	// wakes it.
	MethodWFE

	numMethods = iota
)

var methodNames = [numMethods]string{
	MethodNone:   "none",
	MethodPause:  "PAUSE",
	MethodYield:  "YIELD",
	MethodTPAUSE: "TPAUSE",
	MethodMWAITX: "MONITORX/MWAITX",
	MethodUMWAIT: "UMONITOR/UMWAIT",
	MethodWFE:    "WFE",
}

// String names the instructions m issues, for example "MONITORX/MWAITX".
func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "Method(" + strconv.Itoa(int(m)) + ")"
}

// Timed reports whether m is a hardware wait (TPAUSE, MWAITX, UMWAIT, WFE)
// rather than a poll with a pause hint: only then does [WaitChange32] do
// more than a caller's own pause schedule would.
func (m Method) Timed() bool {
	return m == MethodTPAUSE || m == MethodMWAITX || m == MethodUMWAIT || m == MethodWFE
}

// Monitors reports whether m watches the word's cache line, so that a
// store to it ends the wait early (MWAITX, UMWAIT, WFE).
func (m Method) Monitors() bool {
	return m == MethodMWAITX || m == MethodUMWAIT || m == MethodWFE
}

// EnvWait names the environment variable that forces a wait method for
// measurement: pause, yield, tpause, mwaitx, umwait, wfe or none; auto or
// empty selects from the CPU. It is read once, at package initialisation.
// A method the CPU or the build does not offer is never run: the choice
// falls back to the build's basic hint (PAUSE, YIELD or none) and says so
// in [Choice.Name].
const EnvWait = "SHMRING_WAIT"

// envMethods maps the accepted SHMRING_WAIT values to methods.
var envMethods = map[string]Method{
	"none":   MethodNone,
	"pause":  MethodPause,
	"yield":  MethodYield,
	"tpause": MethodTPAUSE,
	"mwaitx": MethodMWAITX,
	"umwait": MethodUMWAIT,
	"wfe":    MethodWFE,
}

// Choice is the wait method a process uses and why.
type Choice struct {
	// Method is what [WaitChange32] and [WaitChange64] run.
	Method Method
	// Name is Method's name, with a note when an override could not be
	// honoured, e.g. "PAUSE (SHMRING_WAIT=umwait unsupported)".
	Name string
	// Reason says in one phrase why Method was chosen.
	Reason string
	// Env is the SHMRING_WAIT value the choice was made with ("" if unset).
	Env string
}

// buildSet is the set of methods a build's assembly implements, one bit
// per Method.
type buildSet uint16

func setOf(ms ...Method) buildSet {
	var s buildSet
	for _, m := range ms {
		s |= 1 << m
	}
	return s
}

func (s buildSet) has(m Method) bool { return s&(1<<m) != 0 }

// onCPU reports whether the CPU described by info implements m in user
// mode. This, and only this, is what keeps a method that would fault off
// the machine.
func onCPU(m Method, info cpu.Info) bool {
	switch m {
	case MethodNone:
		return true
	case MethodPause:
		return info.PAUSE
	case MethodYield:
		return info.YIELD
	case MethodTPAUSE, MethodUMWAIT:
		return info.WAITPKG
	case MethodMWAITX:
		return info.MONITORX
	case MethodWFE:
		return info.WFE
	}
	return false
}

// Select returns the wait method this build would use on the CPU
// described by info, with env as the value of SHMRING_WAIT. It is pure:
// the process's own choice is [Chosen], made once from cpu.Detect and the
// environment.
//
// Without an override it takes, in order: MONITORX/MWAITX if the CPU
// reports MONITORX; UMONITOR/UMWAIT if it reports WAITPKG; WFE on arm64
// if the timer event stream bounds it; otherwise the build's basic hint
// (PAUSE on amd64, YIELD on arm64, none elsewhere and in purego builds).
func Select(info cpu.Info, env string) Choice {
	return choose(info, env, thisBuild)
}

// choose is Select for a build that implements the methods in build.
func choose(info cpu.Info, env string, build buildSet) Choice {
	ok := func(m Method) bool { return build.has(m) && onCPU(m, info) }
	basic := MethodNone
	switch {
	case ok(MethodPause):
		basic = MethodPause
	case ok(MethodYield):
		basic = MethodYield
	}
	c := Choice{Env: env}
	key := strings.ToLower(strings.TrimSpace(env))
	if key != "" && key != "auto" {
		m, known := envMethods[key]
		switch {
		case !known:
			c.Method = basic
			c.Name = basic.String() + " (" + EnvWait + "=" + env + " not recognised)"
			c.Reason = EnvWait + "=" + env + " is not one of pause, yield, tpause, mwaitx, umwait, wfe, none, auto; using the basic hint"
		case ok(m):
			c.Method, c.Name = m, m.String()
			c.Reason = "forced by " + EnvWait + "=" + env
			if m == MethodWFE && !info.EventStream {
				c.Reason += "; no timer event stream, so a wait with no store lasts until the next interrupt"
			}
		default:
			c.Method = basic
			c.Name = basic.String() + " (" + EnvWait + "=" + env + " unsupported)"
			c.Reason = EnvWait + "=" + env + ": " + whyNot(m, info, build) + "; using the basic hint"
		}
		return c
	}
	switch {
	case ok(MethodMWAITX):
		c.Method = MethodMWAITX
		c.Reason = "the CPU offers MONITORX/MWAITX to user mode (mwaitx in /proc/cpuinfo): sleeps until the watched line is written or its timer ends"
	case ok(MethodUMWAIT):
		c.Method = MethodUMWAIT
		c.Reason = "the CPU offers WAITPKG (CPUID.7.0:ECX[5]): UMONITOR/UMWAIT in C0.1 until the watched line is written or a TSC deadline"
	case ok(MethodWFE) && info.EventStream:
		c.Method = MethodWFE
		c.Reason = "arm64 WFE on a load-exclusive of the word, woken by a store to its line or by the 10 kHz timer event stream (HWCAP_EVTSTRM)"
	default:
		c.Method = basic
		c.Reason = basicReason(basic, info, build)
	}
	c.Name = c.Method.String()
	return c
}

// whyNot says why m cannot run with this build on this CPU.
func whyNot(m Method, info cpu.Info, build buildSet) string {
	if !build.has(m) {
		if build == setOf(MethodNone) {
			return "this build has no wait assembly (purego or GOARCH " + info.Arch + ")"
		}
		return "not implemented for GOARCH " + info.Arch
	}
	switch m {
	case MethodTPAUSE, MethodUMWAIT:
		return "the CPU does not report WAITPKG"
	case MethodMWAITX:
		return "the CPU does not report MONITORX (no mwaitx in /proc/cpuinfo)"
	}
	return "the CPU does not report " + m.String()
}

// basicReason says why the automatic choice fell back to a poll.
func basicReason(m Method, info cpu.Info, build buildSet) string {
	switch {
	case m == MethodNone && build == setOf(MethodNone):
		return "this build has no wait assembly (purego or GOARCH " + info.Arch + "): polls with no hint"
	case m == MethodNone:
		return "no spin hint on this CPU: polls with no hint"
	case m == MethodYield && info.WFE && !info.EventStream:
		return "arm64 without the timer event stream (HWCAP_EVTSTRM): a WFE with no store could sleep until the next interrupt, so YIELD polling"
	case m == MethodYield:
		return "arm64 YIELD between polls"
	}
	return "neither MONITORX/MWAITX nor WAITPKG is offered to user mode: PAUSE between polls"
}

// chosen is this process's wait method, selected once at package
// initialisation and read-only afterwards (package initialisation happens
// before any goroutine of the program can call into the package).
var chosen = Select(cpu.Detect(), os.Getenv(EnvWait))

// Chosen returns this process's wait method, its name and why.
func Chosen() Choice { return chosen }

// Current returns this process's wait method; it is Chosen().Method
// without copying the strings, for hot paths.
func Current() Method { return chosen.Method }
