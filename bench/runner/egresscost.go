package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cargate/cargate/bench/datagen"
	"github.com/cargate/cargate/bench/load"
)

// The cost of egress accounting is a few percent of a request's CPU, while
// on this kind of machine (two shared cores, the load generator on them
// too) throughput moves by ±15% from one second to the next. A comparison
// of two long runs, or of the best of a few, cannot resolve it. S1e instead
// runs two twin cargates side by side, each over a fresh import of the
// small directory, one with egress accounting on and one with it off, and
// loads them in many short alternating slices (on, off; then off, on; ...).
// Each pair of adjacent slices gives an on/off ratio; the cost is one minus
// the median ratio, given with a distribution-free 95% confidence interval
// for that median, beside the pooled throughput and CPU per request of
// each side. Then both twins are loaded at the same time, half the
// connections each, in windows: outside load hits both alike there, and
// the median on/off ratio of server CPU per request is the steadier
// measure of what accounting costs.

// measureEgressCost runs the S1e slices and returns the row: the off twin's
// median slice as the row's figure, the on twin's as the compared one, and
// the paragraph with the estimate.
func measureEgressCost(ctx context.Context, p profile, set *datagen.Set, sc scenario, cand, ref *server, scratch string) (row, error) {
	r := row{sc: sc}
	start := func(name string, extra ...string) (*server, error) {
		dir := filepath.Join(scratch, name+"-data")
		if _, err := timedRun(ctx, cand.bin, "import", "--data-dir", dir, "--quiet", set.SmallDir.CAR); err != nil {
			return nil, fmt.Errorf("%s: import: %w", name, err)
		}
		return startCargate(ctx, name, cand.bin, dir, scratch, extra, cand.env)
	}
	on, err := start("cargate-egress-on")
	if err != nil {
		return r, err
	}
	defer on.stop()
	off, err := start("cargate-egress-off", "--egress=false")
	if err != nil {
		return r, err
	}
	defer off.stop()
	// Each twin keeps its connections across slices: a slice then measures
	// serving, not 32 connection set-ups at its start.
	on.client, off.client = load.NewClient(sc.Conc), load.NewClient(sc.Conc)
	defer on.client.CloseIdleConnections()
	defer off.client.CloseIdleConnections()
	var checks []string
	for _, s := range []*server{on, off} {
		check, ok := compareGateways(ctx, sc, s.base, ref.base, p.sample)
		checks = append(checks, check)
		r.mismatch = r.mismatch || !ok
	}
	r.check = strings.Join(slices.Compact(checks), "; ")

	pairs := max(p.rounds, 1)
	log.Printf("%s: egress on and off, twin cargates, %d alternating pairs of %s slices", sc.ID, pairs, p.slice)
	var ons, offs []measure
	for i := range pairs {
		order := []*server{on, off}
		if i%2 == 1 {
			order = []*server{off, on}
		}
		for _, s := range order {
			m, err := measureOne(ctx, s, sc, p.sliceWarmup, p.slice, 0, false)
			if err != nil {
				return r, err
			}
			if s == on {
				ons = append(ons, m)
			} else {
				offs = append(offs, m)
			}
		}
	}
	r.cand, r.versus = offs[medianIndex(offs)], ons[medianIndex(ons)]

	// The same twins loaded at the same time, half the connections each:
	// drift and outside load then hit both alike, which makes server CPU per
	// request the steadier figure of the cost.
	half := sc
	half.Conc = max(sc.Conc/2, 1)
	log.Printf("%s: egress on and off, twin cargates loaded together, %d windows of %s", sc.ID, pairs, p.slice)
	var cpuRatios []float64
	for range pairs {
		var mOn measure
		var errOn error
		done := make(chan struct{})
		go func() {
			defer close(done)
			mOn, errOn = measureOne(ctx, on, half, p.sliceWarmup, p.slice, 0, false)
		}()
		mOff, errOff := measureOne(ctx, off, half, p.sliceWarmup, p.slice, 0, false)
		<-done
		if err := errors.Join(errOn, errOff); err != nil {
			return r, err
		}
		if c := cpuPerRequest(mOff); c > 0 {
			cpuRatios = append(cpuRatios, cpuPerRequest(mOn)/c)
		}
	}
	r.detail = egressCostNote(sc.ID, p.slice, ons, offs, cpuRatios)
	return r, nil
}

