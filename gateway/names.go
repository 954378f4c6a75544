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

// notFoundNames maps "this name has no record / no DNSLink" to 404: boxo
// answers 500 for it, but an unknown name is the client's miss, not the
// gateway's failure.
type notFoundNames struct{ namesys.NameSystem }

func nameError(err error) error {
	if errors.Is(err, routing.ErrNotFound) || errors.Is(err, namesys.ErrResolveFailed) {
		return boxogw.NewErrorStatusCode(err, http.StatusNotFound)
	}
	return err
}

func (n notFoundNames) Resolve(ctx context.Context, p path.Path, opts ...namesys.ResolveOption) (namesys.Result, error) {
	res, err := n.NameSystem.Resolve(ctx, p, opts...)
	return res, nameError(err)
}

func (n notFoundNames) ResolveAsync(ctx context.Context, p path.Path, opts ...namesys.ResolveOption) <-chan namesys.AsyncResult {
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

// notFoundRecords does the same for ?format=ipns-record.
type notFoundRecords struct{ routing.ValueStore }

func (r notFoundRecords) GetValue(ctx context.Context, key string, opts ...routing.Option) ([]byte, error) {
	v, err := r.ValueStore.GetValue(ctx, key, opts...)
	return v, nameError(err)
}
