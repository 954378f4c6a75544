// Package prom holds the one way cargate registers Prometheus
// collectors: on the registry the composition root injects, sharing a
// collector when two components of one process register the same one
// (two caches reporting under one metric name with different labels).
package prom
