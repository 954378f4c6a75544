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
var wantIDs = []string{"S1", "S1o", "S2", "S3", "S3c", "S4", "S4c", "S5", "S5l", "S6", "S7", "S8", "S9"}

func smoke(t *testing.T, cargate string) {
	t.Helper()
	out := t.TempDir()
	rep, err := run(context.Background(), config{
		profile: "smoke", cargate: cargate, out: out, work: t.TempDir(), seed: 1, refBin: reference(t),
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
