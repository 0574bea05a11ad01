// Package record owns avsync's wire format v2: the NDJSON records that flow
// between av-read, av-mask and av-write, and the line reader and writer that
// carry them. It knows nothing about SQL.
//
// A session's records are contiguous: one session header, then each message
// followed by its tool calls, then one session_end that closes the group.
package record

// Kinds of records.
const (
	KindSession    = "session"
	KindMessage    = "message"
	KindToolCall   = "tool_call"
	KindSessionEnd = "session_end"
	KindMarks      = "marks" // opens a snapshot of one user's stars and pins
	KindStar       = "star"
	KindPin        = "pin"
	KindMarksEnd   = "marks_end"
	KindTombstone  = "tombstone"  // a session gone from the source
	KindCursor     = "cursor"     // closes av-read's stream: how far it got
	KindRemaskEnd  = "remask_end" // closes av-write --export-gone's stream
	KindResult     = "result"
	KindSummary    = "summary"
)

// Modes of a session group.
const (
	// ModeAppend keeps the session's stored rows before SinceOrdinal and
	// replaces those from SinceOrdinal on with what follows.
	ModeAppend = "append"
	// ModeFull replaces all the session's stored rows with what follows.
	ModeFull = "full"
)

// Stamp is the proof av-mask leaves on every record it has masked.
type Stamp struct {
	Ruleset string         `json:"ruleset"`
	Secrets int            `json:"secrets"`
	Rules   map[string]int `json:"rules,omitempty"`
	counted bool           // "secrets" was present when decoded
}

// Session opens a group. Fields the source lacks are empty or 0.
type Session struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Project string `json:"project"`
	// Machine keys the session's rows: this machine's stable id, never the
	// hostname (the store shows that beside the machine, in store_machines).
	Machine           string `json:"machine"`
	Agent             string `json:"agent"`
	FirstMessage      string `json:"first_message"`
	DisplayName       string `json:"display_name"`
	StartedAt         string `json:"started_at"`
	EndedAt           string `json:"ended_at"`
	MessageCount      int64  `json:"message_count"`
	UserMessageCount  int64  `json:"user_message_count"`
	ParentSessionID   string `json:"parent_session_id"`
	RelationshipType  string `json:"relationship_type"`
	CreatedAt         string `json:"created_at"`
	FileHash          string `json:"file_hash"`
	TotalOutputTokens int64  `json:"total_output_tokens"`
	PeakContextTokens int64  `json:"peak_context_tokens"`
	DeletedAt         string `json:"deleted_at"`
	// Who and which project, resolved by av-read (not agentsview's columns).
	UserID      string `json:"user_id"`
	UserName    string `json:"user_name"`
	ProjectID   string `json:"project_id"`
	ProjectName string `json:"project_name"`
	Mode        string `json:"mode"`
	// SinceOrdinal, in mode append, is the first ordinal the group carries:
	// the store replaces its rows from there on (the unsettled tail).
	SinceOrdinal *int64 `json:"since_ordinal,omitempty"`
	// BaseDigest is the digest of the settled rows the state had: in mode
	// append the group builds on them, and a store that does not hold them
	// must not take it; in mode full the group still holds them.
	BaseDigest string `json:"base_digest,omitempty"`
	// ReadSeq numbers av-read's run: a store never takes a read older than
	// the one it holds (no clocks are compared).
	ReadSeq int64 `json:"read_seq"`
	// Remask says the group is a session gone from the source, streamed
	// back out of the store (av-write --export-gone) to be masked by
	// today's rules: the store keeps its tombstone and watermark and
	// records only the new ruleset. ReadSeq is then the read that stored
	// it: a store holding another read has moved on, and skips the group.
	Remask bool   `json:"remask,omitempty"`
	Masked *Stamp `json:"masked,omitempty"`
}

