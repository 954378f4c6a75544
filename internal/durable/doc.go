// Package durable appends to small owner-only files so that what a
// command or request acknowledged survives a crash: the bytes are synced,
// and the directory too when the file is new.
package durable
