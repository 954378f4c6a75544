package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/ipfs/boxo/files"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/path"
)

// Denylist says whether a content path ("/ipfs/<cid>[/path]") is refused;
// where names the check that asked, for the refusals metric.
type Denylist interface {
	Denied(where, contentPath string) bool
}

// goneText is the whole body of a refusal: it names no reason and no list.
const goneText = "410 Gone: this content is not served by this gateway"

var errDenied = errors.New("this content is not served by this gateway")

// withDenylist refuses, before the response cache and before any content
// is read, requests whose path or subdomain names refused content. Names
// (/ipns/, DNSLink) are refused after resolution, by denyBackend; their
// answers are not immutable, so the response cache does not keep them.
func withDenylist(d Denylist, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/ipfs/") && d.Denied("path", r.URL.Path) {
			http.Error(w, goneText, http.StatusGone)
			return
		}
		for _, host := range []string{r.Host, r.Header.Get("X-Forwarded-Host")} {
			if label, ok := subdomainCID(host); ok && d.Denied("subdomain", "/ipfs/"+label+r.URL.Path) {
				http.Error(w, goneText, http.StatusGone)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// subdomainCID returns the first label of a <cid>.ipfs.<host> host. Any
// parent host is taken, configured or not: over-checking can only refuse
// a CID that is refused anyway.
func subdomainCID(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, _, ok := strings.Cut(host, ".ipfs.")
	return label, ok && label != ""
}

// denyBackend refuses refused content paths at the backend, whatever
// produced them: a path, a subdomain, an /ipns/ name or a DNSLink host
// (boxo resolves names to immutable paths before calling these).
type denyBackend struct {
	boxogw.IPFSBackend
	list Denylist
}

func (b denyBackend) check(p path.ImmutablePath) error {
	if b.list.Denied("resolved", p.String()) {
		return boxogw.NewErrorStatusCode(errDenied, http.StatusGone)
	}
	return nil
}

func (b denyBackend) Get(ctx context.Context, p path.ImmutablePath, r ...boxogw.ByteRange) (boxogw.ContentPathMetadata, *boxogw.GetResponse, error) {
	if err := b.check(p); err != nil {
		return boxogw.ContentPathMetadata{}, nil, err
	}
	return b.IPFSBackend.Get(ctx, p, r...)
}

func (b denyBackend) GetAll(ctx context.Context, p path.ImmutablePath) (boxogw.ContentPathMetadata, files.Node, error) {
	if err := b.check(p); err != nil {
		return boxogw.ContentPathMetadata{}, nil, err
	}
	return b.IPFSBackend.GetAll(ctx, p)
}

func (b denyBackend) GetBlock(ctx context.Context, p path.ImmutablePath) (boxogw.ContentPathMetadata, files.File, error) {
	if err := b.check(p); err != nil {
		return boxogw.ContentPathMetadata{}, nil, err
	}
	return b.IPFSBackend.GetBlock(ctx, p)
}

func (b denyBackend) Head(ctx context.Context, p path.ImmutablePath) (boxogw.ContentPathMetadata, *boxogw.HeadResponse, error) {
	if err := b.check(p); err != nil {
		return boxogw.ContentPathMetadata{}, nil, err
	}
	return b.IPFSBackend.Head(ctx, p)
}

func (b denyBackend) ResolvePath(ctx context.Context, p path.ImmutablePath) (boxogw.ContentPathMetadata, error) {
	if err := b.check(p); err != nil {
		return boxogw.ContentPathMetadata{}, err
	}
	return b.IPFSBackend.ResolvePath(ctx, p)
}

func (b denyBackend) GetCAR(ctx context.Context, p path.ImmutablePath, params boxogw.CarParams) (boxogw.ContentPathMetadata, io.ReadCloser, error) {
	if err := b.check(p); err != nil {
		return boxogw.ContentPathMetadata{}, nil, err
	}
	return b.IPFSBackend.GetCAR(ctx, p, params)
}
