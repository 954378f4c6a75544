// Command cargate is a content-addressed retrieval gateway and indexer.
// This file is wiring only: it parses flags and environment into a
// config and hands it to internal/app.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cargate/cargate/internal/app"
	"github.com/cargate/cargate/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	summary string
	flags   []string
	run     func(ctx context.Context, cfg *config.Config, args []string, log *slog.Logger) error
}

var commands = map[string]command{
	"serve": {
		summary: "run the gateway and the indexer in one process",
		flags:   []string{"data-dir", "listen", "metrics-listen", "blob-store", "key-file", "key", "did-web", "subdomain-hosts", "http-front", "retrieval-timeout", "shutdown-grace", "denylist", "denylist-poll", "require-serve-delegation", "log-format", "log-level"},
		run: func(ctx context.Context, cfg *config.Config, _ []string, log *slog.Logger) error {
			return app.Serve(ctx, cfg, log)
		},
	},
	"indexer": {
		summary: "run the indexing service alone (claims, IPNI find, delegated routing)",
		flags:   []string{"data-dir", "listen", "metrics-listen", "blob-store", "key-file", "key", "did-web", "shutdown-grace", "denylist", "denylist-poll", "log-format", "log-level"},
		run: func(ctx context.Context, cfg *config.Config, _ []string, log *slog.Logger) error {
			return app.ServeIndexer(ctx, cfg, log)
		},
	},
	"gateway": {
		summary: "run the gateway alone, locating content through --indexer-url",
		flags:   []string{"data-dir", "listen", "metrics-listen", "subdomain-hosts", "http-front", "retrieval-timeout", "shutdown-grace", "denylist", "denylist-poll", "log-format", "log-level"},
		run: func(ctx context.Context, cfg *config.Config, _ []string, log *slog.Logger) error {
			return app.ServeGateway(ctx, cfg, log)
		},
	},
	"delegate": {
		summary: "print a delegation letting --audience write claims to this node's indexer",
		flags:   []string{"data-dir", "key-file", "key", "did-web", "log-format", "log-level"},
		run: func(ctx context.Context, cfg *config.Config, _ []string, log *slog.Logger) error {
			return app.Delegate(ctx, cfg, os.Stdout)
		},
	},
	"deny": {
		summary: "add content to a denylist file, as hashes: cargate deny --denylist FILE CID|/ipfs/CID/PATH...",
		flags:   []string{"denylist", "log-format", "log-level"},
		run: func(ctx context.Context, cfg *config.Config, args []string, log *slog.Logger) error {
			return app.Deny(ctx, cfg, args, os.Stdout)
		},
	},
	"revoke": {
		summary: "revoke delegations (by CID or file) this node's indexer accepted: cargate revoke CID|FILE...",
		flags:   []string{"data-dir", "log-format", "log-level"},
		run: func(ctx context.Context, cfg *config.Config, args []string, log *slog.Logger) error {
			return app.Revoke(ctx, cfg, args, os.Stdout)
		},
	},
	"egress consume": {
		summary: "total egress events per space per day from SQS or the local spool",
		flags:   []string{"data-dir", "log-format", "log-level"},
		run: func(ctx context.Context, cfg *config.Config, _ []string, log *slog.Logger) error {
			return app.ConsumeEgress(ctx, cfg, log)
		},
	},
	"egress report": {
		summary: "print egress totals in bytes per space per day",
		flags:   []string{"data-dir", "log-format", "log-level"},
		run: func(ctx context.Context, cfg *config.Config, _ []string, log *slog.Logger) error {
			return app.ReportEgress(ctx, cfg, os.Stdout)
		},
	},
	"import": {
		summary: "import CAR files, files or directories: cargate import PATH...",
		flags:   []string{"data-dir", "blob-store", "key-file", "key", "did-web", "shard-size", "space", "quiet", "denylist", "log-format", "log-level"},
		run: func(ctx context.Context, cfg *config.Config, args []string, log *slog.Logger) error {
			progress := !cfg.Quiet && isTerminal(os.Stdout) && isTerminal(os.Stderr)
			return app.Import(ctx, cfg, args, os.Stdout, os.Stderr, progress, log)
		},
	},
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		return 2
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Println("cargate", version)
		return 0
	}
	name := args[0]
	if name == "egress" && len(args) > 1 {
		name, args = "egress "+args[1], args[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "cargate: unknown command %q\n\n", args[0])
		usage()
		return 2
	}
	cfg, fs := newFlagSet(name, cmd)
	if err := config.Parse(fs, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "cargate:", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "cargate: invalid configuration:\n"+err.Error())
		return 2
	}
	log := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, cfg, fs.Args(), log); err != nil {
		fmt.Fprintln(os.Stderr, "cargate:", err)
		return 1
	}
	return 0
}

// newFlagSet returns the config and flag set of a command.
func newFlagSet(name string, cmd command) (*config.Config, *flag.FlagSet) {
	cfg := &config.Config{DataDir: config.DefaultDataDir} // also for commands that do not take --data-dir
	fs := flag.NewFlagSet("cargate "+name, flag.ContinueOnError)
	cfg.Flags(fs, cmd.flags...)
	switch name {
	case "serve", "gateway", "indexer":
		cfg.Server.Flags(fs)
	}
	switch name {
	case "serve", "gateway":
		cfg.RateLimit.Flags(fs)
	}
	switch name {
	case "serve":
		cfg.Indexer.Flags(fs)
		cfg.Indexer.FetchFlags(fs)
		cfg.Egress.Flags(fs, "produce")
		cfg.Names.Flags(fs)
	case "gateway":
		cfg.Indexer.ClientFlags(fs)
		cfg.Indexer.FetchFlags(fs)
		cfg.Egress.Flags(fs, "produce")
		cfg.Names.Flags(fs)
	case "indexer":
		cfg.Indexer.Flags(fs)
		cfg.Indexer.FetchFlags(fs)
	case "import":
		fs.StringVar(&cfg.Indexer.URL, "indexer-url", "", "publish claims to this running indexer (POST /claims) instead of the data dir's own claim store")
		fs.StringVar(&cfg.Proof, "proof", "", "file holding the delegation (from `cargate delegate`) that lets this key write to --indexer-url")
	case "delegate":
		cfg.Delegate.Flags(fs)
	case "egress consume":
		cfg.Egress.Flags(fs, "consume")
	case "egress report":
		cfg.Egress.Flags(fs, "report")
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "cargate %s: %s\n\nFlags (each also set by its %s… environment variable):\n", name, cmd.summary, config.EnvPrefix)
		fs.PrintDefaults()
	}
	return cfg, fs
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cargate <command> [flags] [args]\n\ncommands:")
	for _, name := range []string{"serve", "gateway", "indexer", "import", "delegate", "revoke", "deny", "egress consume", "egress report"} {
		fmt.Fprintf(os.Stderr, "  %-15s %s\n", name, commands[name].summary)
	}
	fmt.Fprintf(os.Stderr, "  %-15s %s\n\nRun 'cargate <command> --help' for its flags.\n", "version", "print the version")
}

func newLogger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" || (cfg.LogFormat == "auto" && isTerminal(os.Stderr)) {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
