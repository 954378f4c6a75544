package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/multiformats/go-multicodec"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/blobindex"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	ctypes "github.com/storacha/go-libstoracha/capabilities/types"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/did"
	"github.com/storacha/go-ucanto/principal"
	"github.com/storacha/go-ucanto/ucan"

	"github.com/cargate/cargate/internal/blobstore"

	"github.com/cargate/cargate/internal/verify"
)

// ErrBadInput wraps every rejection of the input itself (a malformed or
// truncated CAR, a block that does not match its CID).
var ErrBadInput = errors.New("bad input")

// Publisher takes claims in (the indexer).
type Publisher interface {
	Publish(ctx context.Context, claim delegation.Delegation) error
}

// Config tunes imports.
type Config struct {
	// ShardSize is the largest shard written, in bytes.
	ShardSize int64
	// TempDir holds shards while they are written and verified.
	TempDir string
	// Space, when defined, is named in every location claim: the space the
	// content is stored for, which egress accounting bills.
	Space did.DID
	// Refuse, when set, is asked about each root before anything is
	// stored; an error stops the import with nothing kept.
	Refuse func(root cid.Cid) error
}

// DefaultShardSize is 128 MiB.
const DefaultShardSize = 128 << 20

// Importer packs content into shards, indexes and claims.
type Importer struct {
	blobs    blobstore.Store
	pub      Publisher
	id       principal.Signer
	audience ucan.Principal
	cfg      Config
	// Progress, when set, is told of every block taken in.
	Progress func(blockBytes int)
}

// New returns an Importer storing blobs in blobs and publishing claims,
// signed by id and addressed to audience, to pub.
func New(blobs blobstore.Store, pub Publisher, id principal.Signer, audience ucan.Principal, cfg Config) *Importer {
	if cfg.ShardSize <= 0 {
		cfg.ShardSize = DefaultShardSize
	}
	return &Importer{blobs: blobs, pub: pub, id: id, audience: audience, cfg: cfg}
}

// ImportCAR imports a CARv1 or CARv2 stream and returns its roots. Every
// block is verified against its CID; any problem rejects the whole input
// before anything is stored or published.
func (im *Importer) ImportCAR(ctx context.Context, r io.Reader) ([]cid.Cid, error) {
	cr := &countingReader{r: r}
	br, err := carv2.NewBlockReader(cr, carv2.WithTrustedCAR(true))
	if err != nil {
		return nil, fmt.Errorf("%w: CAR header: %w", ErrBadInput, err)
	}
	if len(br.Roots) == 0 {
		return nil, fmt.Errorf("%w: CAR has no roots", ErrBadInput)
	}
	if len(br.Roots) > MaxRoots {
		// Each root gets an index of every block: the work grows with
		// roots × blocks.
		return nil, fmt.Errorf("%w: CAR has %d roots; at most %d are accepted (split it)", ErrBadInput, len(br.Roots), MaxRoots)
	}
	if err := im.refuse(br.Roots); err != nil {
		return nil, err
	}
	sw, err := newShardWriter(im.cfg.TempDir, im.cfg.ShardSize, br.Roots)
	if err != nil {
		return nil, err
	}
	defer sw.cleanup()
	// Reading and verifying run in one goroutine, writing and hashing the
	// shards in this one, so an import uses two cores.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	verified := make(chan blocks.Block, 64)
	readErr := make(chan error, 1)
	go func() {
		defer close(verified)
		readErr <- readVerified(ctx, br, cr, verified)
	}()
	for blk := range verified {
		if err := sw.add(blk.Cid(), blk.RawData()); err != nil {
			cancel()
			for range verified {
			}
			return nil, err
		}
		if im.Progress != nil {
			im.Progress(len(blk.RawData()))
		}
	}
	if err := <-readErr; err != nil {
		return nil, err
	}
	if err := im.commit(ctx, sw, br.Roots); err != nil {
		return nil, err
	}
	return br.Roots, nil
}

