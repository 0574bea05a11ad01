// Package cli is what the avsync tools share: flags with their env twins
// and XDG defaults, logging, progress lines, redaction of credentials, and
// the mapping of errors to documented exit codes. Each tool's app is a
// package of its own (avread, avmask, avwrite, avwatch), so a binary links
// only what it uses: av-mask, the trust boundary, no store driver, and
// every tool starts in a few milliseconds. None holds sync logic.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"
	"golang.org/x/term"

	"avsync/pkg/exitcode"
	"avsync/pkg/lazyregexp"
	"avsync/pkg/record"
)

// Default locations, following the XDG base directory spec.
func DefaultStatePath() string {
	return filepath.Join(xdgDir("XDG_STATE_HOME", ".local/state"), "avsync", "state.db")
}

func DefaultStoreURL() string {
	return "sqlite://" + filepath.Join(xdgDir("XDG_DATA_HOME", ".local/share"), "avsync", "store.db")
}

func DefaultSourcePath() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".agentsview", "sessions.db")
}

func xdgDir(env, fallback string) string {
	if d := os.Getenv(env); filepath.IsAbs(d) {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, fallback)
}

// Streams are a tool's standard streams, injected so tests can drive Main.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// run builds and runs an app, and turns its outcome into an exit code. Only
// here does an error become a code; the message printed beside it is one
// line prefixed with the tool's name.
func Run(ctx context.Context, app *ucli.App, args []string, s Streams) int {
	app.Reader, app.Writer, app.ErrWriter = s.In, s.Out, s.Err
	app.HideHelpCommand = true
	app.ExitErrHandler = func(*ucli.Context, error) {} // never os.Exit from inside
	app.OnUsageError = func(_ *ucli.Context, err error, _ bool) error {
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("%s (see %s --help)", twoDashes(err.Error()), app.Name))
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = app.OnUsageError
	}
	// Values the flag parser cannot check are refused before any work.
	app.Before = func(c *ucli.Context) error {
		switch p := c.String("progress"); p {
		case "", "auto", "always", "never":
		default:
			return exitcode.Errorf(exitcode.Usage, "--progress %q: want auto, always or never (see %s --help)", p, app.Name)
		}
		for _, f := range app.Flags {
			if d, ok := f.(*ucli.DurationFlag); ok && c.Duration(d.Name) < 0 {
				return exitcode.Errorf(exitcode.Usage, "--%s %s: must not be negative (see %s --help)", d.Name, c.Duration(d.Name), app.Name)
			}
		}
		return nil
	}
	app.CustomAppHelpTemplate = ucli.AppHelpTemplate + "\n" + exitcode.Help + "\n"
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitcode.OK
	}
	code := exitcode.Of(err)
	// A signal ends whatever the tool was doing (connecting, waiting on the
	// store, committing) with an error of that stage; the signal is the
	// cause, so the code is 130 whichever error it produced.
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		code = exitcode.Interrupted
	}
	if code == exitcode.Failed && strings.HasPrefix(err.Error(), "flag provided but not defined") {
		code = exitcode.Usage
	}
	fmt.Fprintf(s.Err, "%s: %s\n", app.Name, twoDashes(err.Error()))
	return code
}

// flagName finds a flag as Go's flag package names it in its errors.
var flagName = lazyregexp.New(`((?:not defined: |for flag |needs an argument: ))-([A-Za-z])`)

// twoDashes writes flags in errors the way the help and README do: --name.
func twoDashes(msg string) string { return flagName().ReplaceAllString(msg, "${1}--${2}") }

// logger prints one-line diagnostics on stderr, prefixed with the tool name.
type Logger struct {
	mu   sync.Mutex
	name string
	w    io.Writer
	// progressShown is set while a \r progress line is on screen.
	progressShown bool
}

// NewLogger is a tool's logger writing to w.
func NewLogger(name string, w io.Writer) *Logger { return &Logger{name: name, w: w} }

func (l *Logger) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.progressShown {
		fmt.Fprint(l.w, "\r\033[K")
		l.progressShown = false
	}
	fmt.Fprintf(l.w, "%s: %s\n", l.name, fmt.Sprintf(format, args...))
}

// progress prints a progress line at most every interval. On a terminal it
// redraws one line; elsewhere (a log file) it prints a line each time.
type Progress struct {
	log      *Logger
	tty      bool
	interval time.Duration
	last     time.Time
}

