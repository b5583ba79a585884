package bench

import (
	"io"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress reports how far a run has got. Its methods may be called from
// any goroutine.
type Progress interface {
	// Step says that the next step, described by desc, is starting; the
	// steps before it are done.
	Step(desc string)
	// Done says that every step is done and removes the progress display.
	// Later calls to Step and Done do nothing.
	Done()
}

// NewProgress returns a progress bar of total steps drawn on w when w is a
// terminal, and otherwise a Progress that writes nothing, so that
// redirected output holds only the report. A nil w writes nothing either.
// More than total steps are allowed: the bar grows.
func NewProgress(w *os.File, total int) Progress {
	if w == nil || !term.IsTerminal(int(w.Fd())) {
		return NopProgress()
	}
	return newBarProgress(w, total)
}

// NopProgress returns a Progress that does nothing.
func NopProgress() Progress { return nopProgress{} }

type nopProgress struct{}

func (nopProgress) Step(string) {}
func (nopProgress) Done()       {}

// barProgress draws a schollz/progressbar bar. The bar's value is the
// number of finished steps, kept below its maximum until Done: the bar
// library considers itself finished, and draws nothing more, once the
// value reaches the maximum.
type barProgress struct {
	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	max     int  // the bar's maximum, >= 1
	started int  // steps started so far
	done    bool // Done was called
}

func newBarProgress(w io.Writer, total int) *barProgress {
	total = max(total, 1)
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("starting"),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(true),
	)
	return &barProgress{bar: bar, max: total}
}

func (p *barProgress) Step(desc string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	if p.started > 0 {
		// The previous step is done; grow the bar first if that
		// would otherwise fill it.
		if p.started >= p.max {
			p.max++
			p.bar.AddMax(1)
		}
		p.bar.Add(1)
	}
	p.started++
	p.bar.Describe(desc)
}

func (p *barProgress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
	p.bar.Finish() // fills the bar; ClearOnFinish erases it
	p.bar.Exit()
}
