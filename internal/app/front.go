package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"

	"github.com/cargate/cargate/gateway"
	"github.com/cargate/cargate/internal/prom"
)

// front serves the gateway's public listener with fasthttp. It answers
// one kind of request itself: one the response cache holds an answer for
// (Gateway.Lookup, with the cache's own key rules). Such a request still
// runs the whole handler chain net/http runs (request limit, metrics,
// egress, CORS, denylist, and any layer added later), over a
// ResponseWriter that fills fasthttp's response; only the connection
// handling, parsing and writing are fasthttp's. Every other request
// (misses, ranges, bodies, CONNECT, health checks, anything odd) is
// handed to net/http unchanged: fasthttp gives up the connection, which
// replays the request's bytes and then reads on, and stays with net/http.
type front struct {
	gw      *gateway.Gateway
	chain   http.Handler // the listener's handler under the request limit
	fast    *fasthttp.Server
	slow    *http.Server
	handoff *handoffListener
	base    time.Duration // write deadline of a response: base + size*perByte
	perByte time.Duration
	log     *slog.Logger

	answered, handedOff prometheus.Counter
}

// prefetchedBody is how much of a request body of known length fasthttp
// reads before calling the handler when it streams bodies
// (readBodyWithStreaming in fasthttp v1.78.0): a hand-off replays it.
const prefetchedBody = 8 << 10

// netChunkingSize is the body size past which net/http sends a response
// without a Content-Length header chunked (bufferBeforeChunkingSize):
// such kept answers are left to net/http.
const netChunkingSize = 2048

