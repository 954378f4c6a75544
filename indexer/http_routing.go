package indexer

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/routing/http/server"
	"github.com/ipfs/boxo/routing/http/types"
	"github.com/ipfs/boxo/routing/http/types/iter"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/prometheus/client_golang/prometheus"
)

// routingHandler serves delegated routing v1 (/routing/v1/providers/{cid})
// through boxo's server: this service is the provider of content it knows
// a location for, over the trustless-gateway HTTP transport.
func (a *API) routingHandler(reg prometheus.Registerer) (http.Handler, error) {
	opts := []server.Option{server.WithRoutingTimeout(a.cfg.RoutingTimeout)}
	if reg != nil {
		opts = append(opts, server.WithPrometheusRegistry(reg))
	}
	h := server.Handler(&router{a: a}, opts...)
	// The provider address may come from the request: pass it along.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey{}, r)))
	}), nil
}

type requestKey struct{}

// router adapts the Service to boxo's DelegatedRouter.
type router struct{ a *API }

var _ server.DelegatedRouter = (*router)(nil)

// TransportGatewayHTTP is the routing v1 protocol name of a trustless gateway.
const TransportGatewayHTTP = "transport-ipfs-gateway-http"

func (rt *router) FindProviders(ctx context.Context, c cid.Cid, limit int) (iter.ResultIter[types.Record], error) {
	claims, err := rt.a.svc.Claims(ctx, c.Hash())
	if err != nil {
		return nil, err
	}
	if len(claims) == 0 {
		return nil, routing.ErrNotFound
	}
	r, _ := ctx.Value(requestKey{}).(*http.Request)
	if r == nil {
		return nil, errors.New("routing: no request in context")
	}
	prov, err := rt.a.provider(r)
	if err != nil {
		return nil, err
	}
	rec := &types.PeerRecord{
		Schema:    types.SchemaPeer,
		ID:        &prov.ID,
		Protocols: []string{TransportGatewayHTTP},
	}
	for _, ma := range prov.Addrs {
		rec.Addrs = append(rec.Addrs, types.Multiaddr{Multiaddr: ma})
	}
	return iter.ToResultIter[types.Record](iter.FromSlice([]types.Record{rec})), nil
}

func (rt *router) ProvideBitswap(context.Context, *server.BitswapWriteProvideRequest) (time.Duration, error) {
	return 0, routing.ErrNotSupported
}

func (rt *router) FindPeers(context.Context, peer.ID, int) (iter.ResultIter[*types.PeerRecord], error) {
	return nil, routing.ErrNotSupported
}

// NameRecords keeps signed IPNS records. Get returns a valid record or
// routing.ErrNotFound; Put keeps rec if it is valid and better than the
// one kept (a valid but older record is accepted and dropped).
type NameRecords interface {
	Get(ctx context.Context, name ipns.Name) ([]byte, error)
	Put(ctx context.Context, name ipns.Name, rec []byte) (bool, error)
}

func (rt *router) GetIPNS(ctx context.Context, name ipns.Name) (*ipns.Record, error) {
	if rt.a.cfg.Names == nil {
		return nil, routing.ErrNotSupported
	}
	raw, err := rt.a.cfg.Names.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return ipns.UnmarshalRecord(raw)
}

// PutIPNS keeps a record boxo's server has already checked against name;
// the store checks it again, as every writer's input.
func (rt *router) PutIPNS(ctx context.Context, name ipns.Name, rec *ipns.Record) error {
	if rt.a.cfg.Names == nil {
		return routing.ErrNotSupported
	}
	raw, err := ipns.MarshalRecord(rec)
	if err != nil {
		return err
	}
	_, err = rt.a.cfg.Names.Put(ctx, name, raw)
	return err
}

func (rt *router) GetClosestPeers(context.Context, cid.Cid) (iter.ResultIter[*types.PeerRecord], error) {
	return nil, routing.ErrNotSupported
}
