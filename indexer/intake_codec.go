package indexer

import (
	"bytes"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-ucanto/core/car"
	"github.com/storacha/go-ucanto/core/dag/blockstore"
	"github.com/storacha/go-ucanto/core/ipld/block"
	"github.com/storacha/go-ucanto/core/message"
	"github.com/storacha/go-ucanto/transport"
	ucar "github.com/storacha/go-ucanto/transport/car"
)

// Agent message versions. go-ucanto reads and writes 7.0.0; JS ucanto
// (and cargate's old intake) write 7.1.0, whose shape is the same.
const (
	messageV700 = "ucanto/message@7.0.0"
	messageV710 = "ucanto/message@7.1.0"
)

// inboundCodec is go-ucanto's CAR transport codec (content negotiation,
// receipts encoding) with a request decoder that verifies every block
// against its CID and also takes 7.1.0 messages.
func inboundCodec() transport.InboundCodec { return codec{ucar.NewInboundCodec()} }

type codec struct{ transport.InboundCodec }

func (c codec) Accept(req transport.HTTPRequest) (transport.InboundAcceptCodec, transport.HTTPError) {
	sel, err := c.InboundCodec.Accept(req)
	if err != nil {
		return nil, err
	}
	return acceptCodec{sel}, nil
}

type acceptCodec struct{ transport.InboundAcceptCodec }

func (acceptCodec) Decoder() transport.RequestDecoder { return decoder{} }

type decoder struct{}

func (decoder) Decode(req transport.HTTPRequest) (message.AgentMessage, error) {
	return DecodeMessage(req.Body())
}

// DecodeMessage reads an agent message CAR (ucanto/message@7.0.0 or
// 7.1.0). Blocks that do not match their CIDs are refused. It never
// panics: a panic in the IPLD decoders it calls becomes an error.
func DecodeMessage(r io.Reader) (msg message.AgentMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			msg, err = nil, fmt.Errorf("%w: malformed agent message: %v", ErrBadInput, p)
		}
	}()
	roots, blocks, err := car.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("%w: body is not a CAR: %s", ErrBadInput, err.Error())
	}
	if len(roots) != 1 {
		return nil, fmt.Errorf("%w: CAR has %d roots, want 1", ErrBadInput, len(roots))
	}
	bs, err := blockstore.NewBlockStore(blockstore.WithBlocksIterator(verified(blocks)))
	if err != nil {
		return nil, fmt.Errorf("%w: reading CAR: %s", ErrBadInput, err.Error())
	}
	root := roots[0]
	rb, ok, err := bs.Get(root)
	if err != nil || !ok {
		return nil, fmt.Errorf("%w: CAR root block %s is missing", ErrBadInput, root)
	}
	if nb, ok := asV700(rb.Bytes()); ok {
		root = nb.Link()
		if err := bs.Put(nb); err != nil {
			return nil, err
		}
	}
	msg, err = message.NewMessage(root, bs)
	if err != nil {
		return nil, fmt.Errorf("%w: not a ucanto agent message: %s", ErrBadInput, err.Error())
	}
	return msg, nil
}

// asV700 re-keys a 7.1.0 message root as 7.0.0, for go-ucanto's decoder;
// ok is false for any other root. The root is not signed (invocations
// are), so re-encoding it changes nothing a signature covers.
func asV700(root []byte) (block.Block, bool) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(root)); err != nil {
		return nil, false
	}
	n := nb.Build()
	if n.Kind() != datamodel.Kind_Map || n.Length() != 1 {
		return nil, false
	}
	data, err := n.LookupByString(messageV710)
	if err != nil {
		return nil, false
	}
	re, err := qp.BuildMap(basicnode.Prototype.Any, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, messageV700, qp.Node(data))
	})
	if err != nil {
		return nil, false
	}
	var buf bytes.Buffer
	if err := dagcbor.Encode(re, &buf); err != nil {
		return nil, false
	}
	h, err := multihash.Sum(buf.Bytes(), multihash.SHA2_256, -1)
	if err != nil {
		return nil, false
	}
	return block.NewBlock(cidlink.Link{Cid: cid.NewCidV1(cid.DagCBOR, h)}, buf.Bytes()), true
}
