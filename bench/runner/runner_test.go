package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cargate/cargate/internal/testbin"
)

var (
	refOnce sync.Once
	refBin  string
	refErr  error
)

// reference builds bench/refgateway once per test binary.
func reference(t *testing.T) string {
	t.Helper()
	refOnce.Do(func() {
		dir, err := os.MkdirTemp("", "refgateway-")
		if err != nil {
			refErr = err
			return
		}
		refBin, refErr = buildReference(context.Background(), dir)
	})
	if refErr != nil {
		t.Fatal(refErr)
	}
	return refBin
}

// smokeIDs are the rows the smoke runs: one per kind of measurement
// (small files, a stream, a CAR, 404s). Every scenario runs in make bench;
// make test only checks that the harness works end to end.
var smokeIDs = []string{"S1", "S3", "S4", "S8"}

func smoke(t *testing.T, cargate string, ids []string) {
	t.Helper()
	out := t.TempDir()
	// S7 runs when a local S3 server is named (scripts/services.sh env);
	// the test never starts one itself.
	s3 := os.Getenv(s3EndpointEnv)
	only := map[string]bool{}
	for _, id := range ids {
		only[id] = true
	}
	rep, err := run(context.Background(), config{
		profile: "smoke", cargate: cargate, out: out, work: t.TempDir(), seed: 1, refBin: reference(t), s3: s3, only: only,
	})
	if err != nil {
		t.Fatal(err)
	}
	var rowIDs []string
	for _, r := range rep.rows {
		rowIDs = append(rowIDs, r.sc.ID)
		if r.mismatch {
			t.Errorf("%s: %s", r.sc.ID, r.check)
		}
		if r.sc.NotRun != "" {
			continue
		}
		if r.sc.cargateOnly() {
			// Only cargate has them; S7 also needs an S3 server.
			wantRun := cargate != aaCandidate && (r.sc.Group != "S7" || s3 != "")
			switch {
			case !wantRun && r.cand.ran:
				t.Errorf("%s ran without cargate or S3: %+v", r.sc.ID, r.cand)
			case !wantRun && !strings.HasPrefix(r.check, "not run: "):
				t.Errorf("%s: check %q does not say why it did not run", r.sc.ID, r.check)
			case wantRun && (!r.cand.ran || r.cand.value <= 0 || r.cand.note != ""):
				t.Errorf("%s did not measure cargate cleanly: %+v (%s)", r.sc.ID, r.cand, r.check)
			case wantRun && r.sc.Group == "S7" && r.cand.storage == nil:
				t.Errorf("%s: no storage read counts from /metrics", r.sc.ID)
			}
			continue
		}
		if !r.ref.ran || !r.cand.ran || r.ref.value <= 0 || r.cand.value <= 0 {
			t.Errorf("%s did not measure both gateways: cand %+v ref %+v", r.sc.ID, r.cand, r.ref)
		}
		if r.ref.note != "" || r.cand.note != "" {
			t.Errorf("%s: unexpected responses: cargate %q, reference %q", r.sc.ID, r.cand.note, r.ref.note)
		}
	}
	for _, id := range ids {
		if !slices.Contains(rowIDs, id) {
			t.Errorf("rows %v, want %s among them", rowIDs, id)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !strings.Contains(string(md), "| "+id+" |") {
			t.Errorf("latest.md has no row %s", id)
		}
	}
	for _, png := range []string{"s1-latency.png", "s3-latency.png"} {
		if !only[strings.ToUpper(png[:2])] {
			continue
		}
		if st, err := os.Stat(filepath.Join(out, png)); err != nil || st.Size() == 0 {
			t.Errorf("plot %s missing: %v", png, err)
		}
	}
}

// The harness against itself: a second reference as the candidate. This
// exercises generation, both servers, the byte-equality check, every
// scenario, the report and the plots without needing cargate.
func TestSmokeReferenceAgainstItself(t *testing.T) {
	smoke(t, aaCandidate, smokeIDs)
}

// The real thing: build cargate from the repository and run every
// scenario against it. This fails (never skips) while cargate does not
// build or serve.
func TestSmokeCargate(t *testing.T) {
	bin, err := testbin.Path()
	if err != nil {
		t.Fatalf("cargate does not build: %v", err)
	}
	smoke(t, bin, []string{"S1", "S3", "S4", "S6", "S8"})
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}
