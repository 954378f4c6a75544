package indexer

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/cache"
	"github.com/storacha/go-ucanto/principal/signer"
)

// ReadyCheck is one dependency /readyz reports on.
type ReadyCheck struct {
	// Name is shown in the /readyz answer ("claim store", "redis", …).
	Name string
	// Check returns nil when the dependency is reachable.
	Check func(ctx context.Context) error
	// Optional marks a dependency the service can answer without (a
	// cache): when it fails the service is "degraded", still ready.
	Optional bool
}

// APIConfig tunes the HTTP API.
type APIConfig struct {
	// PublicURL is the base URL this service is reached at, advertised as
	// the provider address in IPNI and routing answers. Empty: derived
	// from each request's Host.
	PublicURL string
	// Checks are the dependencies /readyz reports on.
	Checks []ReadyCheck
	// RoutingTimeout bounds a delegated-routing lookup.
	RoutingTimeout time.Duration
	// Names keeps the IPNS records of GET and PUT /routing/v1/ipns/{name};
	// nil: those answer "not supported".
	Names NameRecords
	// Intake bounds POST /claims.
	Intake IntakeConfig
}

// IntakeConfig bounds the claims intake. Zero fields take the Default…
// values.
type IntakeConfig struct {
	// MaxBodyBytes bounds a POST /claims body. A claim/cache message with
	// one claim and a delegation chain is a few KiB; the default leaves
	// room for MaxInvocations of them.
	MaxBodyBytes int64
	// BodyTimeout is how long a client has to send the whole body.
	BodyTimeout time.Duration
	// MaxConcurrent bounds the messages taken in at once; more get 429.
	MaxConcurrent int
	// Revoked, when set, is asked about every delegation of an
	// invocation's proof chain.
	Revoked Revoked
	// Denied, when set, refuses a message with a claim about content it
	// reports (the operator's denylist): such content is not made
	// locatable.
	Denied func(content multihash.Multihash) bool
	// Grant, when set, keeps the serve delegations spaces send in
	// access/delegate invocations (durably, before it returns); unset,
	// those invocations are refused.
	Grant func(context.Context, []ServeGrant) error
}

// Defaults for IntakeConfig.
const (
	DefaultIntakeMaxBody     = 1 << 20
	DefaultIntakeBodyTimeout = 10 * time.Second
	DefaultIntakeConcurrency = 8
)

// API serves the indexing service over HTTP.
type API struct {
	svc     *Service
	cfg     APIConfig
	log     *slog.Logger
	routing http.Handler
	// answers keeps encoded GET /claims answers for a short while: an
	// answer carries whole indexes, and encoding it is most of its cost.
	answers *cache.Local[[]byte]
	intake  *Intake
	// slots holds one token per message being taken in.
	slots chan struct{}
}

// Answer cache bounds: a reused answer is at most AnswerTTL old, and
// never outlives a claim stored in this process.
const (
	DefaultAnswerCacheBytes = 64 << 20
	AnswerTTL               = 30 * time.Second
)

// NewAPI returns the HTTP API of svc. reg takes the delegated-routing
// server's metrics; it may be nil.
func NewAPI(svc *Service, cfg APIConfig, reg prometheus.Registerer, log *slog.Logger) (*API, error) {
	if cfg.RoutingTimeout <= 0 {
		cfg.RoutingTimeout = 30 * time.Second
	}
	if cfg.Intake.MaxBodyBytes <= 0 {
		cfg.Intake.MaxBodyBytes = DefaultIntakeMaxBody
	}
	if cfg.Intake.BodyTimeout <= 0 {
		cfg.Intake.BodyTimeout = DefaultIntakeBodyTimeout
	}
	if cfg.Intake.MaxConcurrent <= 0 {
		cfg.Intake.MaxConcurrent = DefaultIntakeConcurrency
	}
	intake, err := NewIntake(svc, cfg.Intake.Revoked)
	if err != nil {
		return nil, err
	}
	intake.denied = cfg.Intake.Denied
	intake.grant = cfg.Intake.Grant
	answers, err := cache.NewLocal[[]byte]("indexer_answers", DefaultAnswerCacheBytes, reg)
	if err != nil {
		return nil, err
	}
	a := &API{svc: svc, cfg: cfg, log: log, answers: answers, intake: intake, slots: make(chan struct{}, cfg.Intake.MaxConcurrent)}
	r, err := a.routingHandler(reg)
	if err != nil {
		return nil, err
	}
	a.routing = r
	return a, nil
}

