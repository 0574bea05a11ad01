// Command av-watch: see `av-watch --help`. The tool lives in package cli, so
// tests drive it with their own streams; main only wires the process to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"avsync/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A closed stdout becomes an EPIPE error the tool handles, not a kill.
	signal.Ignore(syscall.SIGPIPE)
	code := cli.WatchMain(ctx, os.Args, cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
