//go:build !unix

package importer

// processAlive cannot tell here: files of any process are kept.
func processAlive(int) bool { return true }
