package names

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/libp2p/go-libp2p/core/routing"
)

// Records is the routing.ValueStore of IPNS records the name system and
// the gateway's ?format=ipns-record read: the local Store, then remote
// delegated routing endpoints, asked together; the best valid record
// wins. It serves only /ipns/ keys.
type Records struct {
	local   *Store
	remotes []routing.ValueStore
	timeout time.Duration
	// remoteMisses are names no remote had: not asked again for a while,
	// so requests for unknown names do not each fan out to every remote.
	remoteMisses misses
}

// DefaultRemoteMissTTL is how long a name no remote had is not asked again.
const DefaultRemoteMissTTL = 10 * time.Second

var _ routing.ValueStore = (*Records)(nil)

func (r *Records) name(key string) (ipns.Name, error) {
	if !strings.HasPrefix(key, ipns.NamespacePrefix) {
		return ipns.Name{}, routing.ErrNotSupported
	}
	n, err := ipns.NameFromRoutingKey([]byte(key))
	if err != nil {
		return ipns.Name{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	return n, nil
}

// GetValue implements routing.ValueStore.
func (r *Records) GetValue(ctx context.Context, key string, _ ...routing.Option) ([]byte, error) {
	name, err := r.name(key)
	if err != nil {
		return nil, err
	}
	return r.Get(ctx, name)
}

// Get returns the best valid record of name found locally or remotely.
func (r *Records) Get(ctx context.Context, name ipns.Name) ([]byte, error) {
	found := r.gather(ctx, name)
	if len(found) == 0 {
		return nil, routing.ErrNotFound
	}
	best, err := ipns.Validator{}.Select(string(name.RoutingKey()), found)
	if err != nil {
		return nil, err
	}
	return found[best], nil
}

// gather asks every source at once and keeps the records that validate.
func (r *Records) gather(ctx context.Context, name ipns.Name) [][]byte {
	var (
		mu    sync.Mutex
		found [][]byte
		wg    sync.WaitGroup
	)
	keep := func(raw []byte, err error) {
		if err != nil {
			return
		}
		if _, err := Validate(name, raw); err != nil {
			return // a remote may lie: never pass on what does not validate
		}
		mu.Lock()
		found = append(found, raw)
		mu.Unlock()
	}
	if r.local != nil {
		keep(r.local.Get(ctx, name))
	}
	key := string(name.RoutingKey())
	if len(r.remotes) == 0 || r.remoteMisses.recent(key) {
		return found
	}
	local := len(found)
	for _, rem := range r.remotes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, r.timeout)
			defer cancel()
			keep(rem.GetValue(ctx, key))
		}()
	}
	wg.Wait()
	if len(found) == local {
		r.remoteMisses.add(key)
	}
	return found
}

// SearchValue implements routing.ValueStore with the one best record.
func (r *Records) SearchValue(ctx context.Context, key string, opts ...routing.Option) (<-chan []byte, error) {
	v, err := r.GetValue(ctx, key, opts...)
	if err != nil {
		return nil, err
	}
	ch := make(chan []byte, 1)
	ch <- v
	close(ch)
	return ch, nil
}

// PutValue implements routing.ValueStore: records go to the local store.
func (r *Records) PutValue(ctx context.Context, key string, val []byte, _ ...routing.Option) error {
	name, err := r.name(key)
	if err != nil {
		return err
	}
	if r.local == nil {
		return errors.New("no local IPNS record store")
	}
	_, err = r.local.Put(ctx, name, val)
	return err
}
