// Package avmask is the av-mask app: its flags, env twins, help and action.
package avmask

import (
	"avsync/pkg/cli"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"

	ucli "github.com/urfave/cli/v2"

	"avsync/pkg/exitcode"
	"avsync/pkg/mask"
	"avsync/pkg/record"
)

// Main runs av-mask and returns its exit code.
func Main(ctx context.Context, args []string, s cli.Streams) int {
	s, _ = cli.Redacted(s, false)
	maskerFlags := []ucli.Flag{
		&ucli.StringSliceFlag{Name: "rules", EnvVars: []string{"AV_MASK_RULES"},
			Usage: "add the rules in JSON `FILE` (a list of {name, regex, keywords, entropy, allow, …}; repeatable)"},
		&ucli.StringSliceFlag{Name: "allow", EnvVars: []string{"AV_MASK_ALLOW"},
			Usage: "never mask this `VALUE` (or /regex/); repeatable"},
	}
	app := &ucli.App{
		Name:      "av-mask",
		Usage:     "mask secrets in every free-text field of wire-format records",
		UsageText: "av-read | av-mask [options] | av-write\n   av-mask rules",
		Description: `A stateless filter: the same records come out, in the same order, with
every secret in their free-text fields (first_message, display_name, content,
thinking, input_json, result_content, note, project, model, tool_name,
skill_name, category, token_usage, tool_use_id, in any case, and any --field;
ids, ordinals, timestamps and counts are structural and pass) replaced by
[REDACTED:<rule>], and each record stamped
"masked":{"ruleset":"<id>","secrets":N,"rules":{"<rule>":N}}. The ruleset id
changes whenever the rules (--rules files included), the allow-list or the
masking engine change. Fields and kinds it does
not know pass through unchanged. Secrets are found raw, JSON-escaped or
escaped twice (a .env inside a JSON tool result), across lines (private keys)
and by key name (password=…), with placeholders ($VAR, <your-key>, xxxx,
changeme, …EXAMPLE) left alone. No value is ever printed: --report gives
where, which rule and a keyed hash (HMAC-SHA256 under a random key kept in
report.key, mode 0600, beside --state): equal secrets hash alike, yet the hash
cannot be checked against a word list elsewhere. "av-mask rules" lists the
rules.`,
		Flags: append([]ucli.Flag{
			&ucli.IntFlag{Name: "workers", EnvVars: []string{"AV_MASK_WORKERS"}, Value: 1,
				Usage: "mask `N` records at once on up to N cores (output order is kept); in a pipeline the other stages use the other cores"},
			&ucli.StringSliceFlag{Name: "field", EnvVars: []string{"AV_MASK_FIELD"},
				Usage: "also mask the string field `NAME` (repeatable), for other NDJSON"},
			&ucli.BoolFlag{Name: "report", EnvVars: []string{"AV_MASK_REPORT"},
				Usage: `print one {"kind":"finding"} line per secret instead of the records (never the value; its hash is an HMAC under a key kept beside --state)`},
			&ucli.StringFlag{Name: "state", EnvVars: []string{"AV_STATE"}, Value: cli.DefaultStatePath(),
				Usage: "the state `FILE` av-read and av-write share: --report keeps its hash key (report.key, 0600) beside it"},
			&ucli.BoolFlag{Name: "print-ruleset", EnvVars: []string{"AV_MASK_PRINT_RULESET"},
				Usage: "print the ruleset id of these rules (--rules, --allow and the engine) and exit: what av-read --ruleset and av-write --ruleset take (scripts/av-sync passes it)"},
			cli.LineCapFlag(), cli.QuietFlag(),
		}, maskerFlags...),
		Commands: []*ucli.Command{{
			Name:  "rules",
			Usage: "list every rule with a made-up example of what it masks",
			Flags: maskerFlags,
			Action: func(c *ucli.Context) error {
				m, err := newMasker(c)
				if err != nil {
					return err
				}
				return listRules(m, s.Out)
			},
		}},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return exitcode.Errorf(exitcode.Usage, "unexpected argument %q (see av-mask --help)", c.Args().First())
			}
			if c.Int("workers") < 1 {
				return exitcode.Errorf(exitcode.Usage, "--workers must be at least 1")
			}
			cli.UseCores(c.Int("workers"))
			rules, allow, err := loadRules(c)
			if err != nil {
				return err
			}
			if c.Bool("print-ruleset") {
				// The id alone: no matcher is built, so a cycle pays little.
				id, err := mask.RulesetOf(rules, allow)
				if err != nil {
					return exitcode.Wrap(exitcode.Usage, err)
				}
				_, err = fmt.Fprintln(s.Out, id)
				return err
			}
			// Built on the first record: an empty stream (a no-change sync)
			// does not pay for compiling every rule.
			var reportKey []byte
			if c.Bool("report") {
				if reportKey, err = loadReportKey(reportKeyPath(c.String("state"))); err != nil {
					return exitcode.Wrap(exitcode.State, err)
				}
			}
			masker := sync.OnceValues(func() (*mask.Masker, error) {
				m, err := mask.New(rules, allow)
				if err == nil && reportKey != nil {
					m.SetReportKey(reportKey)
				}
				return m, err
			})
			// Build the rules as soon as input arrives, while the rest of
			// the first record is read; a stream with no records (a
			// no-change cycle) never builds them.
			cli.HintIfTerminal(cli.NewLogger("av-mask", s.Err), s.In)
			s.In = &onFirstRead{r: s.In, first: func() { go masker() }}
			extra := map[string]bool{}
			for _, f := range c.StringSlice("field") {
				extra[f] = true
			}
			maxLine, err := cli.LineCap(c)
			if err != nil {
				return err
			}
			return cli.LineCapError(maskStream(c.Context, masker, extra, c.Int("workers"), c.Bool("report"), maxLine, s))
		},
	}
	return cli.Run(ctx, app, args, s)
}

