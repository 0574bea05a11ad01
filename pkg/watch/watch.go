// Package watch turns changes of agentsview's database into ticks: fsnotify
// on the database's folder, a debounce, a ceiling on how long continuous
// writes may delay a tick, and a periodic reconcile. It also runs a command
// per tick, single-flight. It never syncs anything itself: the command
// (av-read | av-mask | av-write) does.
package watch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Tick reasons.
const (
	ReasonInitial  = "initial"
	ReasonChange   = "change"
	ReasonInterval = "interval"
	ReasonRetry    = "retry" // a run after a failed one, on the backoff timer
)

// Tick is one settled change, or a reconcile.
type Tick struct {
	Kind   string `json:"kind"`
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
	At     string `json:"at"`
	Events int    `json:"events"`
}

// Config says what to watch and how to pace ticks.
type Config struct {
	DB       string        // the agentsview database; its folder is watched
	Debounce time.Duration // a tick once changes are quiet this long …
	MaxDelay time.Duration // … but no later than this after the first change
	Interval time.Duration // a reconcile tick after this long without one
	Initial  bool          // a tick at start
	// Log receives one line per notable event (waiting for the folder, re-arming).
	Log func(format string, args ...any)
}

// Watch sends ticks on out until ctx ends. A missing folder is waited for
// (checked every second), and waited for again if it disappears; a DB that
// is created later, deleted and recreated, or replaced by rename needs no
// re-arming, since the folder, not the file, is watched.
func Watch(ctx context.Context, cfg Config, out chan<- Tick) error {
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	dir, base := filepath.Split(filepath.Clean(cfg.DB))
	if dir == "" {
		dir = "."
	}
	names := map[string]bool{base: true, base + "-wal": true, base + "-shm": true, base + "-journal": true}

	var seq int64
	emit := func(reason string, events int) bool {
		seq++
		t := Tick{Kind: "tick", Seq: seq, Reason: reason, At: time.Now().UTC().Format(time.RFC3339Nano), Events: events}
		select {
		case out <- t:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if cfg.Initial && !emit(ReasonInitial, 0) {
		return nil
	}
	for rearm := false; ctx.Err() == nil; rearm = true {
		w, err := armWhenPresent(ctx, dir, cfg.Log)
		if err != nil || w == nil {
			return err
		}
		if _, err := os.Stat(cfg.DB); rearm && err == nil && !emit(ReasonChange, 1) {
			w.Close()
			return nil // the folder came back with a database in it
		}
		err = loop(ctx, cfg, w, filepath.Clean(dir), names, emit)
		w.Close()
		if !errors.Is(err, errFolderGone) {
			return err
		}
		cfg.Log("%s disappeared; waiting for it to come back", dir)
	}
	return nil
}

// relevant tells whether an event can mean new content. Writes to -shm do
// not: readers (av-read among them) update it too, and a tick per read
// would make the daemon sync forever. Content reaches -wal or the DB file.
func relevant(ev fsnotify.Event, names map[string]bool) bool {
	name := filepath.Base(ev.Name)
	switch {
	case !names[name] || ev.Op == fsnotify.Chmod:
		return false
	case strings.HasSuffix(name, "-shm"):
		return ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)
	}
	return true
}

var errFolderGone = errors.New("watched folder is gone")

// armWhenPresent returns a watcher on dir, waiting while dir does not exist.
func armWhenPresent(ctx context.Context, dir string, log func(string, ...any)) (*fsnotify.Watcher, error) {
	warned := false
	for {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			w, err := fsnotify.NewWatcher()
			if err != nil {
				return nil, err
			}
			if err := w.Add(dir); err == nil {
				return w, nil
			}
			w.Close()
		}
		if !warned {
			log("waiting for %s to exist", dir)
			warned = true
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(time.Second):
		}
	}
}

// loop paces ticks from one watcher's events.
func loop(ctx context.Context, cfg Config, w *fsnotify.Watcher, dir string, names map[string]bool, emit func(string, int) bool) error {
	var (
		pending  int // events since the last tick
		quiet    = time.NewTimer(time.Hour)
		ceiling  = time.NewTimer(time.Hour)
		interval = time.NewTimer(cfg.Interval)
	)
	quiet.Stop()
	ceiling.Stop()
	defer quiet.Stop()
	defer ceiling.Stop()
	defer interval.Stop()
	fire := func(reason string) bool {
		n := pending
		pending = 0
		quiet.Stop()
		ceiling.Stop()
		interval.Reset(cfg.Interval)
		return emit(reason, n)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errFolderGone
			}
			if filepath.Clean(ev.Name) == dir && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
				return errFolderGone
			}
			if !relevant(ev, names) {
				continue
			}
			if pending == 0 {
				ceiling.Reset(cfg.MaxDelay) // continuous writes still tick by then
			}
			pending++
			quiet.Reset(cfg.Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return errFolderGone
			}
			return err
		case <-quiet.C:
			if !fire(ReasonChange) {
				return nil
			}
		case <-ceiling.C:
			if pending > 0 && !fire(ReasonChange) {
				return nil
			}
		case <-interval.C:
			if !fire(ReasonInterval) {
				return nil
			}
		}
	}
}
