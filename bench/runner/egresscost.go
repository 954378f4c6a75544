package main

import (
	"context"
	"fmt"
	"log"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cargate/cargate/bench/datagen"
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
// each side.

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
	r.detail = egressCostNote(sc.ID, p.slice, ons, offs)
	return r, nil
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
func egressCostNote(id string, slice time.Duration, ons, offs []measure) string {
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
	ci := "too few pairs for a 95% interval"
	if !math.IsNaN(lo) {
		ci = fmt.Sprintf("95%% confidence interval of the median %.1f%% to %.1f%%", (1-hi)*100, (1-lo)*100)
	}
	onRate, onCPU := pooled(ons)
	offRate, offCPU := pooled(offs)
	return fmt.Sprintf("**%s, the cost of egress accounting.** Twin cargates over the same data, egress on and off, "+
		"loaded in %d alternating pairs of %s slices. Cost, 1 − the median on/off ratio of a pair: **%.1f%%** (%s; "+
		"pair ratios from %.3f to %.3f). Pooled over all slices: %.0f req/s on, %.0f off (%.1f%% fewer); server CPU "+
		"per request %.1f µs on, %.1f µs off (%+.1f%%). The load generator shares the two cores, so a single slice "+
		"moves by ±15%%; the paired median is the figure to read.",
		id, len(ratios), slice, (1-med)*100, ci, slices.Min(ratios), slices.Max(ratios),
		onRate, offRate, (1-onRate/offRate)*100, onCPU, offCPU, (onCPU/offCPU-1)*100)
}