// Message is one message of the session being sent.
type Message struct {
	Kind          string `json:"kind"`
	SessionID     string `json:"session_id"`
	Ordinal       int64  `json:"ordinal"`
	Role          string `json:"role"`
	Content       string `json:"content"`
	Thinking      string `json:"thinking"`
	Timestamp     string `json:"timestamp"`
	HasThinking   bool   `json:"has_thinking"`
	HasToolUse    bool   `json:"has_tool_use"`
	ContentLength int64  `json:"content_length"`
	Model         string `json:"model"`
	TokenUsage    string `json:"token_usage"`
	ContextTokens int64  `json:"context_tokens"`
	OutputTokens  int64  `json:"output_tokens"`
	IsSystem      bool   `json:"is_system"`
	Masked        *Stamp `json:"masked,omitempty"`
}

// ToolCall is one tool call of a message; CallIndex is its position among
// that message's calls. A result not yet known is null.
type ToolCall struct {
	Kind                string  `json:"kind"`
	SessionID           string  `json:"session_id"`
	MessageOrdinal      int64   `json:"message_ordinal"`
	CallIndex           int64   `json:"call_index"`
	ToolUseID           string  `json:"tool_use_id"`
	ToolName            string  `json:"tool_name"`
	Category            string  `json:"category"`
	InputJSON           string  `json:"input_json"`
	SkillName           string  `json:"skill_name"`
	ResultContent       *string `json:"result_content"`
	ResultContentLength *int64  `json:"result_content_length"`
	SubagentSessionID   string  `json:"subagent_session_id"`
	Masked              *Stamp  `json:"masked,omitempty"`
}

// SessionEnd closes a group and carries the watermark the writer records
// once the group is committed.
type SessionEnd struct {
	Kind        string `json:"kind"`
	SessionID   string `json:"session_id"`
	FileHash    string `json:"file_hash"`
	LastOrdinal int64  `json:"last_ordinal"`
	// ResendFrom is the first ordinal of the unsettled tail: the next append
	// re-sends from there. PrefixDigest covers every synced column of the
	// rows before it, Digest the header and every row: keyed digests of the
	// source's content, so an append is proven by content, not by counts.
	ResendFrom   int64  `json:"resend_from"`
	PrefixDigest string `json:"prefix_digest"`
	Digest       string `json:"digest"`
	// Marker and Revision are the source's change markers as read.
	Marker   string `json:"marker"`
	Revision string `json:"revision"`
	// Messages and ToolCalls count the group's records, so the writer can
	// tell a complete group from one that lost lines on the way.
	Messages  int64 `json:"messages"`
	ToolCalls int64 `json:"tool_calls"`
}

// Marks opens a snapshot of one user's stars and pins on one machine: the
// store replaces that user's previous snapshot with it, so an unstar
// propagates.
type Marks struct {
	Kind    string `json:"kind"`
	Machine string `json:"machine"`
	UserID  string `json:"user_id"`
	Masked  *Stamp `json:"masked,omitempty"`
}

// Star is a starred session.
type Star struct {
	Kind      string `json:"kind"`
	SessionID string `json:"session_id"`
	CreatedAt string `json:"created_at"`
	Masked    *Stamp `json:"masked,omitempty"`
}

// Pin is a pinned message; its note is free text (masked).
type Pin struct {
	Kind      string `json:"kind"`
	SessionID string `json:"session_id"`
	Ordinal   int64  `json:"ordinal"`
	Note      string `json:"note"`
	CreatedAt string `json:"created_at"`
	Masked    *Stamp `json:"masked,omitempty"`
}

// Tombstone says a session is gone from agentsview's database. The store
// keeps a tombstone (and, unless --purge-deleted, the rows) that no later
// snapshot erases; a session deleted in agentsview but still in its
// database gets its tombstone from its header's deleted_at instead.
type Tombstone struct {
	Kind      string `json:"kind"`
	SessionID string `json:"session_id"`
	Machine   string `json:"machine"`
	Reason    string `json:"reason"` // "removed"
	ReadSeq   int64  `json:"read_seq"`
	Masked    *Stamp `json:"masked,omitempty"`
}

