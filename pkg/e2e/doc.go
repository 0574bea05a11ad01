// Package e2e holds the end-to-end tests: they build the real binaries, pipe
// them as users do, and compare the store with the real agentsview fixture
// databases in testdata/ row for row.
package e2e
