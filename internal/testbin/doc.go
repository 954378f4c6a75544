// Package testbin gives tests the cargate binary, built once.
//
// Binary-level tests (cmd/cargate, internal/app, bench/runner) start the
// real binary. Building it is the slowest step of those packages, so it is
// done once: `make test` builds it before `go test` and names it in
// CARGATE_TEST_BIN, which every package then uses; a package run on its
// own (`go test ./cmd/cargate`) builds it once into a temporary directory.
package testbin
