package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cargate/cargate/gateway"
	"github.com/cargate/cargate/internal/access"
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
	mux := http.NewServeMux()
	ready, err := mountIndexer(ctx, mux, n)
	if err != nil {
		return err
	}
	return serveGateway(ctx, cfg, n, mux, ready)
}

// serveGateway serves the gateway over n's resolver on mux, beside what
// the caller mounted there, with egress accounting and metrics, until ctx
// ends; then it drains in-flight requests. ready answers /readyz.
func serveGateway(ctx context.Context, cfg *config.Config, n *node, mux *http.ServeMux, ready http.HandlerFunc) error {
	ns, err := nameSystem(cfg, n.names)
	if err != nil {
		return err
	}
	deny, err := n.denylist(ctx)
	if err != nil {
		return err
	}
	var refused gateway.Denylist // a nil *denylist.List must stay a nil interface
	if deny != nil {
		refused = deny
	}
	gw, err := gateway.New(gateway.Config{
		Denylist:         refused,
		Allowed:          n.allowed(),
		SubdomainHosts:   splitList(cfg.SubdomainHosts),
		RetrievalTimeout: cfg.RetrievalTimeout,
		NameSystem:       ns.NameSystem,
		Records:          ns.Records,
	}, n.resolverBlockstore(), n.reg, n.log)
	if err != nil {
		return err
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", readyOnly(ready))
	var content http.Handler = gw
	if n.grants != nil {
		content = access.WithTokens(gw) // grants with a token need the request's
	}
	mux.Handle("/", content)
	withEgress, err := startEgress(ctx, cfg, n)
	if err != nil {
		return err
	}
	withRateLimit, err := rateLimited(cfg, n)
	if err != nil {
		return err
	}
	servers, err := listen(cfg, n.reg, publicChain(mux, withRateLimit, withEgress, n.reg), opsHandler(n, ready), gw, n.log)
	if err != nil {
		return err
	}
	did := ""
	if n.id != nil {
		did = n.id.DID().String()
	}
	n.log.Info("cargate serving", "url", servers[0].url, "did", did, "indexer", cfg.Indexer.URL)
	return runUntilDone(ctx, cfg, servers, n.log)
}

// publicChain is the handler of the public listener around mux: metrics,
// rate limits, egress accounting, CONNECT tunnels. The fasthttp front
// runs it too, for the answers it gives itself.
func publicChain(mux http.Handler, withRateLimit, withEgress func(http.Handler) http.Handler, reg prometheus.Registerer) http.Handler {
	return gateway.WithMetrics(withRateLimit(withEgress(gateway.WithTunnel(mux))), reg)
}

func serveOn(ln net.Listener, h http.Handler, lim *limits, log *slog.Logger) *http.Server {
	ln, s := lim.server(ln, h)
	s.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s
}

// opsHandler serves metrics, pprof and the detailed readiness report, on
// their own listener.
func opsHandler(n *node, ready http.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg}))
	mux.HandleFunc("GET /readyz", ready)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", redactedCmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// readyOnly answers readiness on a public listener with "ready" or "not
// ready" and the status alone: the detailed report (which names the
// indexer's URL, Redis's address, error texts) is for operators, on the
// operations listener.
func readyOnly(detailed http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder() // a readiness report is small and rare
		detailed(rec, r)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if rec.Code != http.StatusOK {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	}
}

// redactedCmdline is pprof's cmdline with secret flag values masked: the
// operations listener must not hand out the node's key.
func redactedCmdline(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, strings.Join(redactArgs(os.Args), "\x00"))
}

// secretFlags are the flags whose values never leave the process.
var secretFlags = map[string]bool{"key": true}

// redactArgs returns args with the values of secretFlags masked, in
// every form the flag package accepts: -key v, --key v, --key=v.
func redactArgs(args []string) []string {
	out := append([]string(nil), args...)
	for i := 1; i < len(out); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(out[i], "-"), "=")
		if !strings.HasPrefix(out[i], "-") || !secretFlags[name] {
			continue
		}
		if hasValue {
			out[i] = out[i][:len(out[i])-len(value)] + "***"
		} else if i+1 < len(out) {
			out[i+1] = "***"
			i++
		}
	}
	return out
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
