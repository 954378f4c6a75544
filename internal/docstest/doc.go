// Package docstest reads the tables of the project's Markdown docs, so
// that tests can hold the numbers the docs promise to the code's own
// defaults.
package docstest
