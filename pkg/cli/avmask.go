package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	ucli "github.com/urfave/cli/v2"

	"avsync/pkg/exitcode"
	"avsync/pkg/record"
)

// passthroughRuleset names the stamp of this build of av-mask, which has no
// masking rules yet: the stamp says so, so stores can find such rows later.
const passthroughRuleset = "passthrough-0"

// MaskMain runs av-mask and returns its exit code.
func MaskMain(ctx context.Context, args []string, s Streams) int {
	app := &ucli.App{
		Name:      "av-mask",
		Usage:     "mask secrets in wire-format records (this build: stamp only, no rules yet)",
		UsageText: "av-read | av-mask | av-write",
		Description: `A stateless filter: the same records come out, in the same order, each
stamped with "masked":{"ruleset":…,"secrets":N}. Fields and kinds it does not
know pass through unchanged. This build has no masking rules yet (ruleset
"` + passthroughRuleset + `"): it stamps records so the pipeline runs.`,
		Flags: []ucli.Flag{quietFlag()},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return exitcode.Errorf(exitcode.Usage, "unexpected argument %q (see av-mask --help)", c.Args().First())
			}
			hintIfTerminal(&logger{name: "av-mask", w: s.Err}, s.In)
			return maskAction(c.Context, s)
		},
	}
	return run(ctx, app, args, s)
}

func maskAction(ctx context.Context, s Streams) error {
	stamp, _ := json.Marshal(record.Stamp{Ruleset: passthroughRuleset})
	in := record.NewReader(s.In, "stdin")
	out := record.NewWriter(s.Out)
	var buf []byte
	for {
		if err := ctx.Err(); err != nil {
			return exitcode.Wrap(exitcode.Interrupted, errors.New("interrupted"))
		}
		line, err := in.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		obj, err := record.ParseObject(line)
		if err != nil {
			return exitcode.Wrap(exitcode.BadInput, in.Errorf("", "%v", err))
		}
		obj.Set("masked", stamp)
		buf = obj.AppendJSON(buf[:0])
		if err := out.WriteLine(buf); err != nil {
			if record.IsClosedPipe(err) {
				return nil
			}
			return err
		}
	}
	if err := out.Flush(); err != nil && !record.IsClosedPipe(err) {
		return err
	}
	return nil
}
