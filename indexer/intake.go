package indexer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/capabilities/access"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	"github.com/storacha/go-libstoracha/capabilities/claim"
	"github.com/storacha/go-ucanto/core/dag/blockstore"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/core/invocation"
	"github.com/storacha/go-ucanto/core/message"
	"github.com/storacha/go-ucanto/core/receipt"
	"github.com/storacha/go-ucanto/core/receipt/fx"
	"github.com/storacha/go-ucanto/core/receipt/ran"
	"github.com/storacha/go-ucanto/core/result"
	"github.com/storacha/go-ucanto/core/result/failure"
	"github.com/storacha/go-ucanto/core/result/ok"
	"github.com/storacha/go-ucanto/did"
	"github.com/storacha/go-ucanto/principal"
	"github.com/storacha/go-ucanto/server"
	"github.com/storacha/go-ucanto/transport"
	thttp "github.com/storacha/go-ucanto/transport/http"
	"github.com/storacha/go-ucanto/ucan"
	"github.com/storacha/go-ucanto/validator"
)

// MaxInvocations bounds the invocations of one intake message.
const MaxInvocations = 64

// Intake is the claims intake as a ucanto server: it executes the
// invocations of an agent message (claim/cache, assert/location,
// assert/index, assert/equals, each with `with` = the service's DID) and
// answers with receipts. go-ucanto's validator checks each invocation's
// authority: the service's own key, or a chain of delegations from it
// (signatures, expiry, not-before, audience). Then every claim of the
// message is checked fully, index blobs included, and only when all pass
// is anything stored.
type Intake struct {
	svc    *Service
	srv    server.ServerView[server.Service]
	denied func(content multihash.Multihash) bool // nil: nothing refused
	// grant keeps serve delegations; nil: access/delegate is refused.
	grant func(context.Context, []ServeGrant) error
}

// Revoked tells whether a delegation (by CID) was revoked. The node keeps
// no revocation store of its own; a caller with one passes it here.
type Revoked func(ctx context.Context, dlg ucan.Link) bool

// NewIntake returns the intake of svc; revoked may be nil.
func NewIntake(svc *Service, revoked Revoked) (*Intake, error) {
	in := &Intake{svc: svc}
	opts := []server.Option{
		server.WithInboundCodec(inboundCodec()),
		server.WithPrincipalResolver(in.resolveDID),
		server.WithErrorHandler(func(err server.HandlerExecutionError[any]) {
			svc.log.Warn("intake: handler failed", "err", err)
		}),
		server.WithServiceMethod(claim.CacheAbility, provide(in, claim.Cache, in.cacheClaim)),
		server.WithServiceMethod(assert.LocationAbility, provide(in, assert.Location, directClaim[assert.LocationCaveats])),
		server.WithServiceMethod(assert.IndexAbility, provide(in, assert.Index, directClaim[assert.IndexCaveats])),
		server.WithServiceMethod(assert.EqualsAbility, provide(in, assert.Equals, directClaim[assert.EqualsCaveats])),
		server.WithServiceMethod(access.DelegateAbility, in.serveDelegate()),
	}
	if revoked != nil {
		opts = append(opts, server.WithRevocationChecker(func(ctx context.Context, auth validator.Authorization[any]) validator.Revoked {
			for _, d := range append([]delegation.Delegation{auth.Delegation()}, proofsOf(auth)...) {
				if revoked(ctx, d.Link()) {
					return validator.NewRevokedError(d)
				}
			}
			return nil
		}))
	}
	srv, err := server.NewServer(svc.id, opts...)
	if err != nil {
		return nil, err
	}
	in.srv = srv
	return in, nil
}

func proofsOf(auth validator.Authorization[any]) []delegation.Delegation {
	var out []delegation.Delegation
	for _, p := range auth.Proofs() {
		out = append(out, p.Delegation())
		out = append(out, proofsOf(p)...)
	}
	return out
}

// resolveDID maps the service's did:web (when it signs as one) to its
// did:key, so delegations it issued verify.
func (in *Intake) resolveDID(_ context.Context, d did.DID) (did.DID, validator.UnresolvedDID) {
	if d == in.svc.id.DID() {
		if w, ok := in.svc.id.(interface{ Unwrap() principal.Signer }); ok {
			return w.Unwrap().DID(), nil
		}
	}
	return did.Undef, validator.NewDIDKeyResolutionError(d, fmt.Errorf("only did:key principals and this service's did:web resolve here"))
}

// batchKey carries the message's batch to the handlers.
type batchKey struct{}

func batchOf(ctx context.Context) *batch {
	b, _ := ctx.Value(batchKey{}).(*batch)
	return b
}

// provide wraps a staging function as a ucanto method: the validator has
// checked the invocation's authority before stage runs; stage refuses
// with an error receipt or stages the claim into the message's batch.
func provide[C any](in *Intake, parser validator.CapabilityParser[C], stage func(ctx context.Context, b *batch, cap ucan.Capability[C], inv invocation.Invocation) error) server.ServiceMethod[ok.Unit, failure.IPLDBuilderFailure] {
	return server.Provide(parser, func(ctx context.Context, cap ucan.Capability[C], inv invocation.Invocation, _ server.InvocationContext) (result.Result[ok.Unit, failure.IPLDBuilderFailure], fx.Effects, error) {
		b := batchOf(ctx)
		if b == nil {
			return nil, nil, errors.New("intake: invocation run outside a message")
		}
		err := in.checkWith(cap.With())
		if err == nil {
			err = stage(ctx, b, cap, inv)
		}
		if err != nil {
			return result.Error[ok.Unit, failure.IPLDBuilderFailure](refusal(err)), nil, nil
		}
		return result.Ok[ok.Unit, failure.IPLDBuilderFailure](ok.Unit{}), nil, nil
	})
}

