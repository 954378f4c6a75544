package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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

// wantIDs is every row the table must have, in order.
var wantIDs = []string{"S1", "S1o", "S1e", "S2", "S3", "S3c", "S4", "S4c", "S5", "S5l", "S6", "S6f", "S7", "S7f", "S7b", "S7bf", "S8", "S9"}

func smoke(t *testing.T, cargate string) {
	t.Helper()
	out := t.TempDir()
	// S7 runs when a local S3 server is named (scripts/services.sh env);
	// the test never starts one itself.
	s3 := os.Getenv(s3EndpointEnv)
	rep, err := run(context.Background(), config{
		profile: "smoke", cargate: cargate, out: out, work: t.TempDir(), seed: 1, refBin: reference(t), s3: s3,
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rep.rows {
		ids = append(ids, r.sc.ID)
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
	if strings.Join(ids, " ") != strings.Join(wantIDs, " ") {
		t.Errorf("rows %v, want %v", ids, wantIDs)
	}
	md, err := os.ReadFile(filepath.Join(out, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range wantIDs {
		if !strings.Contains(string(md), "| "+id+" |") {
			t.Errorf("latest.md has no row %s", id)
		}
	}
	for _, png := range []string{"s1-latency.png", "s3-latency.png"} {
		if st, err := os.Stat(filepath.Join(out, png)); err != nil || st.Size() == 0 {
			t.Errorf("plot %s missing: %v", png, err)
		}
	}
}

// The harness against itself: a second reference as the candidate. This
// exercises generation, both servers, the byte-equality check, every
// scenario, the report and the plots without needing cargate.
func TestSmokeReferenceAgainstItself(t *testing.T) {
	smoke(t, aaCandidate)
}

// The real thing: build cargate from the repository and run every
// scenario against it. This fails (never skips) while cargate does not
// build or serve.
func TestSmokeCargate(t *testing.T) {
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cargate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/cargate")
	build.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cargate does not build: %v\n%s", err, out)
	}
	smoke(t, bin)
}