// Routes registers the API on mux: GET and POST /claims (and POST /), GET
// /claim/{cid}, the IPNI find routes, delegated routing v1 and the DID
// document. None collides with a gateway's /ipfs/ and /ipns/.
func (a *API) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /claims", a.withGzip(a.getClaims))
	mux.HandleFunc("POST /claims", a.postClaims)
	mux.HandleFunc("POST /{$}", a.postClaims) // where Storacha's service also takes invocations
	mux.HandleFunc("GET /claim/{cid}", a.getClaim)
	mux.HandleFunc("GET /multihash/{multihash}", a.findMultihash)
	mux.HandleFunc("GET /cid/{cid}", a.findCID)
	mux.Handle("/routing/v1/", a.routing)
	mux.HandleFunc("GET /.well-known/did.json", a.didDocument)
}

// OpsRoutes registers GET / (naming the service), /healthz and /readyz,
// for a process where the indexer owns the listener.
func (a *API) OpsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", a.root)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", a.Readyz)
}

func (a *API) root(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "cargate indexing service\n%s\n", a.svc.ID().DID())
	if ws, ok := a.svc.ID().(signer.WrappedSigner); ok {
		fmt.Fprintf(w, "%s\n", ws.Unwrap().DID())
	}
}

// Readyz reports each dependency; 503 when a required one is down,
// "degraded" when only optional ones are.
func (a *API) Readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, code := "ready", http.StatusOK
	sources := map[string]string{}
	for _, c := range a.cfg.Checks {
		if err := c.Check(ctx); err != nil {
			sources[c.Name] = "unreachable: " + err.Error()
			if c.Optional {
				if status == "ready" {
					status = "degraded"
				}
			} else {
				status, code = "unavailable", http.StatusServiceUnavailable
			}
			continue
		}
		sources[c.Name] = "ok"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"status": status, "sources": sources})
}

// didDocument serves the DID document used for did:web resolution.
func (a *API) didDocument(w http.ResponseWriter, r *http.Request) {
	id := a.svc.ID()
	doc := map[string]any{"@context": []string{"https://w3id.org/did/v1"}, "id": id.DID().String()}
	if ws, ok := id.(signer.WrappedSigner); ok {
		key := ws.Unwrap().DID().String()
		vm := id.DID().String() + "#owner"
		doc["verificationMethod"] = []map[string]string{{
			"id": vm, "type": "Ed25519VerificationKey2020", "controller": id.DID().String(),
			"publicKeyMultibase": strings.TrimPrefix(key, "did:key:"),
		}}
		doc["authentication"] = []string{vm}
		doc["assertionMethod"] = []string{vm}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

// withGzip compresses the answer when the client accepts gzip.
func (a *API) withGzip(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r) {
			h(w, r)
			return
		}
		gw := &gzipWriter{ResponseWriter: w}
		h(gw, r)
		if err := gw.Close(); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Debug("gzip close", "err", err)
		}
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}

// gzipWriter compresses only successful bodies: error answers go out
// plain (writeError clears Content-Encoding before WriteHeader).
type gzipWriter struct {
	http.ResponseWriter
	gz      *gzip.Writer
	decided bool
}

func (g *gzipWriter) WriteHeader(code int) {
	if !g.decided {
		g.decided = true
		if code == http.StatusOK && g.Header().Get("Content-Encoding") == "" {
			g.Header().Set("Content-Encoding", "gzip")
			g.Header().Del("Content-Length")
			g.gz = gzip.NewWriter(g.ResponseWriter)
		}
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.decided {
		g.WriteHeader(http.StatusOK)
	}
	if g.gz != nil {
		return g.gz.Write(b)
	}
	return g.ResponseWriter.Write(b)
}

func (g *gzipWriter) Close() error {
	if g.gz != nil {
		return g.gz.Close()
	}
	return nil
}