// readVerified sends each block of br, checked against its CID, to out.
func readVerified(ctx context.Context, br *carv2.BlockReader, cr *countingReader, out chan<- blocks.Block) error {
	for {
		at := cr.n
		blk, err := br.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: CAR section at byte %d: %w", ErrBadInput, at, err)
		}
		if n := len(blk.RawData()); n > MaxBlockSize {
			return fmt.Errorf("%w: block %s at byte %d is %d bytes, more than the %d accepted", ErrBadInput, blk.Cid(), at, n, MaxBlockSize)
		}
		if err := verifyBlock(blk.Cid(), blk.RawData()); err != nil {
			return fmt.Errorf("%w: block %s at byte %d: %w", ErrBadInput, blk.Cid(), at, err)
		}
		select {
		case out <- blk:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func verifyBlock(c cid.Cid, data []byte) error {
	return verify.Block(c.Hash(), data)
}

// refuse asks Config.Refuse about each root.
func (im *Importer) refuse(roots []cid.Cid) error {
	if im.cfg.Refuse == nil {
		return nil
	}
	for _, r := range roots {
		if err := im.cfg.Refuse(r); err != nil {
			return fmt.Errorf("%w: %w", ErrBadInput, err)
		}
	}
	return nil
}

// commit stores the shards and the index of each root, then publishes the
// location and index claims. Blobs are durable before claims name them.
func (im *Importer) commit(ctx context.Context, sw *shardWriter, roots []cid.Cid) error {
	if err := im.refuse(roots); err != nil {
		return err
	}
	shards, err := sw.close()
	if err != nil {
		return err
	}
	if len(shards) == 0 {
		return fmt.Errorf("%w: CAR holds no blocks", ErrBadInput)
	}
	var claims []delegation.Delegation
	for _, s := range shards {
		loc, err := im.storeShard(ctx, s)
		if err != nil {
			return err
		}
		claims = append(claims, loc)
	}
	for _, root := range roots {
		if err := ctx.Err(); err != nil {
			return err
		}
		view := blobindex.NewShardedDagIndexView(cidlink.Link{Cid: root}, len(shards))
		for _, s := range shards {
			for _, b := range s.blocks {
				view.SetSlice(s.digest, b.hash, blobindex.Position{Offset: b.offset, Length: b.length})
			}
		}
		idxClaims, err := im.storeIndex(ctx, root, view)
		if err != nil {
			return err
		}
		claims = append(claims, idxClaims...)
	}
	if err := ctx.Err(); err != nil {
		return err // stopped before any claim: nothing of the import is visible
	}
	// Past this point the import finishes: claims are few and quick, and
	// publishing only some would leave content half visible.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	for _, c := range claims {
		if err := im.pub.Publish(pctx, c); err != nil {
			return fmt.Errorf("publish claim: %w", err)
		}
	}
	return nil
}

// storeIndex stores a root's index blob and returns its location claim
// and the root's index claim.
func (im *Importer) storeIndex(ctx context.Context, root cid.Cid, view blobindex.ShardedDagIndexView) ([]delegation.Delegation, error) {
	ar, err := view.Archive()
	if err != nil {
		return nil, fmt.Errorf("archive index: %w", err)
	}
	data, err := io.ReadAll(ar)
	if err != nil {
		return nil, err
	}
	digest, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		return nil, err
	}
	loc, err := im.storeBlob(ctx, digest, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	indexCID := cid.NewCidV1(uint64(multicodec.Car), digest)
	idx, err := assert.Index.Delegate(im.id, im.audience, im.id.DID().String(),
		assert.IndexCaveats{Content: cidlink.Link{Cid: root}, Index: cidlink.Link{Cid: indexCID}},
		delegation.WithNoExpiration())
	if err != nil {
		return nil, fmt.Errorf("sign index claim: %w", err)
	}
	return []delegation.Delegation{loc, idx}, nil
}

// storeShard stores a finished shard durably, moving its file into a
// store that can take files, and returns a location claim for it.
func (im *Importer) storeShard(ctx context.Context, s *shard) (delegation.Delegation, error) {
	mover, ok := im.blobs.(blobstore.FileMover)
	if !ok {
		rd, err := s.reader()
		if err != nil {
			return nil, err
		}
		return im.storeBlob(ctx, s.digest, rd, s.size)
	}
	key := blobstore.Key(s.digest)
	if err := mover.PutFile(ctx, key, s.f.Name()); err != nil {
		return nil, fmt.Errorf("store blob %s: %w", key, err)
	}
	return im.locationClaim(s.digest)
}

// storeBlob stores a blob durably and returns a location claim for it.
func (im *Importer) storeBlob(ctx context.Context, digest multihash.Multihash, r io.Reader, size int64) (delegation.Delegation, error) {
	key := blobstore.Key(digest)
	if err := im.blobs.Put(ctx, key, r, size); err != nil {
		return nil, fmt.Errorf("store blob %s: %w", key, err)
	}
	return im.locationClaim(digest)
}

// locationClaim signs a location claim for a stored blob.
func (im *Importer) locationClaim(digest multihash.Multihash) (delegation.Delegation, error) {
	key := blobstore.Key(digest)
	u, err := url.Parse(im.blobs.URL(key))
	if err != nil {
		return nil, fmt.Errorf("blob URL: %w", err)
	}
	claim, err := assert.Location.Delegate(im.id, im.audience, im.id.DID().String(),
		assert.LocationCaveats{Content: ctypes.FromHash(digest), Location: []url.URL{*u}, Space: im.cfg.Space},
		delegation.WithNoExpiration())
	if err != nil {
		return nil, fmt.Errorf("sign location claim: %w", err)
	}
	return claim, nil
}

// tempDir returns the directory for temporary files.
func (im *Importer) tempDir() string {
	if im.cfg.TempDir != "" {
		return im.cfg.TempDir
	}
	return os.TempDir()
}
