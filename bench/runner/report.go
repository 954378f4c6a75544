package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/cargate/cargate/bench/datagen"
)

// report is one run's results and where they came from.
type report struct {
	cfg     config
	prof    profile
	set     *datagen.Set
	started time.Time
	elapsed time.Duration
	rows    []row
	// ceilings are the bare handlers measured in the same run.
	ceilings []ceiling
}

// failed reports whether any check found the gateways disagreeing.
func (rep *report) failed() bool {
	for _, r := range rep.rows {
		if r.mismatch {
			return true
		}
	}
	return false
}

func (rep *report) candidateName() string {
	switch rep.cfg.cargate {
	case "":
		return "cargate (not run)"
	case aaCandidate:
		return "candidate (2nd reference, A/A)"
	}
	return "cargate"
}

func (rep *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# cargate benchmark: %s profile\n\n", rep.cfg.profile)
	fmt.Fprintf(&b, "%s · %s · %s · seed %d · run took %s\n\n",
		rep.started.UTC().Format("2006-01-02 15:04 MST"), machine(), runtime.Version(), rep.cfg.seed,
		rep.elapsed.Round(time.Second))
	fmt.Fprintf(&b, "Closed loop unless noted; each gateway gets a %s warm-up, then %s measured (%s for large bodies). "+
		"Load generator, cargate and the reference share the same cores.\n\n", rep.prof.warmup, rep.prof.duration, rep.prof.long)
	fmt.Fprintf(&b, "| ID | scenario | unit | %s | reference | ratio | p99 cargate | p99 ref | RSS cargate | RSS ref | goal (issue 5) | check |\n",
		rep.candidateName())
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|\n")
	for _, r := range rep.rows {
		b.WriteString(r.markdown())
	}
	b.WriteString("\nratio = cargate ÷ reference (higher is better for both units). RSS is the server's peak resident " +
		"memory during the measured window (VmHWM after a reset), for S9 the importing process's peak. " +
		"S9's reference is the reference gateway's start-up: read the CAR, hash-check every block, store it in memory.\n\n")
	b.WriteString(rep.ceilingTable())
	b.WriteString(rep.selfTable())
	for _, r := range rep.rows {
		if r.detail != "" {
			b.WriteString(r.detail + "\n\n")
		}
	}
	b.WriteString(rep.details())
	return b.String()
}

func (r row) markdown() string {
	check := r.check
	if r.mismatch {
		check = "**MISMATCH** " + check
	}
	if !r.ref.ran && !r.cand.ran {
		return fmt.Sprintf("| %s | %s | %s | — | — | — | — | — | — | — | %s | %s |\n",
			r.sc.ID, r.sc.Title, r.sc.Unit, r.sc.Goal.text, check)
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
		r.sc.ID, r.title(), r.sc.Unit, value(r.cand), value(r.ref), ratio(r.cand, r.ref),
		p99(r.cand), p99(r.ref), rss(r.cand), rss(r.ref), r.goal(), check)
}

func (r row) title() string {
	if r.rate > 0 {
		return fmt.Sprintf("%s (%.0f/s)", r.sc.Title, r.rate)
	}
	return r.sc.Title
}

func (r row) goal() string {
	g := r.sc.Goal
	switch {
	case g.text == "":
		return ""
	case g.met == nil || !r.cand.ran:
		return g.text
	case g.met(&r.cand, &r.ref):
		return g.text + ": met"
	}
	return g.text + ": **not met**"
}

func value(m measure) string {
	if !m.ran {
		return "—"
	}
	s := fmt.Sprintf("%.0f", m.value)
	if m.value < 100 {
		s = fmt.Sprintf("%.1f", m.value)
	}
	if m.note != "" {
		s += " (" + m.note + ")"
	}
	return s
}

func ratio(c, r measure) string {
	if !c.ran || !r.ran || r.value == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", c.value/r.value)
}

func p99(m measure) string {
	if !m.ran || m.res == nil {
		return "—"
	}
	return fmtDur(m.p99)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%d µs", d.Microseconds())
}

func rss(m measure) string {
	if !m.ran || m.rss == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f MiB", float64(m.rss)/(1<<20))
}

// details is a second table with the full latency spread and CPU use.
func (rep *report) details() string {
	var b strings.Builder
	b.WriteString("<details><summary>latency spread, CPU, requests</summary>\n\n")
	b.WriteString("| ID | gateway | requests | p50 | p90 | p99 | p99.9 | max | TTFB p50 | TTFB p99 | storage reads/req | server CPU s | statuses |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, r := range rep.rows {
		for _, g := range []struct {
			name string
			m    measure
		}{{rep.gatewayName(r), r.cand}, {"reference", r.ref}} {
			if !g.m.ran {
				continue
			}
			if g.m.res == nil {
				fmt.Fprintf(&b, "| %s | %s | 1 import | | | | | | | | | %.2f | |\n", r.sc.ID, g.name, g.m.cpu)
				continue
			}
			res := g.m.res
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %v |\n", r.sc.ID, g.name, res.Requests,
				fmtDur(res.Quantile(50)), fmtDur(res.Quantile(90)), fmtDur(res.Quantile(99)), fmtDur(res.Quantile(99.9)),
				fmtDur(time.Duration(res.Latency.Max())*time.Microsecond), ttfb(g.m, 50), ttfb(g.m, 99),
				storageReads(g.m), g.m.cpu, res.Status)
		}
	}
	b.WriteString("\n</details>\n")
	return b.String()
}

// machine describes the host in one phrase.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%s, %d cores, Linux %s", model, runtime.NumCPU(), strings.TrimSpace(string(kernel)))
}

// write puts latest.md and the plots in dir.
func (rep *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(rep.markdown()), 0o644)
	return errors.Join(err, rep.plots(dir))
}
