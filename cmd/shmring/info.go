package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/futex"
	"github.com/shmring/shmring/internal/cpu"
	"github.com/shmring/shmring/internal/spin"
)

// Where `shmring info` looks for shared-memory facts.
const (
	devShmPath   = "/dev/shm"
	thpShmemPath = "/sys/kernel/mm/transparent_hugepage/shmem_enabled"
	unavailable  = "unavailable"
)

// infoReport is everything `shmring info` reports. The JSON names are part of
// the command's output contract: add fields, never rename them.
type infoReport struct {
	GoVersion string `json:"go_version"`
	GOOS      string `json:"goos"`
	Arch      string `json:"arch"`

	CPUVendor            string   `json:"cpu_vendor"`
	CPUBrand             string   `json:"cpu_brand"`
	CPUFamily            int      `json:"cpu_family"`
	CPUModel             int      `json:"cpu_model"`
	LogicalCPUs          int      `json:"logical_cpus"` // cpuid's count, 0 if unknown
	NumCPU               int      `json:"num_cpu"`      // runtime.NumCPU: usable by this process
	GOMAXPROCS           int      `json:"gomaxprocs"`
	CacheLine            int      `json:"cache_line"` // bytes, 0 if unknown
	Hypervisor           bool     `json:"hypervisor"`
	AdjacentLinePrefetch bool     `json:"adjacent_line_prefetch"`
	WaitInstructions     []string `json:"wait_instructions"`
	EventStream          bool     `json:"event_stream"` // arm64 Linux timer event stream (bounds a WFE)

	PadUnit   int    `json:"pad_unit"` // bytes, for newly created arenas
	PadReason string `json:"pad_reason"`
	SpinHint  string `json:"spin_hint"` // the instruction this build's spin loop issues
	Publish   string `json:"publish"`   // the atomics rings publish with
	Futex     string `json:"futex"`     // how blocking waits sleep
	Adaptive  string `json:"adaptive"`  // the default wait strategy's budgets

	WaitMethod      string `json:"wait_method"`       // the spin phase's wait (internal/spin), noting a refused override
	WaitReason      string `json:"wait_reason"`       // why that method
	WaitEnv         string `json:"wait_env"`          // SHMRING_WAIT as read at start-up, "" if unset
	WaitBudgetClock string `json:"wait_budget_clock"` // the counter wait budgets are measured on

	PageSize     int    `json:"page_size"`
	DevShmExists bool   `json:"dev_shm_exists"`
	DevShmTmpfs  bool   `json:"dev_shm_tmpfs"`
	DevShmDetail string `json:"dev_shm_detail"` // human-readable: "tmpfs", "missing", ...
	THPShmem     string `json:"thp_shmem"`      // selected mode, or "unavailable"
	THPShmemRaw  string `json:"thp_shmem_raw"`  // the file's contents, or ""
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("info", "[--json]",
		"Info reports the CPU, kernel and shared-memory facts shmring's choices rest on,\n"+
			"and what it chose: the padding unit for new arenas, the spin hint and the wait\n"+
			"method of the spin phase (forced with SHMRING_WAIT=pause|yield|tpause|mwaitx|umwait|wfe|none).", stderr)
	asJSON := flags.Bool("json", false, "print the report as one JSON object")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if flags.NArg() != 0 {
		fmt.Fprintf(stderr, "shmring info: unexpected argument %q\n", flags.Arg(0))
		flags.Usage()
		return errUsage
	}
	r := gatherInfo()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return writeInfoText(stdout, r)
}

// gatherInfo collects the report. Nothing in it fails: a fact that cannot be
// read is reported as unknown or unavailable.
func gatherInfo() infoReport {
	c := cpu.Detect()
	wait := spin.Chosen()
	r := infoReport{
		GoVersion:            runtime.Version(),
		GOOS:                 runtime.GOOS,
		Arch:                 c.Arch,
		CPUVendor:            c.Vendor,
		CPUBrand:             c.Brand,
		CPUFamily:            c.Family,
		CPUModel:             c.Model,
		LogicalCPUs:          c.LogicalCPUs,
		NumCPU:               runtime.NumCPU(),
		GOMAXPROCS:           runtime.GOMAXPROCS(0),
		CacheLine:            c.CacheLine,
		Hypervisor:           c.Hypervisor,
		AdjacentLinePrefetch: c.AdjacentLinePrefetch,
		WaitInstructions:     c.WaitInstructions(),
		EventStream:          c.EventStream,
		PadUnit:              c.PadUnit(),
		PadReason:            c.PadReason(),
		SpinHint:             spinHint(c),
		WaitMethod:           wait.Name,
		WaitReason:           wait.Reason,
		WaitEnv:              wait.Env,
		WaitBudgetClock:      spin.BudgetClock(),
		Publish:              "sync/atomic, sequentially consistent (amd64 XCHG / LOCK CMPXCHG; arm64 STLR / CAS): the eventcount needs StoreLoad; release-only stores measured in docs/ring.md",
		Futex:                futexMode(),
		Adaptive:             "spin with the hint for 20µs, yield until 120µs, then futex sleep",
		PageSize:             os.Getpagesize(),
	}
	r.DevShmExists, r.DevShmTmpfs, r.DevShmDetail = statShm(devShmPath)
	r.THPShmem, r.THPShmemRaw = unavailable, ""
	if b, err := os.ReadFile(thpShmemPath); err == nil {
		r.THPShmemRaw = strings.TrimSpace(string(b))
		r.THPShmem = thpMode(r.THPShmemRaw)
	}
	return r
}

