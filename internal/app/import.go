package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/storacha/go-ucanto/did"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/config"
	"github.com/cargate/cargate/internal/importer"
)

// Import imports each path (a .car file, a file or directory to turn
// into UnixFS, or an .ipns-record) and prints each root CID (or /ipns/
// name) on stdout. With progress set, it draws a progress line on stderr.
func Import(ctx context.Context, cfg *config.Config, args []string, stdout, stderr io.Writer, progress bool, log *slog.Logger) error {
	if len(args) == 0 {
		return fmt.Errorf("import: give at least one path (a .car file, a file or a directory)")
	}
	records, paths := splitNameRecords(args)
	if err := importNameRecords(ctx, cfg, records, stdout); err != nil || len(paths) == 0 {
		return err
	}
	im, stop, err := newImporter(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer stop()
	for _, p := range paths {
		var bar *progressBar
		if progress {
			bar = newProgressBar(stderr, p)
			im.Progress = bar.add
		}
		roots, err := importOne(ctx, im, p)
		if bar != nil {
			bar.done()
		}
		if err != nil {
			return fmt.Errorf("import %s: %w", p, err)
		}
		for _, r := range roots {
			fmt.Fprintln(stdout, r.String())
		}
	}
	return nil
}

// newImporter builds an importer that publishes claims to the embedded
// indexer of the data dir or, with cfg.Indexer.URL, to a running indexer
// over its ucanto intake, POST /claims (the way to add content while `cargate serve` holds
// the data dir).
func newImporter(ctx context.Context, cfg *config.Config, log *slog.Logger) (*importer.Importer, func() error, error) {
	tmp := filepath.Join(cfg.DataDir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, nil, err
	}
	// Imports that were killed leave their temporary files: remove them.
	if files, freed, err := importer.SweepTemp(tmp); err != nil {
		log.Warn("could not sweep stale import files", "dir", tmp, "err", err)
	} else if files > 0 {
		log.Info("removed files of imports that did not finish", "dir", tmp, "files", files, "bytes", freed)
	}
	refuse, err := importRefusal(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	icfg := importer.Config{ShardSize: cfg.ShardSize, TempDir: tmp, Refuse: refuse}
	if cfg.Space != "" {
		var err error
		if icfg.Space, err = did.Parse(cfg.Space); err != nil {
			return nil, nil, fmt.Errorf("--space: %w", err)
		}
	}
	if cfg.Indexer.URL == "" {
		n, err := build(ctx, cfg, log)
		if errors.Is(err, syscall.EAGAIN) {
			err = fmt.Errorf("%w\n(the data dir is in use, probably by a running `cargate serve`: import through it with --indexer-url http://<its --listen address>)", err)
		}
		if err != nil {
			return nil, nil, err
		}
		return importer.New(n.blobs, n.indexer, n.id, n.id, icfg), n.stop, nil
	}
	id, err := loadKey(cfg)
	if err != nil {
		return nil, nil, err
	}
	blobs, err := openBlobs(ctx, cfg, prometheus.NewRegistry())
	if err != nil {
		return nil, nil, err
	}
	client, err := indexer.NewClient(cfg.Indexer.URL, indexer.ClientConfig{Timeout: cfg.Indexer.ClientTimeout})
	if err != nil {
		return nil, nil, err
	}
	proofs, err := readProofs(cfg.Proof)
	if err != nil {
		return nil, nil, err
	}
	pub, err := client.Publisher(ctx, id, proofs...)
	if err != nil {
		return nil, nil, fmt.Errorf("indexer at %s: %w", cfg.Indexer.URL, err)
	}
	return importer.New(blobs, pub, id, pub.Service(), icfg), func() error { return nil }, nil
}

func importOne(ctx context.Context, im *importer.Importer, path string) ([]cid.Cid, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().IsRegular() && strings.EqualFold(filepath.Ext(path), ".car") {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return im.ImportCAR(ctx, f)
	}
	root, err := im.ImportPath(ctx, path)
	if err != nil {
		return nil, err
	}
	return []cid.Cid{root}, nil
}

// progressBar draws bytes, blocks, rate and, for inputs of known size, an
// ETA, at most ten times a second.
type progressBar struct {
	w      io.Writer
	name   string
	total  int64
	bytes  atomic.Int64
	blocks atomic.Int64
	start  time.Time
	last   time.Time
}

func newProgressBar(w io.Writer, path string) *progressBar {
	return &progressBar{w: w, name: filepath.Base(path), total: sizeOf(path), start: time.Now()}
}

func sizeOf(path string) int64 {
	var total int64
	filepath.Walk(path, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return nil
	})
	return total
}

func (p *progressBar) add(n int) {
	p.bytes.Add(int64(n))
	p.blocks.Add(1)
	if now := time.Now(); now.Sub(p.last) > 100*time.Millisecond {
		p.last = now
		p.draw()
	}
}

func (p *progressBar) draw() {
	b := p.bytes.Load()
	el := time.Since(p.start).Seconds()
	rate := float64(b) / max(el, 1e-3)
	line := fmt.Sprintf("\r%s: %s, %d blocks, %s/s", p.name, human(float64(b)), p.blocks.Load(), human(rate))
	if p.total > 0 {
		pct := min(100, float64(b)*100/float64(p.total))
		eta := time.Duration(float64(p.total-b)/max(rate, 1)) * time.Second
		line += fmt.Sprintf(", %.0f%%, ETA %s", pct, eta.Truncate(time.Second))
	}
	fmt.Fprint(p.w, line+"   ")
}

func (p *progressBar) done() {
	p.draw()
	fmt.Fprintln(p.w)
}

func human(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}
