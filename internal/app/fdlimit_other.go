//go:build !unix

package app

// fdLimit is a conservative guess where the limit cannot be read.
func fdLimit() int { return 8192 }
