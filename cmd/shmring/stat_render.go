package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// How shmring stat draws a sample for people: an arena line, then per ring
// a title line, one indented row per group of counters (totals exact, as
// the ring keeps them; rates rounded), and the peer and subscriber tables.
// --json (statReport) is the form for programs.

// renderStat writes rep as text.
func renderStat(w io.Writer, rep *statReport) {
	window := "no rates"
	for _, r := range rep.Rings {
		if r.Rates != nil {
			window = "rates over " + time.Duration(r.Rates.Window*float64(time.Second)).Round(time.Millisecond).String()
			break
		}
	}
	rings := "rings"
	if len(rep.Rings) == 1 {
		rings = "ring"
	}
	fmt.Fprintf(w, "arena %s  %s  %d %s  %s\n", rep.Arena, renderBytes(uint64(max(rep.Size, 0))), len(rep.Rings), rings, window)
	for i := range rep.Rings {
		fmt.Fprintln(w)
		renderRing(w, &rep.Rings[i], rep.Time)
	}
	for _, b := range rep.Bridges {
		fmt.Fprintln(w)
		renderBridge(w, &b)
	}
}

func renderBridge(w io.Writer, b *bridgeReport) {
	if b.Error != "" {
		fmt.Fprintf(w, "bridge %s  cannot be read: %s\n", renderName(b.Name), b.Error)
		return
	}
	c := &b.Counters
	fmt.Fprintf(w, "bridge %s  subject %s  pid %d", b.Role, renderName(b.Subject), b.PID)
	if b.Producer != "" {
		fmt.Fprintf(w, "  producer %s", renderName(b.Producer))
	}
	fmt.Fprintln(w)
	if b.Role == "out" {
		fmt.Fprintf(w, "  published %d  acked %d  in flight %d  spooled %d  retried %d  waited for acks %v\n",
			c.Published, c.Acked, c.InFlight, b.Spooled, c.Retried, c.Blocked.Round(time.Millisecond))
		return
	}
	fmt.Fprintf(w, "  received %d  pushed %d  duplicates %d  gaps %d  redelivered %d  foreign %d  waited for room %v\n",
		c.Received, c.Pushed, c.Duplicates, c.Gaps, c.Redelivered, c.Foreign, c.Blocked.Round(time.Millisecond))
}

