package resolver

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// Blockstore presents the resolver as a read-only boxo blockstore, so
// boxo's gateway, DAG readers and CAR writers run over verified blocks.
type Blockstore struct{ R *Resolver }

var _ blockstore.Blockstore = Blockstore{}

// Get implements blockstore.Blockstore.
func (b Blockstore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	data, err := b.R.Block(ctx, c)
	if err != nil {
		return nil, err
	}
	return blocks.NewBlockWithCid(data, c)
}

// Has implements blockstore.Blockstore: true when the block is located.
func (b Blockstore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	_, err := b.R.Size(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// GetSize implements blockstore.Blockstore.
func (b Blockstore) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	return b.R.Size(ctx, c)
}

// Put implements blockstore.Blockstore; it always fails.
func (Blockstore) Put(context.Context, blocks.Block) error { return ErrReadOnly }

// PutMany implements blockstore.Blockstore; it always fails.
func (Blockstore) PutMany(context.Context, []blocks.Block) error { return ErrReadOnly }

// DeleteBlock implements blockstore.Blockstore; it always fails.
func (Blockstore) DeleteBlock(context.Context, cid.Cid) error { return ErrReadOnly }

// AllKeysChan implements blockstore.Blockstore; listing is not supported.
func (Blockstore) AllKeysChan(context.Context) (<-chan cid.Cid, error) {
	return nil, fmt.Errorf("listing blocks: %w", ErrReadOnly)
}
