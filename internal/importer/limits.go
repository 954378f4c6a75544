package importer

// MaxBlockSize is the largest block cargate takes in: a CAR section (a
// block with its CID) may be at most go-car's DefaultMaxAllowedSectionSize
// (8 MiB), which ImportCAR keeps, and ImportPath makes 1 MiB chunks. Every
// other part bounds block lengths by it: a claim or index naming a longer
// block names one cargate could not have stored, and such a length must
// never size an allocation.
const MaxBlockSize = 8 << 20
