package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cargate/cargate/bench/datagen"
	"github.com/cargate/cargate/bench/load"
)

// measure is one gateway's figures for one row.
type measure struct {
	ran   bool
	value float64 // in the row's unit
	p99   time.Duration
	rss   int64   // peak bytes in the measured window
	cpu   float64 // seconds in the measured window
	res   *load.Result
	note  string // unexpected statuses or failures
	// storage is cargate's blob store reads (count and bytes) per served
	// request over the measured window, from /metrics; nil when unknown.
	storage *storageCounts
}

// row is one line of the table.
type row struct {
	sc       scenario
	cand     measure
	ref      measure
	check    string
	mismatch bool
	rate     float64 // open-loop arrival rate used, if any
	versus   measure // cargate-only rows: the cargate figure they are set against
	detail   string  // a paragraph the report prints after the tables (S1e)
}

func run(ctx context.Context, cfg config) (*report, error) {
	p, ok := profiles[cfg.profile]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q (want full, quick or smoke)", cfg.profile)
	}
	if cfg.pairs > 0 {
		p.rounds = cfg.pairs
	}
	started := time.Now()
	log.Printf("generating data (%s profile, seed %d) under %s", p.data, cfg.seed, cfg.work)
	set, err := datagen.Generate(ctx, cfg.work, cfg.seed, p.data, datagen.Profiles[p.data])
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(cfg.work, "run-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	refBin := cfg.refBin
	if refBin == "" {
		if refBin, err = buildReference(ctx, scratch); err != nil {
			return nil, err
		}
	}
	rep := &report{cfg: cfg, prof: p, set: set, started: started}
	var s9 *row
	if cfg.only == nil || cfg.only["S9"] {
		if s9, err = importRow(ctx, cfg, set, refBin, scratch); err != nil {
			return nil, err
		}
	}
	cand, ref, err := startGateways(ctx, cfg, set, refBin, scratch)
	defer cand.stop()
	defer ref.stop()
	if err != nil {
		return nil, err
	}
	scenarios := buildScenarios(set, p)
	var later []scenario // rows that restart cargate or need a second one
	for _, sc := range scenarios {
		if !sc.selected(cfg.only) {
			continue
		}
		var r row
		switch {
		case sc.On == onBoth:
			r, err = runScenario(ctx, p, sc, cand, ref, rep.rows)
		case cand == nil || cfg.cargate == aaCandidate:
			r = row{sc: sc, check: "not run: cargate only (no reference has it); needs -cargate <binary>"}
		case sc.On == onCargate:
			r, err = measureAlone(ctx, p, sc, cand, ref, rep.rows)
		default:
			later = append(later, sc)
			continue
		}
		if err != nil {
			return rep, err
		}
		rep.rows = append(rep.rows, r)
	}
	if len(later) > 0 {
		rows, err := runLater(ctx, cfg, p, set, later, cand, ref, scratch, rep.rows)
		rep.rows = append(rep.rows, rows...)
		if err != nil {
			return rep, err
		}
	}
	if cand != nil && slices.ContainsFunc(rep.rows, func(r row) bool { return slices.Contains(ceilingRows, r.sc.ID) && r.cand.ran }) {
		if rep.ceilings, err = measureCeilings(ctx, p, scenarios, scratch); err != nil {
			return rep, err
		}
	}
	sortRows(rep.rows, scenarios)
	if s9 != nil {
		rep.rows = append(rep.rows, *s9)
	}
	rep.elapsed = time.Since(started)
	return rep, rep.write(cfg.out)
}

// buildReference compiles bench/refgateway into dir.
func buildReference(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "refgateway")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/cargate/cargate/bench/refgateway")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the reference gateway: %w\n%s", err, out)
	}
	return bin, nil
}

// startGateways starts the reference and, when one is configured, the
// candidate (cargate over a fresh data dir, or a second reference).
func startGateways(ctx context.Context, cfg config, set *datagen.Set, refBin, scratch string) (cand, ref *server, err error) {
	ref, err = startReference(ctx, "reference", refBin, scratch, set)
	if err != nil {
		return nil, nil, err
	}
	switch cfg.cargate {
	case "":
		return nil, ref, nil
	case aaCandidate:
		cand, err = startReference(ctx, "candidate", refBin, scratch, set)
		return cand, ref, err
	}
	dataDir := filepath.Join(scratch, "cargate-data")
	log.Printf("importing %d CARs into %s", len(set.ServedCARs()), dataDir)
	if err := importServed(ctx, cfg.cargate, dataDir, set); err != nil {
		return nil, ref, err
	}
	cand, err = startCargate(ctx, "cargate", cfg.cargate, dataDir, scratch, nil, nil)
	return cand, ref, err
}

