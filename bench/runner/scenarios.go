package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/cargate/cargate/bench/datagen"
	"github.com/cargate/cargate/bench/load"
)

type unit string

const (
	reqPerSec unit = "req/s"
	mbPerSec  unit = "MB/s"
)

// checkMode says what the pre-timing comparison compares.
type checkMode int

const (
	checkBody   checkMode = iota // status and body bytes must be identical
	checkStatus                  // only the status (error bodies are free text)
	checkLines                   // status, and the body's lines in any order
	checkClaims                  // cargate only: each body a valid query-result CAR; an unknown multihash an empty one
)

// where says which server a row is measured on.
type where int

const (
	onBoth     where = iota // cargate and the reference, back to back
	onCargate               // the running cargate alone (no reference has the feature)
	onFresh                 // cargate alone, restarted just before, every request once (a cold pass)
	onS3                    // a second cargate whose blob store is S3 (versitygw), alone
	onS3Fresh               // the same, its first requests after start, every request once
	onNoEgress              // cargate restarted with egress accounting off, against itself with it on
)

// scenario is one row of the table.
type scenario struct {
	ID       string
	Title    string
	Unit     unit
	Conc     int
	Rate     float64 // open loop arrivals per second; 0 closed loop
	RateOf   string  // if set: open loop at RateFactor x the reference's result in that row
	Factor   float64
	Requests []load.Request
	Check    checkMode
	Expect   int // the status every response should have
	Long     bool
	Goal     goal
	NotRun   string // why the scenario is not run yet; empty when it is
	On       where  // which server(s); cargate-only rows have no reference figure
	Group    string // -only selects a row by its ID or its group (S6, S7)
	// Versus names the row whose cargate figure this cargate-only row is
	// set against in the second table ("" when the runner measures the
	// comparison itself, as for S7f), and VersusText says what that is.
	Versus       string
	VersusText   string
	ProbeUnknown string // checkClaims: a path that must answer an empty result
}

// cargateOnly reports whether the row has no reference figure.
func (sc scenario) cargateOnly() bool { return sc.On != onBoth }

// selected reports whether -only picks the row.
func (sc scenario) selected(only map[string]bool) bool {
	return only == nil || only[sc.ID] || (sc.Group != "" && only[sc.Group])
}

// goal is a target from issue 5; met is nil where there is none.
type goal struct {
	text string
	met  func(cand, ref *measure) bool
}

// profile says how long each scenario runs.
type profile struct {
	data     string        // datagen profile
	warmup   time.Duration // before each measured phase
	duration time.Duration // measured phase of small-request scenarios
	long     time.Duration // measured phase of large-body scenarios
	sample   int           // requests compared byte-for-byte per scenario
	coldKeys int           // multihashes S6f asks for, once each (0: all of S6's)
	// S1e: alternating pairs of slices, egress on and off, each slice a
	// sliceWarmup then a measured slice.
	rounds             int
	sliceWarmup, slice time.Duration
}

var profiles = map[string]profile{
	"full":  {data: "full", warmup: time.Second, duration: 5 * time.Second, long: 5 * time.Second, sample: 50, coldKeys: 500, rounds: 30, sliceWarmup: 200 * time.Millisecond, slice: time.Second},
	"quick": {data: "quick", warmup: 200 * time.Millisecond, duration: time.Second, long: time.Second, sample: 10, coldKeys: 200, rounds: 8, sliceWarmup: 100 * time.Millisecond, slice: 300 * time.Millisecond},
	"smoke": {data: "smoke", warmup: 100 * time.Millisecond, duration: 500 * time.Millisecond, long: 500 * time.Millisecond, sample: 5, rounds: 2, sliceWarmup: 50 * time.Millisecond, slice: 100 * time.Millisecond},
}

const smallConc = 32

// carAccept asks for the one CAR byte order both gateways can be compared on.
var carAccept = http.Header{"Accept": {"application/vnd.ipld.car; version=1; order=dfs; dups=n"}}

func paths(format string, args []string, h http.Header) []load.Request {
	out := make([]load.Request, len(args))
	for i, a := range args {
		out[i] = load.Request{Path: fmt.Sprintf(format, a), Header: h}
	}
	return out
}

func minRate(v float64) func(c, _ *measure) bool {
	return func(c, _ *measure) bool { return c.value >= v }
}

