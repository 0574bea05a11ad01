// Package watermark owns the sync state shared by av-read and av-write: what
// each session's last committed sync covered (content digests, the source's
// change markers, the sequence numbers that order writes), the cursors that
// let av-read find changed sessions without scanning them all, the binding
// to one store and machine, and the single-writer lock. The state is a small
// SQLite database updated per batch, so loading, checking and saving it cost
// what changed, not what exists. It never touches the store: av-write
// decides when the state may move, after the store commits.
package watermark

import (
	"os"
	"path/filepath"
)

// Version is the sync version. Bump it when what av-read sends for a session
// changes meaning: a state written by an older version is started afresh
// (every session is verified and re-sent once), and a state from a newer
// version is refused.
const Version = 2

// Tombstone reasons: why a session's rows no longer describe a live session.
const (
	Deleted = "deleted" // the user deleted it in agentsview (its deleted_at is set)
	Removed = "removed" // it is gone from agentsview's database (pruned, trash emptied)
)

// Entry is what the store holds of one session, as of its last commit.
type Entry struct {
	FileHash    string
	LastOrdinal int64
	// ResendFrom starts the unsettled tail re-sent by every append;
	// PrefixDigest covers the rows before it, Digest the header and every row.
	ResendFrom   int64
	PrefixDigest string
	Digest       string
	// BaseDigest is the PrefixDigest of the rows the write kept (an append
	// built on them, a full write re-sent them): a store one commit ahead of
	// the state (a crash between commit and state save) still holds them.
	BaseDigest string
	// Marker and Revision are the source's own change markers for the
	// session when it was read (sync_marker; transcript_revision,
	// data_version and local_modified_at): equal markers mean unchanged.
	Marker, Revision string
	// ReadSeq orders reads: a store never takes a read older than the one it holds.
	ReadSeq int64
	// Seq is the store's commit sequence (of this machine) that wrote the entry.
	Seq int64
	// Tombstone is "", Deleted or Removed; Purged means the rows were removed
	// by --purge-deleted, so a session that comes back is re-sent whole.
	Tombstone string
	Purged    bool
	SyncedAt  string // when, for people; never compared
	// Ruleset is the av-mask ruleset id that masked the rows the store holds
	// ("" when unknown: stored before rulesets were recorded, or unmasked).
	// A session masked by other rules than today's is re-sent whole (or,
	// gone from the source, re-masked from what the store holds).
	Ruleset string
}

// DefaultDir returns the folder of the default state, following XDG.
func DefaultDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "avsync")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "state", "avsync")
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
