// Package config is cargate's configuration: one documented struct with
// defaults, bound to command-line flags and to CARGATE_* environment
// variables (a flag given on the command line wins over its variable), and
// validated with messages a user can act on.
package config