// tmpfsMagic is Linux's TMPFS_MAGIC from <linux/magic.h>, the f_type statfs
// reports for a tmpfs mount. It is unix.TMPFS_MAGIC, spelt out because x/sys
// defines that constant only on Linux and this file must build on the
// portability targets (darwin, freebsd) too.
const tmpfsMagic = 0x01021994

// statShm reports whether dir exists and, on Linux, whether it is a tmpfs
// mount, with a short description for the text report.
func statShm(dir string) (exists, tmpfs bool, detail string) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, false, "missing"
	case err != nil:
		return false, false, "unreadable: " + err.Error()
	case !st.IsDir():
		return true, false, "exists but is not a directory"
	case runtime.GOOS != "linux":
		return true, false, "exists (tmpfs check is Linux-only)"
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		return true, false, "exists; statfs: " + err.Error()
	}
	// f_type is a 32-bit magic number whatever width Statfs_t gives it
	// (int64 on amd64, int32 on 386, uint32 on s390x).
	if magic := uint32(sfs.Type); magic != tmpfsMagic {
		return true, false, fmt.Sprintf("exists, not tmpfs (filesystem magic %#x)", magic)
	}
	return true, true, "tmpfs"
}

// thpMode returns the selected mode of a transparent_hugepage setting, the
// word in brackets in a line such as "always within_size advise [never] deny
// force", or the whole trimmed line if none is bracketed.
func thpMode(s string) string {
	for f := range strings.FieldsSeq(s) {
		if len(f) > 2 && f[0] == '[' && f[len(f)-1] == ']' {
			return f[1 : len(f)-1]
		}
	}
	if s = strings.TrimSpace(s); s == "" {
		return unavailable
	}
	return s
}

// writeInfoText prints r as "key  value" rows under section headings, with
// the values of all sections aligned in one column.
func writeInfoText(w io.Writer, r infoReport) error {
	// A heading is a cell of the key column too, so that every section
	// shares one alignment; tabwriter pads it, so trailing blanks are
	// trimmed after.
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	section := func(title string) { fmt.Fprintf(tw, "%s\t\n", title) }
	row := func(key, format string, a ...any) {
		fmt.Fprintf(tw, "  %s\t%s\n", key, fmt.Sprintf(format, a...))
	}

	section("Go")
	row("version", "%s", r.GoVersion)
	row("GOOS/GOARCH", "%s/%s", r.GOOS, r.Arch)

	section("CPU")
	row("vendor", "%s", orUnknown(r.CPUVendor))
	row("brand", "%s", orUnknown(r.CPUBrand))
	row("family/model", "%d/%d", r.CPUFamily, r.CPUModel)
	row("logical CPUs (cpuid)", "%s", countOrUnknown(r.LogicalCPUs))
	row("runtime.NumCPU", "%d (GOMAXPROCS %d)", r.NumCPU, r.GOMAXPROCS)
	row("cache line (L1D)", "%s", bytesOrUnknown(r.CacheLine))
	hyper := yesNo(r.Hypervisor)
	if !r.Hypervisor && r.Arch != "amd64" && r.Arch != "386" {
		hyper = "not detected (only x86 CPUs report it)"
	}
	row("hypervisor", "%s", hyper)
	row("adjacent-line prefetch", "%s", yesNo(r.AdjacentLinePrefetch))
	wait := "none"
	if len(r.WaitInstructions) > 0 {
		wait = strings.Join(r.WaitInstructions, " ")
	}
	row("wait instructions", "%s", wait)
	if r.Arch == "arm64" {
		row("timer event stream", "%s", yesNo(r.EventStream))
	}

	section("What shmring chose")
	row("pad unit (new arenas)", "%d bytes: %s", r.PadUnit, r.PadReason)
	row("spin hint", "%s", r.SpinHint)
	row("wait method", "%s: %s", r.WaitMethod, r.WaitReason)
	if r.WaitEnv != "" {
		row(spin.EnvWait, "%s", r.WaitEnv)
	}
	row("wait budgets", "%s", r.WaitBudgetClock)
	row("publish", "%s", r.Publish)
	row("blocking", "%s", r.Futex)
	row("adaptive wait", "%s", r.Adaptive)

	section("Memory")
	row("page size", "%d bytes", r.PageSize)
	row(devShmPath, "%s", r.DevShmDetail)
	thp := r.THPShmem
	if r.THPShmemRaw != "" && r.THPShmemRaw != thp {
		thp += " (" + r.THPShmemRaw + ")"
	}
	row("THP shmem_enabled", "%s", thp)

	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func countOrUnknown(n int) string {
	if n <= 0 {
		return "unknown"
	}
	return strconv.Itoa(n)
}

func bytesOrUnknown(n int) string {
	if n <= 0 {
		return "unknown"
	}
	return strconv.Itoa(n) + " bytes"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// spinHint is the instruction this build's spin loop really issues
// (internal/spin), with the CPU's own view when they differ (for example
// a purego build on amd64).
func spinHint(c cpu.Info) string {
	if spin.Hint == c.SpinHint() {
		return spin.Hint
	}
	return fmt.Sprintf("%s (this build; the CPU offers %s)", spin.Hint, c.SpinHint())
}

func futexMode() string {
	if futex.Supported {
		return "shared futex (FUTEX_WAIT/FUTEX_WAKE, no PRIVATE flag) behind an eventcount: no syscall while nobody sleeps"
	}
	return "polling fallback (no futex on this OS): sleeps of 50µs..1ms"
}