// Cursor closes av-read's stream: how far its pass through the source got.
// av-write saves it only when every group before it was stored, so a
// session that failed is found again by the next run.
type Cursor struct {
	Kind string `json:"kind"`
	// State names the state av-read used: another state never takes it.
	State string `json:"state"`
	// Source names the database the cursor belongs to; a replaced database
	// has another name and is verified whole.
	Source string `json:"source"`
	// Settings condenses av-read's user and project settings.
	Settings  string `json:"settings,omitempty"`
	Marker    string `json:"marker"`    // sync_marker high water
	Deletions int64  `json:"deletions"` // deletion journal revision
	ReadSeq   int64  `json:"read_seq"`
	// Ruleset is the av-mask ruleset av-read was told is current
	// (--ruleset): every session it did not send is masked by it.
	Ruleset string `json:"ruleset,omitempty"`
	// Limited says --limit left changed sessions for the next run;
	// Verified that the pass checked every session.
	Limited  bool   `json:"limited,omitempty"`
	Verified bool   `json:"verified,omitempty"`
	Masked   *Stamp `json:"masked,omitempty"`
}

// RemaskEnd closes a stream of re-masked gone sessions: once av-write has
// stored every group before it, every gone session the store keeps is
// masked by Ruleset, and the next runs need not look again.
type RemaskEnd struct {
	Kind    string `json:"kind"`
	State   string `json:"state"`   // the state the exporter read
	Ruleset string `json:"ruleset"` // the ruleset the gone sessions were to be masked by
	Masked  *Stamp `json:"masked,omitempty"`
}

// MarksEnd closes a marks snapshot with its counts and digest.
type MarksEnd struct {
	Kind   string `json:"kind"`
	Digest string `json:"digest"`
	Stars  int64  `json:"stars"`
	Pins   int64  `json:"pins"`
}

// Result reports what av-write did with one session.
type Result struct {
	Kind      string `json:"kind"`
	SessionID string `json:"session_id"`
	Status    string `json:"status"`
	Mode      string `json:"mode,omitempty"`
	Messages  int64  `json:"messages"`
	ToolCalls int64  `json:"tool_calls"`
	Error     string `json:"error,omitempty"`
}

// Result statuses.
const (
	StatusSynced  = "synced"
	StatusSkipped = "skipped" // the store already holds this read or a newer one
	StatusError   = "error"
)

// Summary closes av-write's output.
type Summary struct {
	Kind            string `json:"kind"`
	SessionsSynced  int64  `json:"sessions_synced"`
	SessionsSkipped int64  `json:"sessions_skipped"`
	SessionsFailed  int64  `json:"sessions_failed"`
	Messages        int64  `json:"messages"`
	ToolCalls       int64  `json:"tool_calls"`
	SecretsMasked   int64  `json:"secrets_masked"`
	Links           int64  `json:"git_links"`
	Stars           int64  `json:"stars"`
	Pins            int64  `json:"pins"`
	Tombstones      int64  `json:"tombstones"`
	Purged          int64  `json:"sessions_purged"`
	BadLines        int64  `json:"bad_lines"`
	InvalidUTF8     int64  `json:"invalid_utf8_lines"` // stored with U+FFFD for the bad bytes
	// StateRebuilt says the state was rebuilt from the store this run (it
	// described another store, or the store was restored from a backup):
	// the next run re-sends what the store lacks.
	StateRebuilt bool `json:"state_rebuilt,omitempty"`
	// Remask says sessions gone from the source may still be stored masked
	// by other rules than --ruleset: scripts/av-sync then runs
	// av-write --export-gone | av-mask | av-write.
	Remask     bool  `json:"remask,omitempty"`
	DurationMS int64 `json:"duration_ms"`
}