// serveFront starts the fasthttp front on ln (already under the
// connection budget) with net/http behind it.
func serveFront(ln net.Listener, h http.Handler, gw *gateway.Gateway, lim *limits, reg prometheus.Registerer, log *slog.Logger) *front {
	chain := lim.limit(h)
	outcomes := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cargate_http_front_total",
		Help: "Requests the fasthttp front answered itself from kept answers (outcome=answered), and connections it handed to net/http (outcome=handed_off; later requests on them are net/http's).",
	}, []string{"outcome"}))
	f := &front{
		gw:      gw,
		chain:   chain,
		slow:    lim.httpServer(chain),
		handoff: newHandoffListener(ln.Addr()),
		base:    lim.cfg.WriteTimeout,
		perByte: time.Second / time.Duration(lim.cfg.MinWriteRate),
		log:     log,

		answered:  outcomes.WithLabelValues("answered"),
		handedOff: outcomes.WithLabelValues("handed_off"),
	}
	f.slow.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	readTimeout := lim.cfg.ReadTimeout
	f.fast = &fasthttp.Server{
		Handler:     f.serve,
		ReadTimeout: lim.cfg.ReadHeaderTimeout,
		// A request with a body may take the whole read timeout for
		// the part fasthttp reads before handing it off.
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			if cl := h.ContentLength(); cl != 0 && cl != -2 {
				return fasthttp.RequestConfig{ReadTimeout: readTimeout}
			}
			return fasthttp.RequestConfig{}
		},
		IdleTimeout:                  lim.cfg.IdleTimeout,
		WriteTimeout:                 lim.cfg.WriteTimeout,
		ReadBufferSize:               lim.cfg.MaxHeaderBytes, // the whole head must fit: larger answers 431
		Concurrency:                  cap(lim.conns) + 1,     // the budget is the listener's
		StreamRequestBody:            true,                   // bodies are net/http's to read
		DisablePreParseMultipartForm: true,
		KeepHijackedConns:            true,
		ReduceMemoryUsage:            true, // idle keep-alive connections hold no read buffer
		CloseOnShutdown:              true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		Logger:                       fastLogger{log},
		ErrorHandler:                 refuse,
	}
	go func() {
		if err := f.slow.Serve(f.handoff); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	go func() {
		if err := f.fast.Serve(lingerListener{ln}); err != nil {
			log.Error("server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return f
}

// Shutdown stops accepting, lets fasthttp finish its requests (a hand-off
// in flight still reaches net/http), then drains net/http.
func (f *front) Shutdown(ctx context.Context) error {
	err := f.fast.ShutdownWithContext(ctx)
	return errors.Join(err, f.slow.Shutdown(ctx))
}

// Close stops both servers at once.
func (f *front) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = f.fast.ShutdownWithContext(ctx)
	return f.slow.Close()
}

// serve answers a kept answer or hands the request off.
func (f *front) serve(ctx *fasthttp.RequestCtx) {
	r, ok := request(ctx)
	if !ok {
		f.handOff(ctx)
		return
	}
	a, ok := f.gw.Lookup(r)
	if !ok || !sameAsNet(a, r.Method == http.MethodHead) {
		f.handOff(ctx)
		return
	}
	w := &fastWriter{ctx: ctx, header: make(http.Header, len(a.Header())+4), head: r.Method == http.MethodHead}
	defer func() {
		if p := recover(); p != nil {
			// As net/http does: no answer, the connection is dropped.
			if p != http.ErrAbortHandler {
				f.log.Error("panic serving a kept answer", "uri", r.RequestURI, "panic", fmt.Sprint(p))
			}
			ctx.Response.Reset()
			ctx.HijackSetNoResponse(true)
			ctx.Hijack(func(c net.Conn) { c.Close() })
		}
	}()
	f.answered.Inc()
	f.chain.ServeHTTP(w, gateway.WithAnswer(r, a))
	w.finish()
	_ = ctx.SetWriteDeadline(time.Now().Add(f.base + time.Duration(len(ctx.Response.Body()))*f.perByte))
}

// sameAsNet reports whether fasthttp writes a kept answer as net/http
// would: net/http computes a missing Content-Length only for a short GET
// body (longer ones it chunks), and sends none on a HEAD without one.
func sameAsNet(a gateway.Answer, head bool) bool {
	h := a.Header()
	if _, ok := h["Transfer-Encoding"]; ok {
		return false
	}
	if _, ok := h["Content-Length"]; ok {
		return true
	}
	return !head && len(a.Body()) <= netChunkingSize
}

// request builds the http.Request net/http would build for a GET or HEAD
// without a body, from the same bytes; ok=false for anything else, and
// for anything net/http would refuse or treat apart (it gets those).
func request(ctx *fasthttp.RequestCtx) (*http.Request, bool) {
	rh := &ctx.Request.Header
	method := string(rh.Method())
	if method != http.MethodGet && method != http.MethodHead {
		return nil, false
	}
	if cl := rh.ContentLength(); cl != 0 && cl != -2 {
		return nil, false
	}
	uri := string(rh.RequestURI())
	if len(uri) == 0 || uri[0] != '/' {
		return nil, false
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, false
	}
	header := make(http.Header, 8)
	hosts := 0
	var host string
	valid := true
	for k, v := range rh.AllInOrder() { // the wire's lines, duplicates included
		ks, vs := string(k), string(v)
		if !httpguts.ValidHeaderFieldName(ks) || !httpguts.ValidHeaderFieldValue(vs) {
			valid = false
			break
		}
		key := textproto.CanonicalMIMEHeaderKey(ks)
		if key == "Host" {
			hosts++
			host = vs
			continue
		}
		header[key] = append(header[key], vs)
	}
	if !valid || hosts != 1 || !httpguts.ValidHostHeader(host) {
		return nil, false
	}
	for _, k := range []string{"Expect", "Transfer-Encoding", "Content-Length", "Upgrade"} {
		if _, ok := header[k]; ok {
			return nil, false
		}
	}
	r := &http.Request{
		Method: method, URL: u, Header: header, Host: host, RequestURI: uri,
		Body: http.NoBody, RemoteAddr: ctx.RemoteAddr().String(),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
	if !rh.IsHTTP11() {
		r.Proto, r.ProtoMinor = "HTTP/1.0", 0
	}
	return r, true
}

// fastWriter is the ResponseWriter of a request answered by fasthttp: it
// fills ctx's response as net/http would have written it.
type fastWriter struct {
	ctx    *fasthttp.RequestCtx
	header http.Header
	status int
	head   bool
}

func (w *fastWriter) Header() http.Header { return w.header }

// WriteHeader takes the header as it stands, as net/http does.
func (w *fastWriter) WriteHeader(code int) {
	if w.status != 0 || code < 200 {
		return
	}
	w.status = code
	resp := &w.ctx.Response
	resp.Header.DisableNormalizing() // net/http writes keys as they are
	resp.SetStatusCode(code)
	for k, vs := range w.header {
		for _, v := range vs {
			resp.Header.Add(k, v)
		}
	}
}

// Write buffers the body; a HEAD answer's body is discarded, as net/http
// does.
func (w *fastWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.head {
		w.ctx.Response.AppendBody(b)
	}
	return len(b), nil
}

// finish adds what net/http adds to a response it holds whole: a
// Content-Type sniffed from the body when the handler set none.
func (w *fastWriter) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if _, typed := w.header["Content-Type"]; !typed && !w.head {
		if body := w.ctx.Response.Body(); len(body) > 0 {
			w.ctx.Response.Header.SetContentType(http.DetectContentType(body))
		}
	}
}

// handOff gives the connection to net/http, which reads this request's
// bytes again and then the rest of the connection.
func (f *front) handOff(ctx *fasthttp.RequestCtx) {
	head, err := replay(ctx)
	if err != nil {
		ctx.SetConnectionClose()
		ctx.Error("400 Bad Request", http.StatusBadRequest)
		return
	}
	f.handedOff.Inc()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) { f.handoff.give(&replayConn{Conn: c, head: head}) })
}

