// Package access keeps the spaces this node may serve content of, when
// --require-serve-delegation is on: a space grants it by delegating
// space/content/serve/* (or space/content/serve/transport/http) to the
// node's DID, sent in an access/delegate invocation the claim intake
// validates. Grants are kept in a file of JSON lines in the data dir,
// synced before the intake answers; a grant ends at the delegation's
// expiry, or when the delegation is revoked (internal/revocation).
package access
