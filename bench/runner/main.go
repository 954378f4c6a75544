// Command runner is the benchmark harness: it generates the data sets,
// imports them into a fresh cargate data dir, starts cargate and the
// reference gateway (bench/refgateway) on free loopback ports, checks that
// both answer a sample of every scenario's requests with the same status and
// bytes, then loads each with the same workload and prints a table.
//
// # Usage
//
//	go run ./bench/runner -profile quick -cargate bin/cargate -out bench/results
//
// Profiles: full (about 4 minutes), quick (under a minute), smoke (seconds,
// tiny data; what the test runs). Without -cargate only the reference is
// measured. -cargate @reference runs a second reference as the candidate (an
// A/A run: the ratios then show the harness's own noise).
//
// S6 (indexer lookups) and S7 (serving from an S3 blob store) are cargate
// only. S7 needs an S3 server: -s3, else $CARGATE_TEST_S3_ENDPOINT, else
// (unless -services=false) the runner runs scripts/services.sh start and
// uses the versitygw it starts; without one the S7 rows say why.
//
// Output: the markdown table on stdout and in <out>/latest.md, and latency
// plots <out>/s1-latency.png and <out>/s3-latency.png. Generated data is
// cached under -work, keyed by profile and seed.
//
// # Errors
//
// The runner exits non-zero when a server fails to start, an import prints
// unexpected roots, or the byte-equality check fails for any scenario (the
// table is still written, with the mismatch in the check column).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// aaCandidate as -cargate runs a second reference gateway as the candidate.
const aaCandidate = "@reference"

type config struct {
	profile string // full, quick or smoke
	cargate string // path of the cargate binary, aaCandidate, or empty
	out     string // where latest.md and the plots go
	work    string // data cache and scratch
	seed    int64
	only    map[string]bool // scenario IDs to run; empty runs all
	refBin  string          // prebuilt refgateway; empty builds it
	// s3 is the S3 endpoint S7 serves from (default $CARGATE_TEST_S3_ENDPOINT).
	s3 string
	// services lets the runner run scripts/services.sh start when s3 is
	// empty, to get a local versitygw.
	services bool
	// pairs overrides the profile's number of S1e pairs (0: the profile's).
	pairs int
}

func main() {
	var cfg config
	var only string
	flag.StringVar(&cfg.profile, "profile", "quick", "full, quick or smoke")
	flag.StringVar(&cfg.cargate, "cargate", "", "cargate binary to measure (empty: reference only; "+aaCandidate+": A/A run)")
	flag.StringVar(&cfg.out, "out", "bench/results", "directory for latest.md and the plots")
	flag.StringVar(&cfg.work, "work", filepath.Join(os.TempDir(), "cargate-bench"), "data cache and scratch directory")
	flag.Int64Var(&cfg.seed, "seed", 1, "data set seed")
	flag.StringVar(&only, "only", "", "comma-separated scenario IDs to run (default all)")
	flag.StringVar(&cfg.refBin, "refgateway", "", "prebuilt reference gateway binary (default: go build ./bench/refgateway)")
	flag.StringVar(&cfg.s3, "s3", os.Getenv(s3EndpointEnv), "S3 endpoint for S7 (default $"+s3EndpointEnv+")")
	flag.BoolVar(&cfg.services, "services", true, "when -s3 is empty, run scripts/services.sh start for a local versitygw")
	flag.IntVar(&cfg.pairs, "pairs", 0, "S1e: pairs of slices and windows (default: the profile's; more narrows its interval)")
	flag.Parse()
	if only != "" {
		cfg.only = map[string]bool{}
		for _, id := range strings.Split(only, ",") {
			cfg.only[strings.TrimSpace(id)] = true
		}
	}
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg)
	if rep != nil {
		fmt.Print(rep.markdown())
	}
	if err == nil && rep.failed() {
		err = errors.New("byte-equality check failed: see the check column")
	}
	if err != nil {
		log.Print(err)
		stop()
		os.Exit(1)
	}
}
