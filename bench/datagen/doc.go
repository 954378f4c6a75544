// Package datagen builds the benchmark's data sets: deterministic, seeded
// content written as CARv1 files whose blocks appear in depth-first
// (pre-order) order from a single root.
//
// # Usage
//
//	set, err := datagen.Generate(ctx, workDir, 42, datagen.Profiles["quick"])
//
// Generate returns a Set describing every data set (root CID, CAR path and
// the names or CIDs that requests are built from). Output is cached under
// workDir in a directory keyed by profile name, seed and format version, so
// a second run with the same key reads the manifest instead of regenerating.
//
// The data sets are:
//   - SmallDir: a UnixFS directory of small files (4 KiB, one raw block each);
//   - BigFile: one large UnixFS file (1 MiB raw leaves, CIDv1, balanced DAG);
//   - HAMT: a HAMT-sharded UnixFS directory of many tiny files;
//   - CBOR: a tree of dag-cbor nodes, for ?format=car of a non-UnixFS DAG;
//   - Unknown: CIDs that are in no data set, for 404s;
//   - Import: a large UnixFS file used only to time imports.
//
// # Errors
//
// Errors are I/O errors from the work directory, or a corrupted cache
// (delete the directory named in the error to regenerate).
package datagen
