// Package app is cargate's composition root: it builds every component a
// command needs from the configuration, in dependency order, records a
// stop function for each, runs the command, and stops them in reverse.
// cmd/cargate only parses flags and calls into here.
package app
