package app

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/config"
)

// limits is what every listener of a process shares: one budget of
// connections (file descriptors) and the counter of what was refused.
type limits struct {
	cfg      config.ServerConfig
	conns    chan struct{} // one token per open connection
	rejected *prometheus.CounterVec
}

func newLimits(cfg config.ServerConfig, reg prometheus.Registerer) *limits {
	cfg = cfg.WithDefaults()
	budget := cfg.MaxConnections
	if budget == 0 {
		budget = max(64, fdLimit()*3/4)
	}
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cargate_http_rejected_total",
		Help: "Connections closed at once because the connection budget was spent (reason=connections), and requests answered 429 because too many were in flight (reason=requests).",
	}, []string{"reason"})
	if err := reg.Register(rejected); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			rejected = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return &limits{cfg: cfg, conns: make(chan struct{}, budget), rejected: rejected}
}

// server returns an http.Server for h with the configured timeouts, and
// ln limited to the shared connection budget.
func (l *limits) server(ln net.Listener, h http.Handler) (net.Listener, *http.Server) {
	return l.listener(ln), l.httpServer(l.limit(h))
}

// listener is ln limited to the shared connection budget.
func (l *limits) listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, tokens: l.conns, rejected: l.rejected.WithLabelValues("connections")}
}

// limit is h under the request limit (one per listener).
func (l *limits) limit(h http.Handler) http.Handler {
	return withRequestLimit(h, l.cfg.MaxConcurrentRequests, l.rejected.WithLabelValues("requests"))
}

// httpServer returns an http.Server for limited (h under limit) with
// the configured timeouts.
func (l *limits) httpServer(limited http.Handler) *http.Server {
	return &http.Server{
		Handler:           withDeadlines(limited, l.cfg),
		ReadHeaderTimeout: l.cfg.ReadHeaderTimeout,
		ReadTimeout:       l.cfg.ReadTimeout,
		IdleTimeout:       l.cfg.IdleTimeout,
		MaxHeaderBytes:    l.cfg.MaxHeaderBytes,
	}
}

// limitedListener closes connections past the budget as soon as they are
// accepted: they never wait in the kernel's backlog, where a flood would
// keep everyone else out until it ends.
type limitedListener struct {
	net.Listener
	tokens   chan struct{}
	rejected prometheus.Counter
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.tokens <- struct{}{}:
			return &limitedConn{Conn: c, release: sync.OnceFunc(func() { <-l.tokens })}, nil
		default:
			l.rejected.Inc()
			c.Close()
		}
	}
}

type limitedConn struct {
	net.Conn
	release func()
}

// CloseWrite lets net/http end its side before closing a connection it
// refuses (as it does for a request past MaxHeaderBytes), so the client
// reads the refusal instead of a reset.
func (c *limitedConn) CloseWrite() error { return closeWrite(c.Conn) }

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// withRequestLimit answers 429 with Retry-After past max requests in
// flight. Health checks are always answered: an orchestrator must not
// restart a process for being busy.
func withRequestLimit(next http.Handler, max int, rejected prometheus.Counter) http.Handler {
	slots := make(chan struct{}, max)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			rejected.Inc()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests in flight: retry shortly", http.StatusTooManyRequests)
		}
	})
}

// withDeadlines gives every write of a response its own deadline,
// WriteTimeout plus its size at MinWriteRate: a client that reads slower
// than that is disconnected instead of holding a connection and a
// goroutine for as long as it likes. It also lifts the request's read
// deadline once the body is read: http.Server's ReadTimeout would
// otherwise cancel the request's context in the middle of a long
// response.
func withDeadlines(next http.Handler, cfg config.ServerConfig) http.Handler {
	perByte := time.Second / time.Duration(cfg.MinWriteRate)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body == nil || r.Body == http.NoBody {
			_ = rc.SetReadDeadline(time.Time{})
		} else {
			r.Body = &bodyReader{ReadCloser: r.Body, rc: rc}
		}
		_ = rc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		next.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, base: cfg.WriteTimeout, perByte: perByte}, r)
		// What net/http flushes after the handler: at most its buffer.
		_ = rc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout + 4<<10*perByte))
	})
}

type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	base    time.Duration
	perByte time.Duration
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.base + time.Duration(len(b))*d.perByte))
	return d.ResponseWriter.Write(b)
}

func (d *deadlineWriter) Flush() {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.base + 4<<10*d.perByte))
	_ = d.rc.Flush()
}

func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// bodyReader lifts the read deadline when the body has been read whole.
type bodyReader struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
