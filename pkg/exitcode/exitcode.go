// Package exitcode owns the exit codes shared by every avsync tool. Errors
// carry their code (see Error); only a tool's Main turns an error into a code,
// so the code a user sees always matches the message printed beside it.
package exitcode

import (
	"errors"
	"fmt"
)

// The documented exit codes. Every --help and the README list them.
const (
	OK          = 0   // everything asked for was done
	Failed      = 1   // some sessions failed (the others were synced), or an unexpected error
	Usage       = 2   // bad flags or arguments
	BadInput    = 3   // malformed or unmasked records on stdin
	Locked      = 4   // another writer holds the state lock
	Store       = 5   // the store is unavailable or refused a write
	Source      = 6   // the agentsview database is missing, unreadable or not agentsview's
	State       = 7   // the state file is unreadable, corrupt or from a newer avsync
	Unmasked    = 8   // records without av-mask's stamp reached av-write
	Interrupted = 130 // stopped by SIGINT or SIGTERM; committed work is kept
)

// Help is the exit code table printed by every tool's --help.
const Help = `EXIT CODES:
   0    ok
   1    some sessions failed (the rest were synced), or an unexpected error
   2    usage: bad flags or arguments
   3    bad input: a malformed record or a broken group on stdin
   4    locked: another av-write holds the state lock
   5    store unavailable or refused a write (the watermark did not move)
   6    source: the agentsview database is missing, unreadable or not agentsview's
   7    state: the state file is unreadable, corrupt or from a newer avsync
   8    unmasked: a record without av-mask's stamp reached av-write (nothing of its batch stored)
   130  interrupted (work committed before the signal is kept)`

// Error is an error that knows the exit code it deserves.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Wrap gives err the exit code code, unless err is nil.
func Wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Errorf formats an error carrying code.
func Errorf(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// Of returns the exit code an error deserves: its own when it carries one,
// Failed otherwise, OK for nil.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Failed
}
