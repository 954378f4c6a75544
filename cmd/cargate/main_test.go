package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/cargate/cargate/internal/config"
)

// TestEveryFlagDocumented keeps docs/configuration.md in step with the
// flags: each flag of each command, and its environment variable, must
// appear there.
func TestEveryFlagDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, cmd := range commands {
		_, fs := newFlagSet(name, cmd)
		fs.VisitAll(func(f *flag.Flag) {
			for _, want := range []string{"`--" + f.Name + "`", "`" + config.EnvName(f.Name) + "`"} {
				if !strings.Contains(string(doc), want) {
					t.Errorf("docs/configuration.md lacks %s (flag of %q)", want, name)
				}
			}
		})
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
