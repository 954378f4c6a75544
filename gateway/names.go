package gateway

import (
	"context"
	"errors"
	"net/http"

	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/namesys"
	"github.com/ipfs/boxo/path"
	"github.com/libp2p/go-libp2p/core/routing"
)

// statusNames gives name failures their statuses (boxo answers 500 for
// all): a domain whose DNS answer has no DNSLink is 404, the domain said
// so; an IPNS name with no valid record is 502, as the gateway spec wants
// a 5xx for it (the conformance suite checks it with invalid records):
// a valid record may exist where this gateway cannot see it.
type statusNames struct{ namesys.NameSystem }

func nameError(err error) error {
	switch {
	case errors.Is(err, namesys.ErrMissingDNSLinkRecord):
		return boxogw.NewErrorStatusCode(err, http.StatusNotFound)
	case errors.Is(err, routing.ErrNotFound), errors.Is(err, namesys.ErrResolveFailed):
		return boxogw.NewErrorStatusCode(errors.New("no valid IPNS record found for this name"), http.StatusBadGateway)
	}
	return err
}

func (n statusNames) Resolve(ctx context.Context, p path.Path, opts ...namesys.ResolveOption) (namesys.Result, error) {
	res, err := n.NameSystem.Resolve(ctx, p, opts...)
	return res, nameError(err)
}

func (n statusNames) ResolveAsync(ctx context.Context, p path.Path, opts ...namesys.ResolveOption) <-chan namesys.AsyncResult {
	in := n.NameSystem.ResolveAsync(ctx, p, opts...)
	out := make(chan namesys.AsyncResult, 1)
	go func() {
		defer close(out)
		for r := range in {
			r.Err = nameError(r.Err)
			select {
			case out <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// statusRecords does the same for ?format=ipns-record.
type statusRecords struct{ routing.ValueStore }

func (r statusRecords) GetValue(ctx context.Context, key string, opts ...routing.Option) ([]byte, error) {
	v, err := r.ValueStore.GetValue(ctx, key, opts...)
	return v, nameError(err)
}
