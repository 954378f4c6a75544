package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cargate/cargate/gateway"
	"github.com/cargate/cargate/internal/config"
)

// Serve runs every role in one process until ctx ends, then drains
// in-flight requests for up to cfg.ShutdownGrace.
func Serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	log.Info("starting cargate serve", cfg.Masked()...)
	n, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer n.stop()
	gw, err := gateway.New(gateway.Config{
		SubdomainHosts:   splitList(cfg.SubdomainHosts),
		RetrievalTimeout: cfg.RetrievalTimeout,
	}, n.resolverBlockstore(), n.reg, log)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ready") })
	if err := mountIndexer(mux, n); err != nil {
		return err
	}
	mux.Handle("/", gw)
	withEgress, err := startEgress(ctx, cfg, n)
	if err != nil {
		return err
	}
	handler := gateway.WithMetrics(withEgress(mux), n.reg)

	servers := []*http.Server{}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	servers = append(servers, serveOn(ln, handler, log))
	log.Info("cargate serving", "url", "http://"+ln.Addr().String()+"/", "did", n.id.DID().String())
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen %s: %w", cfg.MetricsListen, err)
		}
		servers = append(servers, serveOn(mln, opsHandler(n), log))
		log.Info("metrics serving", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	<-ctx.Done()
	log.Info("shutting down", "grace", cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Shutdown(sctx))
	}
	return errors.Join(errs...)
}

func serveOn(ln net.Listener, h http.Handler, log *slog.Logger) *http.Server {
	s := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s
}

// opsHandler serves metrics and pprof, on their own listener.
func opsHandler(n *node) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