// loadRules reads --rules files and --allow values and checks them.
func loadRules(c *ucli.Context) ([]*mask.Rule, []string, error) {
	var extra []*mask.Rule
	for _, path := range c.StringSlice("rules") {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("--rules: %w", err))
		}
		var rs []*mask.Rule
		if err := json.Unmarshal(data, &rs); err != nil {
			return nil, nil, exitcode.Wrap(exitcode.Usage, fmt.Errorf("--rules %s: want a JSON list of rules: %v", path, err))
		}
		extra = append(extra, rs...)
	}
	allow := c.StringSlice("allow")
	if err := mask.Check(extra, allow); err != nil {
		return nil, nil, exitcode.Wrap(exitcode.Usage, err)
	}
	return extra, allow, nil
}

func newMasker(c *ucli.Context) (*mask.Masker, error) {
	rules, allow, err := loadRules(c)
	if err != nil {
		return nil, err
	}
	m, err := mask.New(rules, allow)
	if err != nil {
		return nil, exitcode.Wrap(exitcode.Usage, err)
	}
	return m, nil
}

func listRules(m *mask.Masker, w io.Writer) error {
	out := record.NewWriter(w)
	for _, r := range m.Rules() {
		masked, _ := m.Mask(r.Example)
		if err := out.Write(map[string]any{"rule": r.Name, "description": r.Description,
			"keywords": r.Keywords, "example": r.Example, "masked": masked}); err != nil {
			break
		}
	}
	if err := out.Flush(); err != nil && !record.IsClosedPipe(err) {
		return err
	}
	return nil
}

