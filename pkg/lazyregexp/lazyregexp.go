// Package lazyregexp compiles a package-level regexp on first use instead of
// at start-up: every tool starts every cycle, and most cycles never use
// most patterns.
package lazyregexp

import (
	"regexp"
	"sync"
)

// New returns a function that compiles pattern once, on its first call,
// and panics if it is invalid (as regexp.MustCompile).
func New(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
