package gateway

import (
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
)

// maxRanges bounds the parts of one multipart/byteranges response; a
// request for more is served its first range only, as boxo does.
const maxRanges = 16

// withMultiRange answers a GET of a file with several byte ranges as
// multipart/byteranges (RFC 9110 §14.6). boxo's handler serves only the
// first range, so each part is produced by running the request through it
// again with that single range, streaming the part as it comes.
func withMultiRange(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ranges := splitRanges(r)
		if len(ranges) < 2 || len(ranges) > maxRanges {
			next.ServeHTTP(w, r)
			return
		}
		mw := multipart.NewWriter(w)
		for i, rg := range ranges {
			sub := r.Clone(r.Context())
			sub.Header.Set("Range", "bytes="+rg)
			pw := &partWriter{w: w, mw: mw, first: i == 0, header: http.Header{}}
			next.ServeHTTP(pw, sub)
			if pw.fallback {
				// The first part was not a 206 (an error, a directory, a
				// non-file): its response went to the client as it was.
				return
			}
			if !pw.ok {
				panic(http.ErrAbortHandler) // a later part failed: never end cleanly
			}
		}
		mw.Close()
	})
}

// splitRanges returns the ranges of a multi-range GET of file bytes; nil
// when the request is not one.
func splitRanges(r *http.Request) []string {
	h := r.Header.Get("Range")
	if r.Method != http.MethodGet || !strings.HasPrefix(h, "bytes=") || !strings.Contains(h, ",") || r.URL.Query().Get("format") != "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(strings.TrimPrefix(h, "bytes="), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// partWriter turns one single-range response into one part.
type partWriter struct {
	w        http.ResponseWriter
	mw       *multipart.Writer
	header   http.Header
	first    bool
	ok       bool
	fallback bool
	part     interface{ Write([]byte) (int, error) }
}

func (p *partWriter) Header() http.Header {
	if p.fallback {
		return p.w.Header()
	}
	return p.header
}

func (p *partWriter) WriteHeader(code int) {
	if p.ok || p.fallback {
		return
	}
	if code != http.StatusPartialContent {
		if p.first {
			p.fallback = true
			for k, v := range p.header {
				p.w.Header()[k] = v
			}
			p.w.WriteHeader(code)
		}
		return
	}
	if p.first {
		out := p.w.Header()
		for k, v := range p.header {
			if k != "Content-Length" && k != "Content-Range" && k != "Content-Type" {
				out[k] = v
			}
		}
		out.Set("Content-Type", "multipart/byteranges; boundary="+p.mw.Boundary())
		p.w.WriteHeader(http.StatusPartialContent)
	}
	ph := textproto.MIMEHeader{}
	if ct := p.header.Get("Content-Type"); ct != "" {
		ph.Set("Content-Type", ct)
	}
	ph.Set("Content-Range", p.header.Get("Content-Range"))
	part, err := p.mw.CreatePart(ph)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	p.part, p.ok = part, true
}

func (p *partWriter) Write(b []byte) (int, error) {
	if !p.ok && !p.fallback {
		p.WriteHeader(http.StatusOK)
	}
	switch {
	case p.fallback:
		return p.w.Write(b)
	case p.ok && p.part != nil:
		return p.part.Write(b)
	}
	return 0, fmt.Errorf("range part not served")
}
