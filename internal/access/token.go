package access

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// MaxTokenBytes bounds a token read from a request; a longer one is
// ignored (it cannot match any grant's).
const MaxTokenBytes = 512

type tokenKey struct{}

// WithToken returns ctx carrying the client's token.
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenOf is the token ctx carries ("" when none).
func TokenOf(ctx context.Context) string {
	t, _ := ctx.Value(tokenKey{}).(string)
	return t
}

// RequestToken is the token a request shows: ?authToken=, else an
// `Authorization: Bearer` header (as Freeway reads them).
func RequestToken(r *http.Request) string {
	var t string
	if strings.Contains(r.URL.RawQuery, "authToken=") { // most requests have none: no parse
		t = r.URL.Query().Get("authToken")
	}
	if t == "" {
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			t = strings.TrimSpace(v)
		}
	}
	if len(t) > MaxTokenBytes {
		return ""
	}
	return t
}

// TokenID names a token in egress events without revealing it: the first
// 16 bytes of its sha256, in hex ("" for no token).
func TokenID(token string) string {
	if token == "" {
		return ""
	}
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:16])
}

// WithTokens puts each request's token in its context, for Allowed.
func WithTokens(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := RequestToken(r); t != "" {
			r = r.WithContext(WithToken(r.Context(), t))
		}
		next.ServeHTTP(w, r)
	})
}
