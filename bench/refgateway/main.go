// Command refgateway is the benchmark's reference: boxo's gateway handler
// over boxo's stock blocks backend, reading from an offline blockservice
// over an in-memory blockstore. That is how IPFS's own gateways serve (with
// the network exchange replaced by nothing), so it is the baseline cargate
// is measured against.
//
// # Usage
//
//	refgateway -listen 127.0.0.1:8081 a.car b.car ...
//	refgateway -load-only big.car
//
// At start-up every block of every CAR is read, checked against its CID and
// put into the blockstore. The gateway then listens and prints one line
// "refgateway ready http://ADDR" on stdout; GET /healthz answers 200 from then
// on. SIGTERM or SIGINT stops it, draining requests for up to five seconds.
//
// With -load-only it loads the CARs, prints what it loaded and exits: the
// runner times this as the reference for import throughput (S9).
//
// # Errors
//
// A block whose bytes do not match its CID, or an unreadable CAR, stops
// start-up with a non-zero exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/gateway"
	blocks "github.com/ipfs/go-block-format"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	car "github.com/ipld/go-car/v2"
	"github.com/prometheus/client_golang/prometheus"
)

type config struct {
	listen   string
	loadOnly bool
	cars     []string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:8081", "address to serve on (loopback only)")
	flag.BoolVar(&cfg.loadOnly, "load-only", false, "load and verify the CARs, report, and exit")
	flag.Parse()
	cfg.cars = flag.Args()
	log.SetFlags(0)
	log.SetPrefix("refgateway: ")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, cfg config) error {
	bs := blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	start := time.Now()
	var total loadStats
	for _, path := range cfg.cars {
		st, err := loadCAR(ctx, bs, path)
		if err != nil {
			return fmt.Errorf("loading %s: %w", path, err)
		}
		total.blocks += st.blocks
		total.bytes += st.bytes
	}
	log.Printf("loaded %d blocks, %d bytes from %d CARs in %s",
		total.blocks, total.bytes, len(cfg.cars), time.Since(start).Round(time.Millisecond))
	if cfg.loadOnly {
		return nil
	}
	return serve(ctx, cfg.listen, bs)
}

func serve(ctx context.Context, listen string, bs blockstore.Blockstore) error {
	backend, err := gateway.NewBlocksBackend(blockservice.New(bs, offline.Exchange(bs)))
	if err != nil {
		return err
	}
	gwConf := gateway.Config{
		DeserializedResponses: true,
		NoDNSLink:             true,
		MetricsRegistry:       prometheus.NewRegistry(),
	}
	mux := http.NewServeMux()
	mux.Handle("/ipfs/", gateway.NewHandler(gwConf, backend))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("refgateway ready http://%s\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

type loadStats struct {
	blocks int
	bytes  int64
}

// loadCAR puts every block of a CARv1/v2 file into bs after checking that
// its bytes hash to its CID.
func loadCAR(ctx context.Context, bs blockstore.Blockstore, path string) (loadStats, error) {
	var st loadStats
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	br, err := car.NewBlockReader(f)
	if err != nil {
		return st, err
	}
	batch := make([]blocks.Block, 0, 256)
	for {
		blk, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, err
		}
		want, err := blk.Cid().Prefix().Sum(blk.RawData())
		if err != nil {
			return st, err
		}
		if !want.Equals(blk.Cid()) {
			return st, fmt.Errorf("block %s: bytes do not match the CID", blk.Cid())
		}
		batch = append(batch, blk)
		st.blocks++
		st.bytes += int64(len(blk.RawData()))
		if len(batch) == cap(batch) {
			if err := bs.PutMany(ctx, batch); err != nil {
				return st, err
			}
			batch = batch[:0]
		}
	}
	return st, bs.PutMany(ctx, batch)
}