// replay returns the request's line and header block as received, then
// the part of its body fasthttp already read. An Expect: 100-continue
// line is left out: fasthttp has already answered it.
func replay(ctx *fasthttp.RequestCtx) ([]byte, error) {
	rh := &ctx.Request.Header
	raw := rh.RawHeaders()
	b := make([]byte, 0, 64+len(raw))
	b = append(b, rh.Method()...)
	b = append(b, ' ')
	b = append(b, rh.RequestURI()...)
	if rh.IsHTTP11() {
		b = append(b, " HTTP/1.1\r\n"...)
	} else {
		b = append(b, " HTTP/1.0\r\n"...)
	}
	if ctx.Request.MayContinue() {
		raw = withoutHeader(raw, "expect")
	}
	if len(raw) == 0 {
		raw = []byte("\r\n")
	}
	b = append(b, raw...)
	if cl := rh.ContentLength(); cl > 0 {
		pre := make([]byte, min(cl, prefetchedBody))
		if _, err := io.ReadFull(ctx.RequestBodyStream(), pre); err != nil {
			return nil, err
		}
		b = append(b, pre...)
	}
	return b, nil
}

// withoutHeader returns the header block raw without its name lines
// (name in lower case).
func withoutHeader(raw []byte, name string) []byte {
	out := make([]byte, 0, len(raw))
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line = raw[:i+1]
		}
		raw = raw[len(line):]
		k, _, ok := bytes.Cut(line, []byte(":"))
		if ok && string(bytes.ToLower(bytes.TrimSpace(k))) == name {
			continue
		}
		out = append(out, line...)
	}
	return out
}

// replayConn reads head first, then the connection.
type replayConn struct {
	net.Conn
	head []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// handoffListener is the listener net/http serves: the connections
// fasthttp hands off.
type handoffListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), closed: make(chan struct{}), addr: addr}
}

func (l *handoffListener) give(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// refuse answers a request fasthttp could not read, as net/http would, and
// has the connection linger on close: the client may still be sending
// what was refused, and closing on unread bytes resets the connection,
// which can destroy the answer before the client reads it.
func refuse(ctx *fasthttp.RequestCtx, err error) {
	if c, ok := ctx.Conn().(*lingerConn); ok {
		c.linger.Store(true)
	}
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		ctx.Error("431 Request Header Fields Too Large", http.StatusRequestHeaderFieldsTooLarge)
	case errors.As(err, &ne) && ne.Timeout():
		ctx.Error("408 Request Timeout", http.StatusRequestTimeout)
	default:
		ctx.Error("400 Bad Request", http.StatusBadRequest)
	}
}

// Lingering on a refused connection: at most this long, this many bytes.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 4 << 20
)

type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c}, nil
}

// lingerConn, once marked, closes by ending its side, reading what the
// client still sends for a while, then closing (in the background).
type lingerConn struct {
	net.Conn
	linger atomic.Bool
}

func (c *lingerConn) Close() error {
	if !c.linger.Load() {
		return c.Conn.Close()
	}
	go func() {
		_ = closeWrite(c.Conn)
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, lingerBytes))
		c.Conn.Close()
	}()
	return nil
}

// closeWrite ends the sending side of the TCP connection under c.
func closeWrite(c net.Conn) error {
	for {
		switch x := c.(type) {
		case *net.TCPConn:
			return x.CloseWrite()
		case *limitedConn:
			c = x.Conn
		case *lingerConn:
			c = x.Conn
		case *replayConn:
			c = x.Conn
		case interface{ UnsafeConn() net.Conn }: // fasthttp's hijacked connection
			c = x.UnsafeConn()
		default:
			return errors.ErrUnsupported
		}
	}
}

// CloseWrite lets net/http end its side before closing a connection it
// refuses (as it does for a request past MaxHeaderBytes), so the client
// reads the refusal instead of a reset.
func (c *replayConn) CloseWrite() error { return closeWrite(c.Conn) }

// fastLogger sends fasthttp's messages (mostly malformed requests, one per
// bad client) to the debug level.
type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	l.log.Debug("fasthttp: " + fmt.Sprintf(format, args...))
}