func renderRing(w io.Writer, r *ringReport, now time.Time) {
	if r.Error != "" {
		fmt.Fprintf(w, "%s  %s  cannot be read: %s\n", renderName(r.Name), r.Kind, r.Error)
		return
	}
	if rr := r.Records; rr != nil {
		mirrored := "not mirrored (padding at the wrap)"
		if rr.Mirrored {
			mirrored = "mirrored"
		}
		fmt.Fprintf(w, "%s  %s  %s, records up to %s, %s  %d peer entries", renderName(r.Name), r.Kind, renderBytes(rr.Capacity), renderBytes(uint64(rr.MaxRecord)), mirrored, r.PeerEntries)
	} else {
		fmt.Fprintf(w, "%s  %s  %d slots x %s  %d peer entries", renderName(r.Name), r.Kind, r.Slots, renderBytes(uint64(r.SlotSize)), r.PeerEntries)
	}
	if r.Kind == "broadcast" {
		fmt.Fprintf(w, "  %d subscriber entries", r.SubscriberEntries)
	}
	fmt.Fprintln(w)
	row := func(key, format string, args ...any) {
		fmt.Fprintf(w, "  %-12s%s\n", key, fmt.Sprintf(format, args...))
	}
	if rr := r.Records; rr != nil {
		partial := ""
		if !rr.Complete {
			partial = " (walk incomplete)"
		}
		row("depth", "%d records  %s of %s used", r.Depth, renderBytes(rr.Used), renderBytes(rr.Capacity))
		row("in ring", "%d committed  %d busy  %d skip  %d padding  largest %s%s", rr.Committed, rr.Busy, rr.Skip, rr.Padding, renderBytes(rr.Largest), partial)
	} else {
		row("depth", "%d of %d", r.Depth, r.Slots)
	}
	row("closed", "%s", yesNo(r.Closed))
	var rin, rout, bin, bout string
	if r.Rates != nil {
		rin, rout = " ("+renderCount(r.Rates.MessagesIn)+"/s)", " ("+renderCount(r.Rates.MessagesOut)+"/s)"
		bin, bout = " ("+renderBytes(uint64(r.Rates.BytesIn))+"/s)", " ("+renderBytes(uint64(r.Rates.BytesOut))+"/s)"
	}
	row("messages", "in %d%s  out %d%s", r.MessagesIn, rin, r.MessagesOut, rout)
	row("bytes", "in %d%s  out %d%s", r.BytesIn, bin, r.BytesOut, bout)
	row("events", "%d full  %d empty", r.FullEvents, r.EmptyEvents)
	row("futex", "%d sleeps  %d wakes", r.Sleeps, r.Wakes)
	leak := ""
	if r.WaiterLeak {
		leak = "  LEAKED: no live handle to be asleep"
	}
	row("waiters", "%d not-empty  %d not-full%s", r.NotEmptyWaiters, r.NotFullWaiters, leak)
	row("losses", "%d lost  %d skipped  %d redelivered  %d lapped  %d missed", r.Lost, r.Skipped, r.Redelivered, r.Lapped, r.Missed)
	row("peers", "%d live  %d dead", r.LivePeers, r.DeadPeers)
	if len(r.Peers) > 0 {
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "    INDEX\tPID\tROLES\tALIVE\tLAST ACTIVE\tMSGS IN\tMSGS OUT")
		for _, p := range r.Peers {
			fmt.Fprintf(tw, "    %d\t%d\t%s\t%s\t%s\t%d\t%d\n", p.Index, p.PID, p.Roles, yesNo(p.Alive), renderAgo(now, p.LastActive), p.MsgsIn, p.MsgsOut)
		}
		tw.Flush()
	}
	if r.Kind != "broadcast" {
		return
	}
	row("subscribers", "%d of %d entries", len(r.Subscribers), r.SubscriberEntries)
	if len(r.Subscribers) > 0 {
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "    INDEX\tPID\tALIVE\tLOSSY\tCURSOR\tLAG\tDELIVERED\tLAPPED\tMISSED")
		for _, s := range r.Subscribers {
			fmt.Fprintf(tw, "    %d\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", s.Index, s.PID, yesNo(s.Alive), yesNo(s.Lossy), s.Cursor, s.Lag, s.Delivered, s.Lapped, s.Missed)
		}
		tw.Flush()
	}
}

// renderAgo says how long before now t was: "3s ago", "2m05s ago", "never".
func renderAgo(now time.Time, t *time.Time) string {
	if t == nil {
		return "never"
	}
	d := now.Sub(*t)
	switch {
	case d < -time.Second: // another clock, or a hostile peer
		return "in the future"
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}

// renderCount rounds a rate for people: 950, 12.3k, 4.56M.
func renderCount(v float64) string {
	switch {
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 2, 64) + "G"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

// renderBytes is n in bytes with a binary unit: 256 B, 4.0 KiB, 1.5 MiB.
func renderBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// renderName is a region name as is if it is plain printable ASCII (what
// arena allows), quoted otherwise, so that a name from a hostile file
// cannot send control sequences to a terminal.
func renderName(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

// screen is a --watch frame for a terminal.
type screen struct{ bytes.Buffer }

// fit returns the frame cut to a terminal of the given number of rows
// (0: unknown, no cut), so that a long frame does not scroll the top of
// the screen away: at most rows-1 lines, then a last line without a
// newline saying how many were left out.
func (s *screen) fit(rows int) []byte {
	b := s.Bytes()
	if rows <= 1 || bytes.Count(b, []byte{'\n'}) <= rows-1 {
		return b
	}
	cut, lines := 0, 0
	for i, c := range b {
		if c == '\n' {
			lines++
			if lines == rows-1 {
				cut = i + 1
				break
			}
		}
	}
	left := bytes.Count(b[cut:], []byte{'\n'})
	out := append([]byte(nil), b[:cut]...)
	return fmt.Appendf(out, "... %d more lines: enlarge the window or name the rings", left)
}