func NewProgress(log *Logger, enabled string) *Progress {
	tty := IsTerminal(log.w)
	switch enabled {
	case "always":
	case "never":
		return nil
	default: // auto
		if !tty {
			return nil
		}
	}
	return &Progress{log: log, tty: tty, interval: time.Second}
}

func (p *Progress) Show(format string, args ...any) {
	if p == nil || time.Since(p.last) < p.interval {
		return
	}
	p.last = time.Now()
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.log.w, "\r\033[K%s: %s", p.log.name, fmt.Sprintf(format, args...))
		p.log.progressShown = true
		return
	}
	fmt.Fprintf(p.log.w, "%s: %s\n", p.log.name, fmt.Sprintf(format, args...))
}

// hintIfTerminal tells a user who ran a filter stage alone why it waits.
func HintIfTerminal(log *Logger, in io.Reader) {
	if IsTerminal(in) {
		log.Printf("reading records from stdin (a terminal); pipe av-read into it, or press Ctrl-D to end")
	}
}

func IsTerminal(s any) bool {
	if l, ok := s.(*lineWriter); ok {
		s = l.file()
	}
	f, ok := s.(*os.File)
	if !ok {
		return false
	}
	// A terminal query, not the file mode: /dev/null is a character device too.
	return term.IsTerminal(int(f.Fd()))
}

// RulesetFlag is --ruleset, shared by av-read and av-write.
func RulesetFlag(usage string) *ucli.StringFlag {
	return &ucli.StringFlag{Name: "ruleset", EnvVars: []string{"AV_RULESET"}, Usage: usage,
		Action: func(_ *ucli.Context, v string) error {
			if v != "" && !record.IsRulesetID(v) {
				return exitcode.Errorf(exitcode.Usage, "--ruleset %q: want an av-mask ruleset id (avmask- and 12 hex digits; av-mask --print-ruleset prints it)", v)
			}
			return nil
		}}
}

func QuietFlag() *ucli.BoolFlag {
	return &ucli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, EnvVars: []string{"AV_QUIET"},
		Usage: "print only errors on stderr"}
}

func ProgressFlag() *ucli.StringFlag {
	return &ucli.StringFlag{Name: "progress", EnvVars: []string{"AV_PROGRESS"}, Value: "auto",
		Usage: "show a progress line on stderr `WHEN`: auto (stderr is a terminal), always or never"}
}

// lineCapFlag bounds the memory of a stage that reads records: one record
// (a session header, a message with its text) per line.
func LineCapFlag() *ucli.IntFlag {
	return &ucli.IntFlag{Name: "max-line-mb", EnvVars: []string{"AV_MAX_LINE_MB"}, Value: 64,
		Usage: "refuse (exit 3) an input line longer than `MB`: it bounds this stage's memory to a few times that"}
}

// lineCap is --max-line-mb in bytes.
func LineCap(c *ucli.Context) (int, error) {
	mb := c.Int("max-line-mb")
	if mb < 1 || mb > 2047 {
		return 0, exitcode.Errorf(exitcode.Usage, "--max-line-mb %d: want 1 to 2047", mb)
	}
	return mb << 20, nil
}

// oneCore runs the process on one core unless GOMAXPROCS says otherwise.
// Each tool is one sequential stream; in av-read | av-mask | av-write the
// pipeline is the parallelism, and the other stages keep the other cores
// busy. A Go runtime given cores it cannot use spends CPU on them anyway
// (threads spinning for work, garbage-collection workers on idle cores):
// on the bench database, 35% of av-mask's CPU and 20% of av-read's.
func oneCore() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// UseCores lets a tool that asked for n goroutines of work (av-mask
// --workers) run them on up to n cores, unless GOMAXPROCS says otherwise.
func UseCores(n int) {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < n {
		runtime.GOMAXPROCS(min(n, runtime.NumCPU()))
	}
}

// lineCapError gives a line past the cap its code and the way out.
func LineCapError(err error) error {
	if errors.Is(err, record.ErrLineTooLong) {
		return exitcode.Wrap(exitcode.BadInput, fmt.Errorf("%w (raise it with --max-line-mb or AV_MAX_LINE_MB)", err))
	}
	return err
}

func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Exit runs a tool as a process: SIGINT/SIGTERM cancel its context, a closed
// stdout becomes an EPIPE error the tool handles rather than a kill, and the
// tool's code is the process's exit code.
func Exit(tool func(context.Context, []string, Streams) int) {
	oneCore()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	signal.Ignore(syscall.SIGPIPE)
	growPipe(os.Stdout)
	code := tool(ctx, os.Args, Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
