package access

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestToken: ?authToken= first, then a Bearer header; anything
// over MaxTokenBytes is no token; TokenID hides the token.
func TestRequestToken(t *testing.T) {
	cases := []struct {
		url, auth, want string
	}{
		{"/ipfs/x?authToken=q1", "Bearer h1", "q1"},
		{"/ipfs/x", "Bearer h1", "h1"},
		{"/ipfs/x", "Basic h1", ""},
		{"/ipfs/x?format=raw", "", ""},
		{"/ipfs/x?authToken=" + strings.Repeat("a", MaxTokenBytes+1), "", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", c.url, nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if got := RequestToken(r); got != c.want {
			t.Errorf("%s %q: token %q, want %q", c.url, c.auth, got, c.want)
		}
	}
	if id := TokenID("secret"); len(id) != 32 || strings.Contains(id, "secret") || TokenID("") != "" {
		t.Fatalf("TokenID: %q", id)
	}
	if TokenOf(WithToken(context.Background(), "t")) != "t" || TokenOf(context.Background()) != "" {
		t.Fatal("token context round trip")
	}
}
