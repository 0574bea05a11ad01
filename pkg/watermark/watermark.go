// Package watermark owns the sync state shared by av-read and av-write: what
// each session's last committed sync covered, the sync version, the binding
// to one store, atomic saves and the single-writer lock. It never touches the
// store: av-write decides when the state may move, after the store commits.
package watermark

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// Version is the sync version. Bump it when what av-read sends for a session
// changes meaning: a state written by an older version makes av-read re-send
// every session in full, and a state from a newer version is refused.
const Version = 1

// Entry is what the store holds of one session, as of its last commit.
type Entry struct {
	FileHash    string `json:"file_hash"`
	LastOrdinal int64  `json:"last_ordinal"`
	// ResendFrom starts the unsettled tail re-sent by every append; the
	// Fingerprint covers the settled rows before it.
	ResendFrom  int64  `json:"resend_from"`
	Fingerprint string `json:"fingerprint"`
	// BaseFingerprint is the older Fingerprint whose settled rows the last
	// write kept (an append built on them, a full write re-sent them). A
	// store one commit ahead of the state (a crash between commit and state
	// save) still holds them, so an append built on that base is sound.
	BaseFingerprint string `json:"base_fingerprint,omitempty"`
	HeaderDigest    string `json:"header_digest"`
	ReadAt          string `json:"read_at"`
	SyncedAt        string `json:"synced_at"`
}

// State is the watermark file.
type State struct {
	Version int `json:"version"`
	// StoreID, Org and Machine bind the state to the store, team and
	// machine it describes.
	StoreID              string `json:"store_id"`
	Org                  string `json:"org"`
	Machine              string `json:"machine"`
	LastSessionCreatedAt string `json:"last_session_created_at"`
	LastSyncedAt         string `json:"last_synced_at"`
	TotalSynced          int64  `json:"total_synced"`
	TotalMasked          int64  `json:"total_masked"`
	// MarksDigest is the digest of the last stars/pins/deletions snapshot
	// stored: av-read sends a new one only when it differs.
	MarksDigest string           `json:"marks_digest,omitempty"`
	Sessions    map[string]Entry `json:"sessions"`
}

// New returns an empty state of the current version.
func New() *State {
	return &State{Version: Version, Sessions: map[string]Entry{}}
}

// ErrNewer means the state was written by a newer avsync.
var ErrNewer = errors.New("written by a newer avsync")

// Load reads the state at path. A missing file is an empty state; a corrupt
// one is an error, never a silent fresh start (that would re-send or skip
// sessions without anyone knowing why).
func Load(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	s := New()
	s.Version = 0
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("state %s is corrupt (%v); move it aside to rebuild it from the store", path, err)
	}
	if s.Version > Version {
		return nil, fmt.Errorf("state %s: version %d is %w (this one knows %d)", path, s.Version, ErrNewer, Version)
	}
	if s.Sessions == nil {
		s.Sessions = map[string]Entry{}
	}
	return s, nil
}

// Save writes the state atomically.
func (s *State) Save(path string) error {
	data, err := json.Marshal(s) // compact: av-read parses it every cycle
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// WriteFileAtomic replaces path with data so that a crash leaves either the
// old file or the new one, never a torn mix: temp file in the same folder,
// write, fsync, close, rename, fsync the folder.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Fingerprint condenses cheap aggregates of a session's settled rows (counts,
// id and length sums, computed in SQL without reading content) into a short
// string. Any re-parse that rewrites those rows changes it.
func Fingerprint(parts ...int64) string {
	d := NewDigest()
	for _, p := range parts {
		d.Int(p)
	}
	return fmt.Sprintf("v%d:%s", Version, d.Sum())
}

// Digest condenses a sequence of fields into a short string; each field is
// length-prefixed so that ("ab","c") and ("a","bc") differ.
type Digest struct{ h hash.Hash }

// NewDigest starts a digest.
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

// String adds a string field.
func (d *Digest) String(s string) {
	d.Int(int64(len(s)))
	io.WriteString(d.h, s)
}

// Int adds an integer field.
func (d *Digest) Int(n int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	d.h.Write(b[:])
}

// Sum is the digest so far.
func (d *Digest) Sum() string { return hex.EncodeToString(d.h.Sum(nil)[:10]) }
