package importer

import "time"

// MaxBlockSize is the largest block cargate takes in: a CAR section (a
// block with its CID) may be at most go-car's DefaultMaxAllowedSectionSize
// (8 MiB), which ImportCAR keeps, and ImportPath makes 1 MiB chunks. Every
// other part bounds block lengths by it: a claim or index naming a longer
// block names one cargate could not have stored, and such a length must
// never size an allocation.
const MaxBlockSize = 8 << 20

// MaxRoots is the most roots a CAR may name: each root is given an index
// of every block in the CAR, so the work grows with roots × blocks (a CAR
// naming 200,000 roots once took 770 s and 3 GB).
const MaxRoots = 256

// publishTimeout bounds publishing an import's claims, which goes on once
// started even when the import is asked to stop.
const publishTimeout = 30 * time.Second