// buildScenarios lists every row, in table order, with its requests.
func buildScenarios(set *datagen.Set, p profile) []scenario {
	dir, big, hamt := set.SmallDir.Root, set.BigFile.Root, set.HAMT.Root
	s1Goal := goal{"≥10× ref req/s, p99 < 5 ms", func(c, r *measure) bool {
		return r.value > 0 && c.value >= 10*r.value && c.p99 < 5*time.Millisecond
	}}
	streamGoal := goal{"≥ 1,000 MB/s verified, 1 stream", minRate(1000)}
	claims := claimsRequests(set.SmallDir.CIDs)
	cold := claims
	if p.coldKeys > 0 {
		cold = sampleOf(claims, p.coldKeys)
	}
	return []scenario{
		{ID: "S1", Title: "4 KiB files by path, closed loop", Unit: reqPerSec, Conc: smallConc,
			Requests: paths("/ipfs/"+dir+"/%s", set.SmallDir.Names, nil), Expect: 200, Goal: s1Goal},
		{ID: "S1o", Title: "4 KiB files by path, open loop at 0.8× ref S1", Unit: reqPerSec, Conc: 2 * smallConc,
			RateOf: "S1", Factor: 0.8,
			Requests: paths("/ipfs/"+dir+"/%s", set.SmallDir.Names, nil), Expect: 200,
			Goal: goal{text: "p99 < 5 ms", met: func(c, _ *measure) bool { return c.p99 < 5*time.Millisecond }}},
		{ID: "S1e", Title: "S1 with egress accounting off (its cost: 1 − on/off)", Unit: reqPerSec, Conc: smallConc,
			On: onNoEgress, Group: "S1e", Requests: paths("/ipfs/"+dir+"/%s", set.SmallDir.Names, nil), Expect: 200,
			VersusText: "the same, egress on (twin cargates, median slice; see the note on S1e below)"},
		{ID: "S2", Title: "raw 4 KiB blocks by CID (?format=raw)", Unit: reqPerSec, Conc: smallConc,
			Requests: paths("/ipfs/%s?format=raw", set.SmallDir.CIDs, nil), Expect: 200,
			Goal: goal{"≥ 60,000 req/s", minRate(60000)}},
		{ID: "S3", Title: fmt.Sprintf("%s file, 1 stream", size(set.BigFile.Size)), Unit: mbPerSec, Conc: 1, Long: true,
			Requests: paths("/ipfs/%s", []string{big}, nil), Expect: 200, Goal: streamGoal},
		{ID: "S3c", Title: fmt.Sprintf("%s file, 8 clients", size(set.BigFile.Size)), Unit: mbPerSec, Conc: 8, Long: true,
			Requests: paths("/ipfs/%s", []string{big}, nil), Expect: 200,
			Goal: goal{"RSS < 300 MiB", func(c, _ *measure) bool { return c.rss > 0 && c.rss < 300<<20 }}},
		{ID: "S4", Title: fmt.Sprintf("?format=car of the %s file, 1 stream", size(set.BigFile.Size)), Unit: mbPerSec,
			Conc: 1, Long: true, Requests: paths("/ipfs/%s?format=car", []string{big}, carAccept), Expect: 200, Goal: streamGoal},
		{ID: "S4c", Title: fmt.Sprintf("?format=car of a %d-node dag-cbor DAG", set.CBOR.Nodes), Unit: mbPerSec, Conc: 4,
			Requests: paths("/ipfs/%s?format=car", []string{set.CBOR.Root}, carAccept), Expect: 200},
		{ID: "S5", Title: fmt.Sprintf("HAMT listing (%d entries)", len(set.HAMT.Names)), Unit: reqPerSec, Conc: 2,
			Requests: paths("/ipfs/%s/", []string{hamt}, nil), Expect: 200,
			// boxo lists a HAMT in the order its concurrent walk finishes,
			// which changes from request to request even on the reference.
			Check: checkLines},
		{ID: "S5l", Title: "lookups through the HAMT by path", Unit: reqPerSec, Conc: smallConc,
			Requests: paths("/ipfs/"+hamt+"/%s", set.HAMT.Names, nil), Expect: 200},
		{ID: "S6", Title: "indexer lookups GET /claims?multihash= (the S2 blocks), warm", Unit: reqPerSec,
			Conc: smallConc, On: onCargate, Group: "S6", Requests: claims,
			Check: checkClaims, Expect: 200, ProbeUnknown: claimsPath(set.Unknown[0]),
			Versus: "S2", VersusText: "S2: the same blocks by CID (?format=raw)"},
		{ID: "S6f", Title: fmt.Sprintf("the same, cold: fresh process, %d multihashes once each", len(cold)), Unit: reqPerSec,
			Conc: smallConc, On: onFresh, Group: "S6", Requests: cold,
			Check: checkClaims, Expect: 200, ProbeUnknown: claimsPath(set.Unknown[0]),
			Versus: "S2", VersusText: "S2: the same blocks by CID (?format=raw)"},
		{ID: "S7", Title: "4 KiB files by path (S1) from an S3 blob store (versitygw)", Unit: reqPerSec, Conc: smallConc, On: onS3, Group: "S7",
			Requests: paths("/ipfs/"+dir+"/%s", set.SmallDir.Names, nil), Expect: 200,
			Versus: "S1", VersusText: "S1: the same from local disk"},
		{ID: "S7f", Title: "S7, cold: fresh process, each file once", Unit: reqPerSec, Conc: smallConc,
			On: onS3Fresh, Group: "S7", Requests: paths("/ipfs/"+dir+"/%s", set.SmallDir.Names, nil), Expect: 200,
			VersusText: "the same pass from local disk (fresh process)"},
		{ID: "S7b", Title: fmt.Sprintf("%s file (S3) from the S3 blob store, 1 stream", size(set.BigFile.Size)), Unit: mbPerSec,
			Conc: 1, Long: true, On: onS3, Group: "S7", Requests: paths("/ipfs/%s", []string{big}, nil), Expect: 200,
			Versus: "S3", VersusText: "S3: the same from local disk"},
		{ID: "S7bf", Title: "S7b, cold: the first stream in a fresh process", Unit: mbPerSec,
			Conc: 1, Long: true, On: onS3Fresh, Group: "S7", Requests: paths("/ipfs/%s", []string{big}, nil), Expect: 200,
			VersusText: "the same first stream from local disk (fresh process)"},
		{ID: "S8", Title: "unknown CIDs (404)", Unit: reqPerSec, Conc: smallConc,
			Requests: paths("/ipfs/%s", set.Unknown, nil), Check: checkStatus, Expect: 404,
			Goal: goal{"≥ 80,000 req/s", minRate(80000)}},
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
