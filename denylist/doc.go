// Package denylist refuses content an operator was asked to take down.
//
// Lists are files in the bad-bits format (the "legacy" double-hashed
// entries of the compact denylist format, IPIP-383): a line
// "//<hex sha256>" refuses the content whose "<cid>/" or "<cid>/<path>"
// hashes to it, where <cid> is the root CID as CIDv1 in base32. The hash
// hides what is refused from whoever reads the list. Lines naming a CID
// plainly ("<cid>", "/ipfs/<cid>" or "/ipfs/<cid>/<path>") are read too,
// and turned into the same hashes, so one set answers every question.
// "#" starts a comment; a header ending in a "---" line (as the published
// badbits.deny has) is skipped. A malformed line is counted and logged and
// the rest of the list still applies: one bad line must not switch a
// whole takedown list off.
//
// A refused path also refuses everything below it: a list that takes
// down a directory takes down its files.
//
// Lists are files or http(s) URLs. Files are polled and reloaded when
// their size or modification time changes; URLs are fetched again every
// URLPoll with a conditional GET. A list that cannot be read on reload
// keeps what it held in force rather than opening everything up.
package denylist
