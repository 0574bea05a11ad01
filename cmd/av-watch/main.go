// Command av-watch: see `av-watch --help`. The tool lives in package cli/av…, so tests
// drive it with their own streams; main only hands it the process.
package main

import (
	"avsync/pkg/cli"
	"avsync/pkg/cli/avwatch"
)

func main() { cli.Exit(avwatch.Main) }