// finding is one --report line: where a secret is, never what it is.
type finding struct {
	Kind   string `json:"kind"`
	Line   int    `json:"line"`
	Record string `json:"record"`
	Field  string `json:"field"`
	Rule   string `json:"rule"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	Hash   string `json:"hash"`
}

// job is one line on its way through the workers; done is closed when
// rec or err is set. Jobs are written in the order they were read.
type job struct {
	line []byte
	size int // bytes held in the gate
	n    int
	rec  mask.Record
	err  error
	done chan struct{}
}

// Line buffers are reused: a stream of 64 KB messages would otherwise
// allocate (and clear) two buffers per line. Large ones go back to the
// garbage collector, so memory stays bounded by the largest line in flight.
var lineBufs sync.Pool

const maxPooledLine = 1 << 20

func getBuf() []byte {
	if b, ok := lineBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

func putBuf(b []byte) {
	if cap(b) > 0 && cap(b) <= maxPooledLine {
		b = b[:0]
		lineBufs.Put(&b)
	}
}

// inFlightBytes bounds the bytes of the lines between reader and writer.
const inFlightBytes = 16 << 20

// maskStream reads lines, masks them on `workers` goroutines and writes them
// in input order. Memory is bounded: at most 4*workers lines are in flight,
// and at most inFlightBytes of them (or one line, when it is larger).
func maskStream(ctx context.Context, masker func() (*mask.Masker, error), extra map[string]bool, workers int, report bool, maxLine int, s cli.Streams) error {
	in := record.NewReader(s.In, "stdin")
	in.MaxLine = maxLine
	out := record.NewWriter(s.Out)
	work := make(chan *job, workers)
	order := make(chan *job, 4*workers)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	gate := newByteGate(inFlightBytes)
	defer gate.close()

	for i := 0; i < workers; i++ {
		go func() {
			for j := range work {
				if m, err := masker(); err != nil {
					j.err = err
				} else {
					j.rec, j.err = m.MaskRecord(j.line, extra, getBuf())
					putBuf(j.line) // nothing refers to the input line any more
				}
				close(j.done)
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(work)
		largest := 0
		for {
			if ctx.Err() != nil {
				readErr <- exitcode.Wrap(exitcode.Interrupted, errors.New("interrupted"))
				return
			}
			line, err := in.Next()
			if err == io.EOF {
				readErr <- nil
				return
			}
			if err != nil {
				readErr <- err
				return
			}
			if n := len(line); n > largest && n > maxPooledLine {
				// Keep memory within 64 MB plus a few times the largest
				// line: the garbage collector otherwise lets the heap
				// reach twice what is live (a line, its copy, its output).
				largest = n
				debug.SetMemoryLimit(int64(48<<20 + 3*n))
			}
			if !gate.acquire(len(line)) {
				return
			}
			j := &job{line: line, size: len(line), n: in.Line(), done: make(chan struct{})}
			if len(line) <= record.KeepLineBuf {
				j.line = append(getBuf(), line...) // the reader reuses its buffer
			}
			select {
			case order <- j:
			case <-stop:
				return
			}
			work <- j
		}
	}()

	for j := range order {
		<-j.done
		if j.err != nil {
			return exitcode.Wrap(exitcode.BadInput, &record.LineError{Name: "stdin", Line: j.n, Err: j.err})
		}
		var err error
		if report {
			for _, f := range j.rec.Findings {
				if err = out.Write(&finding{Kind: "finding", Line: j.n, Record: j.rec.Key, Field: f.Field,
					Rule: f.Rule, Offset: f.Offset, Length: f.Length, Hash: f.Hash}); err != nil {
					break
				}
			}
		} else {
			err = out.WriteLine(j.rec.Line)
			putBuf(j.rec.Line)
		}
		gate.release(j.size)
		if record.IsClosedPipe(err) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	if err := <-readErr; err != nil {
		return err
	}
	if err := out.Flush(); err != nil && !record.IsClosedPipe(err) {
		return err
	}
	return nil
}

// onFirstRead calls first once, when the first bytes arrive.
type onFirstRead struct {
	r     io.Reader
	first func()
}

func (o *onFirstRead) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if n > 0 && o.first != nil {
		o.first()
		o.first = nil
	}
	return n, err
}
