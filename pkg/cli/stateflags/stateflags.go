// Package stateflags is --state and --machine, shared by av-read and
// av-write, and the opening of what they name: kept out of package cli so
// that av-mask, which needs neither, links no SQLite.
package stateflags

import (
	"context"
	"fmt"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"avsync/pkg/cli"
	"avsync/pkg/exitcode"
	"avsync/pkg/watermark"
)

// State is --state.
func State() *ucli.StringFlag {
	return &ucli.StringFlag{Name: "state", EnvVars: []string{"AV_STATE"}, Value: cli.DefaultStatePath(),
		Usage: "state database `FILE` shared by av-read and av-write (SQLite; a .lock file and this machine's identity, machine.json, sit beside it)"}
}

// Machine is --machine.
func Machine() *ucli.StringFlag {
	return &ucli.StringFlag{Name: "machine", EnvVars: []string{"AV_MACHINE"},
		Usage: "`ID` keying this machine's rows in the store; default: the id made once and kept in machine.json beside --state (the hostname is only shown, so renaming the machine changes nothing)"}
}

// Open opens the state database and this machine's identity.
func Open(ctx context.Context, c *ucli.Context) (*watermark.State, watermark.Identity, error) {
	state, err := watermark.Open(ctx, c.String("state"))
	if err != nil {
		return nil, watermark.Identity{}, exitcode.Wrap(exitcode.State, err)
	}
	id, err := identity(c, state.Meta.Machine)
	if err != nil {
		state.Close()
		return nil, id, err
	}
	return state, id, nil
}

// identity is this machine's identity, kept beside the state (made the
// first time; known is the machine the state already describes); --machine
// overrides its id.
func identity(c *ucli.Context, known string) (watermark.Identity, error) {
	id, created, err := watermark.LoadIdentity(filepath.Dir(c.String("state")), known)
	if err != nil {
		return id, exitcode.Wrap(exitcode.State, err)
	}
	if created && !c.Bool("quiet") && c.String("machine") == "" {
		fmt.Fprintf(c.App.ErrWriter, "%s: this machine is %q in the store from now on (kept in %s)\n",
			c.App.Name, id.ID, filepath.Join(filepath.Dir(c.String("state")), watermark.IdentityFile))
	}
	if m := c.String("machine"); m != "" {
		id.ID = m
	}
	return id, nil
}
