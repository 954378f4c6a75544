package main

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// ceilingRows are the rows set against the bare handlers.
var ceilingRows = []string{"S1", "S2", "S8"}

// ceiling is one bare handler's figures, measured with S1's load.
type ceiling struct {
	name string
	m    measure
}

// measureCeilings builds bench/ceiling and measures it served by net/http
// and by fasthttp, with S1's requests and concurrency (it answers 4 KiB
// to any path), in the same run as the gateways.
func measureCeilings(ctx context.Context, p profile, scenarios []scenario, scratch string) ([]ceiling, error) {
	i := slices.IndexFunc(scenarios, func(sc scenario) bool { return sc.ID == "S1" })
	if i < 0 {
		return nil, nil
	}
	sc := scenarios[i]
	sc.Expect = 200
	bin := filepath.Join(scratch, "ceiling")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/cargate/cargate/bench/ceiling")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the bare handler: %w\n%s", err, out)
	}
	var out []ceiling
	for _, kind := range []string{"net", "fasthttp"} {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		name := "bare " + kind
		log.Printf("ceiling: %s, %s", name, p.duration)
		s, err := startServer(ctx, name, bin, []string{"-listen", addr, "-server", kind}, nil, addr, filepath.Join(scratch, "ceiling-"+kind+".log"))
		if err != nil {
			return nil, err
		}
		m, err := measureOne(ctx, s, sc, p.warmup, p.duration, 0, false)
		s.stop()
		if err != nil {
			return nil, err
		}
		out = append(out, ceiling{name: name, m: m})
	}
	return out, nil
}

// cpuUS is cpuPerRequest, ok=false when unknown.
func cpuUS(m measure) (float64, bool) {
	us := cpuPerRequest(m)
	return us, m.ran && us > 0
}

func fmtCPU(m measure) string {
	if us, ok := cpuUS(m); ok {
		return fmt.Sprintf("%.1f", us)
	}
	return "—"
}

// ceilingTable sets S1, S2 and S8 against the bare handlers: requests per
// second and server CPU per request.
func (rep *report) ceilingTable() string {
	if len(rep.ceilings) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("### S1, S2, S8 against the machine's ceiling\n\n")
	b.WriteString("The bare handlers (`bench/ceiling`) answer a fixed 4 KiB body to any path, one served by net/http, " +
		"one by fasthttp, measured in this run with S1's requests and concurrency. CPU per request is the server's " +
		"CPU time (user + system, from /proc) over the measured window divided by the requests answered; the last " +
		"column is cargate's CPU per request over the bare fasthttp handler's.\n\n")
	b.WriteString("| row | cargate req/s | reference req/s | cargate µs CPU/req | reference µs CPU/req | cargate ÷ bare fasthttp (CPU) |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|\n")
	var fast measure
	for _, c := range rep.ceilings {
		if c.name == "bare fasthttp" {
			fast = c.m
		}
	}
	for _, r := range rep.rows {
		if !slices.Contains(ceilingRows, r.sc.ID) {
			continue
		}
		rel := "—"
		if c, ok := cpuUS(r.cand); ok {
			if f, ok := cpuUS(fast); ok {
				rel = fmt.Sprintf("%.2f×", c/f)
			}
		}
		fmt.Fprintf(&b, "| %s %s | %s | %s | %s | %s | %s |\n", r.sc.ID, r.sc.Title, value(r.cand), value(r.ref),
			fmtCPU(r.cand), fmtCPU(r.ref), rel)
	}
	for _, c := range rep.ceilings {
		rel := "—"
		if v, ok := cpuUS(c.m); ok {
			if f, ok := cpuUS(fast); ok {
				rel = fmt.Sprintf("%.2f×", v/f)
			}
		}
		fmt.Fprintf(&b, "| %s, 4 KiB | %s | | %s | | %s |\n", c.name, value(c.m), fmtCPU(c.m), rel)
	}
	b.WriteString("\n")
	return b.String()
}
