package app

import (
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// lend hands one request to net/http and takes the connection back once
// net/http has answered it, so that a keep-alive client's later requests
// can still be answered by the front. It applies to a GET or HEAD without
// a body on HTTP/1.1 with no Connection header, whose head the connection
// still holds byte for byte; it reports false for anything else (the
// caller then hands the connection off for good). net/http reads the
// request's head, then nothing: its read for the next request finds the
// end of the connection, and its close then gives the connection back to
// fasthttp with the bytes the client sent after the head. A close before
// that (net/http ending the connection: an aborted answer, an error)
// closes it for real.
func (f *front) lend(ctx *fasthttp.RequestCtx, r *http.Request) bool {
	c, ok := ctx.Conn().(*frontConn)
	if !ok || !c.recording || r.ProtoMinor != 1 || len(r.Header["Connection"]) > 0 {
		return false
	}
	head := requestHead(&ctx.Request.Header)
	if len(c.record) < len(head) || string(c.record[:len(head)]) != string(head) {
		return false
	}
	rest := append([]byte(nil), c.record[len(head):]...)
	c.stopRecording()
	f.lent.Inc()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(net.Conn) {
		// fasthttp's view of the connection (and its read buffer, whose
		// bytes are in rest) is left behind: the request goes to net/http
		// on c itself, and c comes back to fasthttp afresh.
		f.handoff.give(&lentConn{conn: c, head: head, back: func() { f.resume(c, rest) }})
	})
	return true
}

// resume serves c with fasthttp again, first reading pending. Until its
// next request arrives, c is idle: fasthttp takes a connection for idle
// only 5 s after it opened, so Shutdown closes these itself.
func (f *front) resume(c *frontConn, pending []byte) {
	c.pending, c.recording, c.record = pending, true, nil
	_ = c.Conn.SetDeadline(time.Time{})
	c.resumedIdle.Store(len(pending) == 0)
	f.resumedMu.Lock()
	f.resumed[c] = struct{}{}
	f.resumedMu.Unlock()
	go func() {
		_ = f.fast.ServeConn(c)
		f.resumedMu.Lock()
		delete(f.resumed, c)
		f.resumedMu.Unlock()
	}()
}

// closeResumedIdle closes the resumed connections waiting for a request.
func (f *front) closeResumedIdle() {
	f.resumedMu.Lock()
	defer f.resumedMu.Unlock()
	for c := range f.resumed {
		if c.resumedIdle.Load() {
			c.Conn.Close()
		}
	}
}

// lentConn is the connection as net/http sees it for one lent request.
type lentConn struct {
	conn *frontConn
	head []byte
	back func()

	mu       sync.Mutex
	wake     chan struct{} // closed on a new read deadline or on close
	deadline time.Time
	waited   bool // the read after the head (net/http's background read) has returned
	atEnd    bool // the read for the next request was told the connection ended
	closed   bool
}

func (l *lentConn) Read(p []byte) (int, error) {
	l.mu.Lock()
	if len(l.head) > 0 {
		n := copy(p, l.head)
		l.head = l.head[n:]
		l.mu.Unlock()
		return n, nil
	}
	if l.waited || l.closed {
		// net/http reads for the next request only once the answer is
		// out: end of connection, and its close gives it back.
		l.atEnd = true
		l.mu.Unlock()
		return 0, io.EOF
	}
	// net/http's background read while the handler runs: it ends when
	// net/http moves the deadline to the past once the answer is written.
	for {
		if l.closed {
			l.mu.Unlock()
			return 0, net.ErrClosed
		}
		if !l.deadline.IsZero() && !time.Now().Before(l.deadline) {
			l.waited = true
			l.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		if l.wake == nil {
			l.wake = make(chan struct{})
		}
		wake, deadline := l.wake, l.deadline
		l.mu.Unlock()
		waitUntil(wake, deadline)
		l.mu.Lock()
	}
}

// waitUntil waits for wake to close or, if set, the deadline to pass.
func waitUntil(wake <-chan struct{}, deadline time.Time) {
	if deadline.IsZero() {
		<-wake
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C:
	}
}

func (l *lentConn) SetReadDeadline(t time.Time) error {
	l.mu.Lock()
	l.deadline = t
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
	l.mu.Unlock()
	return nil
}

func (l *lentConn) SetDeadline(t time.Time) error {
	_ = l.SetReadDeadline(t)
	return l.conn.Conn.SetWriteDeadline(t)
}

func (l *lentConn) SetWriteDeadline(t time.Time) error { return l.conn.Conn.SetWriteDeadline(t) }
func (l *lentConn) Write(p []byte) (int, error)        { return l.conn.Conn.Write(p) }
func (l *lentConn) LocalAddr() net.Addr                { return l.conn.LocalAddr() }
func (l *lentConn) RemoteAddr() net.Addr               { return l.conn.RemoteAddr() }
func (l *lentConn) CloseWrite() error                  { return closeWrite(l.conn.Conn) }

// Close gives the connection back to fasthttp when net/http was waiting
// for a next request, and closes it otherwise.
func (l *lentConn) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
	atEnd := l.atEnd
	l.mu.Unlock()
	if atEnd {
		l.back()
		return nil
	}
	return l.conn.Conn.Close()
}
