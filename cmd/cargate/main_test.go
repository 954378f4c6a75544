package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/cargate/cargate/internal/config"
)

// TestEveryFlagDocumented keeps docs/configuration.md true: every row
// of its tables (| flag | variable | default | commands | meaning |)
// names the flag's variable and default as the code has them and exactly
// the commands that take the flag, and every flag of every command has a
// row.
func TestEveryFlagDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ env, def string }
	documented := map[string]map[string]row{} // flag -> command -> row
	for line := range strings.SplitSeq(string(doc), "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		cols := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cols) < 5 {
			t.Errorf("docs/configuration.md: row with %d columns, want 5: %s", len(cols), line)
			continue
		}
		name := strings.TrimPrefix(strings.Trim(cols[0], "`"), "--")
		if documented[name] == nil {
			documented[name] = map[string]row{}
		}
		for c := range strings.SplitSeq(cols[3], ",") {
			documented[name][strings.TrimSpace(c)] = row{env: strings.Trim(cols[1], "`"), def: strings.Trim(cols[2], "`")}
		}
	}
	registered := map[string]map[string]bool{} // flag -> commands
	for name, cmd := range commands {
		_, fs := newFlagSet(name, cmd)
		fs.VisitAll(func(f *flag.Flag) {
			if registered[f.Name] == nil {
				registered[f.Name] = map[string]bool{}
			}
			registered[f.Name][name] = true
			r, ok := documented[f.Name][name]
			switch {
			case !ok:
				t.Errorf("docs/configuration.md: no row says `--%s` is a flag of %q", f.Name, name)
				return
			case r.env != config.EnvName(f.Name):
				t.Errorf("docs/configuration.md: `--%s` variable %q, want %q", f.Name, r.env, config.EnvName(f.Name))
			}
			want := f.DefValue
			if want == "" {
				want = "—"
			}
			if r.def != want {
				t.Errorf("docs/configuration.md: `--%s` of %s defaults to %q in the docs, %q in the code", f.Name, name, r.def, want)
			}
		})
	}
	for name, cmds := range documented {
		for c := range cmds {
			if !registered[name][c] {
				t.Errorf("docs/configuration.md: says `--%s` is a flag of %q, which has no such flag", name, c)
			}
		}
	}
}

// TestEnvFillsUnsetFlags checks the CARGATE_ variables and their precedence.
func TestEnvFillsUnsetFlags(t *testing.T) {
	t.Setenv("CARGATE_LISTEN", "127.0.0.1:9999")
	t.Setenv("CARGATE_SHUTDOWN_GRACE", "3s")
	t.Setenv("CARGATE_DATA_DIR", "/from/env")
	cfg, fs := newFlagSet("serve", commands["serve"])
	if err := config.Parse(fs, []string{"--data-dir", "/from/flag"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9999" || cfg.ShutdownGrace.String() != "3s" {
		t.Errorf("env not applied: listen %q grace %s", cfg.Listen, cfg.ShutdownGrace)
	}
	if cfg.DataDir != "/from/flag" {
		t.Errorf("a flag must win over its variable: data dir %q", cfg.DataDir)
	}
	t.Setenv("CARGATE_SHARD_SIZE", "lots")
	_, fs = newFlagSet("import", commands["import"])
	if err := config.Parse(fs, nil); err == nil || !strings.Contains(err.Error(), "CARGATE_SHARD_SIZE") {
		t.Errorf("a bad variable must be named in the error, got %v", err)
	}
}
