// Package revocation keeps the node's list of revoked UCAN delegations:
// a file of CIDs, one a line, in the data dir. `cargate revoke` appends
// to it (durably: the line is synced before the command reports success)
// and the running node, which checks every delegation of a claim
// invocation against it, notices a change within ReloadEvery — a file
// rather than the data dir's store, so revoking works while the node
// runs and holds that store's lock.
package revocation