func runScenario(ctx context.Context, p profile, sc scenario, cand, ref *server, done []row) (row, error) {
	r := row{sc: sc}
	if sc.NotRun != "" {
		r.check = sc.NotRun
		return r, nil
	}
	d := p.duration
	if sc.Long {
		d = p.long
	}
	if sc.RateOf != "" {
		i := slices.IndexFunc(done, func(x row) bool { return x.sc.ID == sc.RateOf })
		if i < 0 || done[i].ref.value <= 0 {
			r.check = "not run: needs " + sc.RateOf + " for its arrival rate"
			return r, nil
		}
		r.rate = done[i].ref.value * sc.Factor
	}
	candBase := ""
	if cand != nil {
		candBase = cand.base
	}
	log.Printf("%s: checking, then %s per gateway", sc.ID, d)
	var ok bool
	r.check, ok = compareGateways(ctx, sc, candBase, ref.base, p.sample)
	r.mismatch = !ok
	var err error
	if r.ref, err = measureOne(ctx, ref, sc, p.warmup, d, r.rate, false); err != nil {
		return r, err
	}
	if cand != nil {
		if r.cand, err = measureOne(ctx, cand, sc, p.warmup, d, r.rate, false); err != nil {
			return r, err
		}
	}
	return r, nil
}

// measureOne runs sc's load against s: a warm-up and a measured phase, or
// with once every request once and no warm-up.
func measureOne(ctx context.Context, s *server, sc scenario, warmup, d time.Duration, rate float64, once bool) (measure, error) {
	var before storageCounts
	var haveBefore bool
	res, err := load.Run(ctx, load.Config{
		BaseURL:       s.base,
		Requests:      sc.Requests,
		Concurrency:   sc.Conc,
		Rate:          rate,
		Duration:      d,
		Warmup:        warmup,
		PID:           s.pid(),
		Seed:          1,
		Once:          once,
		Client:        s.client,
		BeforeMeasure: func() { before, haveBefore = scrapeStorage(ctx, s.metrics) },
	})
	if err != nil {
		return measure{}, fmt.Errorf("%s against %s: %w", sc.ID, s.name, err)
	}
	m := measure{ran: true, p99: res.Quantile(99), rss: res.Server.PeakRSS, cpu: res.Server.CPUSeconds, res: res}
	if after, ok := scrapeStorage(ctx, s.metrics); ok && haveBefore && res.Requests > 0 {
		n := float64(res.Requests)
		m.storage = &storageCounts{reads: (after.reads - before.reads) / n, bytes: (after.bytes - before.bytes) / n}
	}
	m.value = res.ReqPerSec()
	if sc.Unit == mbPerSec {
		m.value = res.MBPerSec()
	}
	var notes []string
	for status, n := range res.Status {
		if status != sc.Expect {
			notes = append(notes, fmt.Sprintf("%d×%d", n, status))
		}
	}
	for kind, n := range res.Errors {
		notes = append(notes, fmt.Sprintf("%d×%s", n, kind))
	}
	slices.Sort(notes)
	m.note = strings.Join(notes, " ")
	return m, nil
}

// importRow times S9: cargate importing the import CAR into an empty data
// dir, against the reference loading and hash-checking the same CAR into
// its in-memory blockstore, as it does at start-up.
func importRow(ctx context.Context, cfg config, set *datagen.Set, refBin, scratch string) (*row, error) {
	sc := scenario{ID: "S9", Title: fmt.Sprintf("import of a %s CAR", size(set.Import.Size)), Unit: mbPerSec}
	r := &row{sc: sc, check: "roots match"}
	st, err := os.Stat(set.Import.CAR)
	if err != nil {
		return nil, err
	}
	if err := warmFile(set.Import.CAR); err != nil {
		return nil, err
	}
	log.Printf("S9: timing imports of %s", set.Import.CAR)
	toMeasure := func(res *importResult) measure {
		return measure{ran: true, value: float64(st.Size()) / 1e6 / res.elapsed.Seconds(), rss: res.peakRSS, cpu: res.cpu}
	}
	refRes, err := timedRun(ctx, refBin, "-load-only", set.Import.CAR)
	if err != nil {
		return nil, err
	}
	r.ref = toMeasure(refRes)
	switch cfg.cargate {
	case "":
		r.check = "reference only"
		return r, nil
	case aaCandidate:
		res, err := timedRun(ctx, refBin, "-load-only", set.Import.CAR)
		if err != nil {
			return nil, err
		}
		r.cand = toMeasure(res)
		return r, nil
	}
	dataDir := filepath.Join(scratch, "import-data")
	defer os.RemoveAll(dataDir)
	res, err := timedRun(ctx, cfg.cargate, "import", "--data-dir", dataDir, "--quiet", set.Import.CAR)
	if err != nil {
		return nil, err
	}
	if len(res.roots) != 1 || res.roots[0] != set.Import.Root {
		r.mismatch = true
		r.check = fmt.Sprintf("cargate import printed %v, want %s", res.roots, set.Import.Root)
	}
	r.cand = toMeasure(res)
	return r, nil
}
