package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsPointDownwards holds the dependency rules of
// ../shared/DESIGN.md: gateway and indexer meet only in internal/app; the
// resolver knows neither; cache and internal/* (but app, and config,
// which reads every part's defaults) know none of the parts above them. Transitive dependencies count.
func TestImportsPointDownwards(t *testing.T) {
	const mod = "github.com/cargate/cargate/"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Deps " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	above := []string{"gateway", "resolver", "indexer", "internal/app"}
	forbidden := map[string][]string{
		"gateway":   {"indexer", "internal/app"},
		"resolver":  {"gateway", "indexer", "internal/app"},
		"indexer":   {"gateway", "resolver", "internal/app"},
		"cache":     above,
		"names":     above, // the name system: boxo and files only
		"ratelimit": above, // HTTP, Redis and metrics only
	}
	checked := 0
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		pkg = strings.TrimPrefix(pkg, mod)
		rules, ok := forbidden[pkg]
		// internal/config describes every part's settings and reads their
		// exported defaults, so that each is defined once.
		if !ok && strings.HasPrefix(pkg, "internal/") && pkg != "internal/app" && pkg != "internal/config" {
			rules, ok = above, true
		}
		if !ok {
			continue
		}
		checked++
		for dep := range strings.SplitSeq(deps, " ") {
			for _, f := range rules {
				if dep == mod+f {
					t.Errorf("%s depends on %s", pkg, f)
				}
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d packages: go list output not understood:\n%s", checked, out)
	}
}