// cpuPerRequest is server CPU microseconds per completed request.
func cpuPerRequest(m measure) float64 {
	if m.res == nil || m.res.Requests == 0 {
		return 0
	}
	return m.cpu / float64(m.res.Requests) * 1e6
}

// medianIndex is the index of the median measurement by value (the lower
// middle one for an even count).
func medianIndex(ms []measure) int {
	idx := make([]int, len(ms))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case ms[a].value < ms[b].value:
			return -1
		case ms[a].value > ms[b].value:
			return 1
		}
		return 0
	})
	return idx[(len(idx)-1)/2]
}

// medianCI returns the median of xs and a distribution-free confidence
// interval of at least 95% for it: the k-th smallest and k-th largest
// values, k the largest with P(Binomial(n, ½) < k) ≤ 2.5%. With fewer
// than six values no such interval exists and lo, hi are NaN.
func medianCI(xs []float64) (med, lo, hi float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	k, cdf := 0, 0.0 // cdf = P(B < k+1) as k grows
	for j := 0; j < n; j++ {
		cdf += binomHalf(n, j)
		if cdf > 0.025 {
			break
		}
		k = j + 1
	}
	if k == 0 {
		return med, math.NaN(), math.NaN()
	}
	return med, s[k-1], s[n-k]
}

// binomHalf is P(B = j) for B ~ Binomial(n, ½).
func binomHalf(n, j int) float64 {
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
	return math.Exp(lg(n) - lg(j) - lg(n-j) - float64(n)*math.Ln2)
}

// pooled is total requests per second and server CPU microseconds per
// request over all of ms.
func pooled(ms []measure) (reqPerSec, cpuPerReq float64) {
	var reqs int64
	var secs, cpu float64
	for _, m := range ms {
		if m.res == nil {
			continue
		}
		reqs += m.res.Requests
		secs += m.res.Elapsed.Seconds()
		cpu += m.cpu
	}
	if reqs == 0 || secs == 0 {
		return 0, 0
	}
	return float64(reqs) / secs, cpu / float64(reqs) * 1e6
}

// egressCostNote writes the S1e paragraph.
func egressCostNote(id string, slice time.Duration, ons, offs []measure, cpuRatios []float64) string {
	var ratios []float64
	for i := range min(len(ons), len(offs)) {
		if offs[i].value > 0 {
			ratios = append(ratios, ons[i].value/offs[i].value)
		}
	}
	if len(ratios) == 0 {
		return ""
	}
	med, lo, hi := medianCI(ratios)
	onRate, onCPU := pooled(ons)
	offRate, offCPU := pooled(offs)
	var b strings.Builder
	fmt.Fprintf(&b, "**%s, the cost of egress accounting.** Twin cargates over the same data, egress on and off, "+
		"loaded alone in %d alternating pairs of %s slices. Throughput cost, 1 − the median on/off ratio of a pair: "+
		"**%.1f%%** (%s; pair ratios from %.3f to %.3f). Pooled over all slices: %.0f req/s on, %.0f off (%.1f%% "+
		"fewer); server CPU per request %.1f µs on, %.1f µs off (%+.1f%%).",
		id, len(ratios), slice, (1-med)*100, ciText(1-hi, 1-lo), slices.Min(ratios), slices.Max(ratios),
		onRate, offRate, (1-onRate/offRate)*100, onCPU, offCPU, (onCPU/offCPU-1)*100)
	if len(cpuRatios) > 0 {
		cmed, clo, chi := medianCI(cpuRatios)
		fmt.Fprintf(&b, " Loaded together in %d windows (so drift hits both alike), the on twin used **%+.1f%%** "+
			"server CPU per request (median; %s).", len(cpuRatios), (cmed-1)*100, ciText(clo-1, chi-1))
	}
	b.WriteString(" The load generator shares the two cores, so one slice moves by ±15%; the medians are the " +
		"figures to read.")
	return b.String()
}

// ciText describes a 95% interval given as fractions (NaN: none).
func ciText(lo, hi float64) string {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return "too few for a 95% interval"
	}
	return fmt.Sprintf("95%% confidence interval of the median %+.1f%% to %+.1f%%", lo*100, hi*100)
}
