package main

import (
	"context"
	"log"
	"slices"

	"github.com/cargate/cargate/bench/datagen"
)

// The rows of S6 (indexer lookups) and S7 (serving from S3) have no
// reference figure: the reference gateway has neither an indexer nor an S3
// blob store. They are measured on cargate alone and set, in the report's
// second table, against another cargate figure from the same run (S2 for
// S6; S1 and S3 from local disk for S7).

// measureAlone checks sc on s, then times it there. A cold pass (every
// request once) is checked after it is timed, so the check does not warm
// what the pass means to find cold.
func measureAlone(ctx context.Context, p profile, sc scenario, s, ref *server, done []row) (row, error) {
	r := row{sc: sc}
	once := sc.On == onFresh || sc.On == onS3Fresh
	check := func() {
		var ok bool
		if sc.Check == checkClaims {
			r.check, ok = checkClaimsAnswers(ctx, sc, s.base, p.sample)
		} else {
			r.check, ok = compareGateways(ctx, sc, s.base, ref.base, p.sample)
		}
		r.mismatch = !ok
	}
	d := p.duration
	if sc.Long {
		d = p.long
	}
	if !once {
		check()
	}
	var err error
	if r.cand, err = measureOne(ctx, s, sc, p.warmup, d, 0, once); err != nil {
		return r, err
	}
	if once {
		check()
		if !r.mismatch {
			r.check += ", checked after the pass"
		}
	}
	if i := slices.IndexFunc(done, func(x row) bool { return x.sc.ID == sc.Versus }); sc.Versus != "" && i >= 0 {
		r.versus = done[i].cand
	}
	return r, nil
}

// runLater runs the rows that restart cargate (cold passes) or need the
// S3-backed cargate, after every other row, in this order: S6f on a
// restarted cargate; the local-disk halves of S7f and S7bf on a restarted
// cargate; then a second cargate over an S3 blob store for S7f, S7bf, S7
// and S7b.
func runLater(ctx context.Context, cfg config, p profile, set *datagen.Set, later []scenario,
	cand, ref *server, scratch string, done []row) ([]row, error) {
	var rows []row
	var s3rows []scenario
	for _, sc := range later {
		if sc.On == onNoEgress {
			r, err := measureEgressCost(ctx, p, set, sc, cand, ref, scratch)
			if err != nil {
				return rows, err
			}
			rows = append(rows, r)
			continue
		}
		if sc.On != onFresh {
			s3rows = append(s3rows, sc)
			continue
		}
		log.Printf("%s: restarting cargate for a cold pass", sc.ID)
		if err := cand.restart(ctx); err != nil {
			return rows, err
		}
		r, err := measureAlone(ctx, p, sc, cand, ref, done)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
	if len(s3rows) == 0 {
		return rows, nil
	}
	s3rs, err := runS3Rows(ctx, cfg, p, set, s3rows, cand, ref, scratch, append(slices.Clone(done), rows...))
	return append(rows, s3rs...), err
}

// runS3Rows imports the small directory and the large file into a fresh
// bucket, starts a cargate serving from it, and runs the S7 rows there,
// the cold passes first. When no S3 server can be reached the rows say so
// and the rest of the bench goes on.
func runS3Rows(ctx context.Context, cfg config, p profile, set *datagen.Set, scs []scenario,
	cand, ref *server, scratch string, done []row) ([]row, error) {
	notRun := func(why string) []row {
		rows := make([]row, len(scs))
		for i, sc := range scs {
			rows[i] = row{sc: sc, check: why}
		}
		return rows
	}
	st, why := openS3(ctx, cfg, scratch)
	if st == nil {
		log.Printf("S7: %s", why)
		return notRun(why), nil
	}
	defer st.cleanup()
	slices.SortStableFunc(scs, func(a, b scenario) int { // the cold passes first
		return boolInt(b.On == onS3Fresh) - boolInt(a.On == onS3Fresh)
	})
	// The same cold passes from local disk, in the same order, on a
	// restarted cargate: each pass asks for content no earlier one touched.
	diskCold := map[string]measure{}
	for i, sc := range scs {
		if sc.On != onS3Fresh {
			break
		}
		if i == 0 {
			log.Printf("S7: restarting cargate for the same cold passes from local disk")
			if err := cand.restart(ctx); err != nil {
				return nil, err
			}
		}
		m, err := measureOne(ctx, cand, sc, 0, 0, 0, true)
		if err != nil {
			return nil, err
		}
		diskCold[sc.ID] = m
	}
	log.Printf("S7: importing the small directory and the large file into %s", st.spec)
	s3srv, err := st.serve(ctx, cfg.cargate, set, scratch)
	if err != nil {
		return notRun("not run: " + err.Error()), err
	}
	defer s3srv.stop()
	var rows []row
	for _, sc := range scs {
		r, err := measureAlone(ctx, p, sc, s3srv, ref, done)
		if err != nil {
			return rows, err
		}
		if m, ok := diskCold[sc.ID]; ok {
			r.versus = m
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sortRows puts rows back in table order.
func sortRows(rows []row, table []scenario) {
	pos := func(id string) int { return slices.IndexFunc(table, func(sc scenario) bool { return sc.ID == id }) }
	slices.SortStableFunc(rows, func(a, b row) int { return pos(a.sc.ID) - pos(b.sc.ID) })
}
