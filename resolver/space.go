package resolver

import "context"

// SpaceRecorder is told the space of every block served for one response:
// the space of the shard the block was taken from, as the resolver chose
// it (the most trusted place, and with Config.Allowed set, one in an
// allowed space). Egress billing implements it; the first space a response
// records is the one it is billed to. Implementations must be safe for
// concurrent use: the gateway reads blocks from several goroutines.
type SpaceRecorder interface {
	RecordSpace(space string)
}

type recorderKey struct{}

// WithSpaceRecorder returns ctx under which every block the resolver
// serves, from storage or from memory, is reported to rec. The gateway
// makes one per response; nothing else reads it.
func WithSpaceRecorder(ctx context.Context, rec SpaceRecorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, rec)
}

// RecordSpace reports space to the recorder ctx carries, if any. The
// resolver calls it for each block it serves; a blockstore that stands in
// for the resolver (in tests) calls it the same way.
func RecordSpace(ctx context.Context, space string) {
	if rec := spaceRecorder(ctx); rec != nil && space != "" {
		rec.RecordSpace(space)
	}
}

func spaceRecorder(ctx context.Context) SpaceRecorder {
	rec, _ := ctx.Value(recorderKey{}).(SpaceRecorder)
	return rec
}