// checkWith holds the resource to the service itself: a self-issued
// capability on the invoker's own DID passes the validator but proves
// nothing about this service.
func (in *Intake) checkWith(with ucan.Resource) error {
	if with != in.svc.id.DID().String() {
		return fmt.Errorf("%w: the capability must be invoked with %q (this service), not %q", ErrBadClaim, in.svc.id.DID(), with)
	}
	return nil
}

// directClaim stages an assert/* invocation: it is itself the claim.
func directClaim[C any](_ context.Context, b *batch, _ ucan.Capability[C], inv invocation.Invocation) error {
	_, err := b.add(inv)
	return err
}

// cacheClaim stages the claim a claim/cache invocation carries; that
// claim must be signed by its issuer and in date, to whomever it is
// addressed.
func (in *Intake) cacheClaim(_ context.Context, b *batch, cap ucan.Capability[claim.CacheCaveats], inv invocation.Invocation) error {
	bs, err := blockstore.NewBlockReader(blockstore.WithBlocksIterator(inv.Blocks()))
	if err != nil {
		return fmt.Errorf("%w: claim/cache blocks: %s", ErrBadClaim, err.Error())
	}
	d, err := delegation.NewDelegationView(cap.Nb().Claim, bs)
	if err != nil {
		return fmt.Errorf("%w: claim/cache: the claim %s is not in the message: %s", ErrBadClaim, cap.Nb().Claim, err.Error())
	}
	if err := in.svc.CheckSigned(d); err != nil {
		return err
	}
	_, err = b.add(d)
	return err
}

// execute runs a message: every invocation is validated and staged, the
// staged claims are checked together, and they are stored only if every
// invocation succeeded. Each invocation gets a receipt.
func (in *Intake) execute(ctx context.Context, msg message.AgentMessage) (message.AgentMessage, error) {
	links := msg.Invocations()
	if len(links) > MaxInvocations {
		return nil, fmt.Errorf("%w: %d invocations in one message, at most %d", ErrBadInput, len(links), MaxInvocations)
	}
	br, err := blockstore.NewBlockReader(blockstore.WithBlocksIterator(msg.Blocks()))
	if err != nil {
		return nil, fmt.Errorf("%w: message blocks: %s", ErrBadInput, err.Error())
	}
	b := in.svc.newBatch()
	bctx := context.WithValue(ctx, batchKey{}, b)
	invs := make([]invocation.Invocation, 0, len(links))
	rcpts := make([]receipt.AnyReceipt, 0, len(links))
	failed := false
	for _, l := range links {
		inv, err := invocation.NewInvocationView(l, br)
		if err != nil {
			return nil, fmt.Errorf("%w: invocation %s: %s", ErrBadInput, l, err.Error())
		}
		before := b.size()
		r, err := server.Run(bctx, in.srv, inv)
		if err != nil {
			return nil, err
		}
		if b.size() == before {
			failed = true // refused: its receipt is an error
		}
		invs = append(invs, inv)
		rcpts = append(rcpts, r)
	}
	var cause error
	if !failed && in.denied != nil {
		for _, st := range b.items {
			if in.denied(st.c.Content) {
				in.svc.log.Info("intake: message refused", "claim", st.d.Link(), "err", "content on the denylist")
				cause = fmt.Errorf("%w: content %s is on this node's denylist", ErrBadClaim, st.c.Content.B58String())
				failed = true
				break
			}
		}
	}
	if !failed {
		if bad, err := b.check(ctx); err != nil {
			in.svc.log.Info("intake: message refused", "claim", bad.d.Link(), "err", err)
			cause = err
			failed = true
		}
	}
	if !failed {
		if err := b.commit(ctx, in.grant); err != nil {
			return nil, err
		}
		return message.Build(nil, rcpts)
	}
	return in.refuseAll(invs, rcpts, cause)
}

// refuseAll replaces the receipts of invocations that passed with errors:
// nothing of the message was stored. cause, when set, is the check that
// failed after staging.
func (in *Intake) refuseAll(invs []invocation.Invocation, rcpts []receipt.AnyReceipt, cause error) (message.AgentMessage, error) {
	why := errors.New("not stored: another invocation of this message was refused, and a message is stored whole or not at all")
	if cause != nil {
		why = fmt.Errorf("not stored: the message failed its checks: %w", cause)
	}
	for i, r := range rcpts {
		if _, x := result.Unwrap(r.Out()); x != nil {
			continue
		}
		nr, err := receipt.Issue(in.srv.ID(), result.NewFailure(refusal(why)), ran.FromInvocation(invs[i]))
		if err != nil {
			return nil, err
		}
		rcpts[i] = nr
	}
	return message.Build(nil, rcpts)
}

// refused is an intake refusal as a named ucanto failure.
type refused struct{ err error }

func (r refused) Error() string { return r.err.Error() }
func (r refused) Name() string  { return "ClaimRefused" }

func refusal(err error) failure.IPLDBuilderFailure { return failure.FromError(refused{err}) }

// Handle answers one HTTP request to the intake: content negotiation
// errors as go-ucanto words them, a malformed message as ErrBadInput,
// else the receipts of its invocations.
func (in *Intake) Handle(ctx context.Context, req transport.HTTPRequest) (transport.HTTPResponse, error) {
	sel, herr := in.srv.Codec().Accept(req)
	if herr != nil {
		return thttp.NewResponse(herr.Status(), io.NopCloser(strings.NewReader(herr.Error())), herr.Headers()), nil
	}
	msg, err := sel.Decoder().Decode(req)
	if err != nil {
		return nil, err
	}
	out, err := in.execute(ctx, msg)
	if err != nil {
		return nil, err
	}
	return sel.Encoder().Encode(out)
}
