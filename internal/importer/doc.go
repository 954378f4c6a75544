// Package importer turns content into what the gateway serves: it packs
// the blocks of a CAR (ImportCAR) or of a file or directory tree made into
// UnixFS (ImportPath) into CARv1 shards of at most Config.ShardSize bytes,
// stores each shard under the hash of its bytes, writes a sharded DAG
// index (index/sharded/dag@0.1) of where every block landed, and then
// publishes the location and index claims that name them.
//
// # Usage
//
//	im := importer.New(blobs, indexer, key, key, importer.Config{TempDir: dir})
//	roots, err := im.ImportCAR(ctx, carFile)
//	root, err := im.ImportPath(ctx, "/some/dir")
//
// Shards are framed by go-car (car.WriteHeader, util.LdWrite), in the
// order the blocks arrive (depth-first for ImportPath). Blobs are durable
// before any claim names them; temporary files carry the writer's pid so
// that SweepTemp can remove those of imports that were killed.
//
// # Errors
//
// Every block is verified against its CID before anything is stored; a
// malformed or truncated CAR, or a block that does not match, rejects the
// whole input with an error wrapping ErrBadInput, and nothing is kept.
// Config.Refuse (the denylist) can stop an import, by root, before
// anything is stored.
package importer
