package watch

import (
	"encoding/json"
	"sync"
	"time"

	"avsync/pkg/watermark"
)

// Status is the daemon's own part of `av-watch status`: its last tick, last
// run and last error, saved atomically beside the state after each change
// so that another process can read it while the daemon runs.
type Status struct {
	Path string `json:"-"`

	mu        sync.Mutex
	LastTick  *Tick     `json:"last_tick,omitempty"`
	LastRun   *RunInfo  `json:"last_run,omitempty"`
	LastError *ErrorAt  `json:"last_error,omitempty"`
	Runs      int64     `json:"runs"`
	Failures  int64     `json:"failures"`
	Started   time.Time `json:"started"`
}

// RunInfo describes one run of the command.
type RunInfo struct {
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
	ExitCode   int       `json:"exit_code"`
}

// ErrorAt is an error and when it happened.
type ErrorAt struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// Tick records a tick.
func (s *Status) Tick(t Tick) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.LastTick = &t
	s.mu.Unlock()
	s.save()
}

func (s *Status) run(at time.Time, took time.Duration, code int, err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.Runs++
	s.LastRun = &RunInfo{At: at.UTC(), DurationMS: took.Milliseconds(), ExitCode: code}
	if err != nil {
		s.Failures++
		s.LastError = &ErrorAt{At: time.Now().UTC(), Message: err.Error()}
	}
	s.mu.Unlock()
	s.save()
}

func (s *Status) save() {
	s.mu.Lock()
	data, err := json.Marshal(s)
	s.mu.Unlock()
	if err == nil && s.Path != "" {
		watermark.WriteFileAtomic(s.Path, data, 0o600) // best effort: status is advisory
	}
}
