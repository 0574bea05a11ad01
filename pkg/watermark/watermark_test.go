package watermark

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"avsync/pkg/sqlitebusy/busytest"
)

func TestStateRoundTripsAndIsPrivate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state.db")
	s, err := Open(ctx, path)
	if err != nil || s.Meta.Version != Version {
		t.Fatalf("new state: %+v %v", s.Meta, err)
	}
	e := Entry{FileHash: "h", LastOrdinal: 9, ResendFrom: 7, PrefixDigest: "p", Digest: "d", Marker: "m",
		ReadSeq: 3, Seq: 2, Tombstone: Deleted, Purged: true, SyncedAt: "now"}
	if err := s.Update(ctx, func(tx *Tx) error {
		tx.Meta.StoreID, tx.Meta.StoreSeq, tx.Meta.Marker = "abc", 2, "2026-11-30T00:00:00.000Z"
		return tx.Put(ctx, "x", e)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Lookup(ctx, []string{"x", "missing"})
	if err != nil || len(got) != 1 || got["x"] != e {
		t.Fatalf("reloaded %+v %v", got, err)
	}
	if s.Meta.StoreID != "abc" || s.Meta.StoreSeq != 2 || s.Meta.Marker == "" {
		t.Fatalf("meta %+v", s.Meta)
	}
	for _, p := range []string{filepath.Dir(path), path} {
		st, _ := os.Stat(p)
		want := os.FileMode(0o600)
		if st.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Fatalf("%s mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
}

func TestUpdateIsAtomic(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	boom := errors.New("boom")
	err = s.Update(ctx, func(tx *Tx) error {
		tx.Meta.StoreSeq = 9
		tx.Put(ctx, "a", Entry{Digest: "d"})
		return boom
	})
	if !errors.Is(err, boom) || s.Meta.StoreSeq != 0 {
		t.Fatalf("failed update: %v, meta %+v", err, s.Meta)
	}
	if got, _ := s.Lookup(ctx, []string{"a"}); len(got) != 0 {
		t.Fatal("a failed update left an entry")
	}
}

func TestStateRefusesNewerAndResetsOlder(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, _ := Open(ctx, path)
	s.Update(ctx, func(tx *Tx) error {
		tx.Meta.Marker, tx.Meta.Source = "m", "src"
		return tx.Put(ctx, "a", Entry{Digest: "d"})
	})
	s.db.Exec("UPDATE meta SET value = '1' WHERE key = 'version'")
	s.Close()
	s, err := Open(ctx, path)
	if n, _ := s.Count(ctx); err != nil || n != 0 || s.Meta.Source != "" || s.Meta.Version != Version {
		t.Fatalf("older state: %+v %v (want its entries and cursor gone)", s.Meta, err)
	}
	s.db.Exec("UPDATE meta SET value = '42' WHERE key = 'version'")
	s.Close()
	if _, err := Open(ctx, path); !errors.Is(err, ErrNewer) {
		t.Fatalf("newer state: %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 400)), 0o600)
	if _, err := Open(ctx, junk); err == nil || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("damaged state: %v", err)
	}
}

func TestReadSeqsAreUniqueAndRaised(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, path)
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			for j := 0; j < 10; j++ {
				n, err := s.NextReadSeq(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[n] {
					t.Errorf("read sequence %d handed out twice", n)
				}
				seen[n] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s, _ := Open(ctx, path)
	defer s.Close()
	s.RaiseReadSeq(ctx, 100)
	s.RaiseReadSeq(ctx, 7) // never lowers
	if n, _ := s.NextReadSeq(ctx); n != 101 {
		t.Fatalf("after raising to 100: %d", n)
	}
}

func TestPageWalksEveryEntryOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	s.Update(ctx, func(tx *Tx) error {
		for _, id := range []string{"c", "a", "e", "b", "d"} {
			tx.Put(ctx, id, Entry{Digest: id})
		}
		return nil
	})
	var got []string
	after := ""
	for {
		page, err := s.Page(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			got = append(got, p.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if strings.Join(got, "") != "abcde" {
		t.Fatalf("pages: %v", got)
	}
}

func TestIdentityIsMadeOnceAndAdoptsAvsync1(t *testing.T) {
	dir := t.TempDir()
	a, created, err := LoadIdentity(dir, "")
	if err != nil || !created || a.ID == "" || len(a.Key) != 64 {
		t.Fatalf("first identity: %+v %v %v", a, created, err)
	}
	b, created, _ := LoadIdentity(dir, "")
	if created || b != a {
		t.Fatalf("second load made a new identity: %+v", b)
	}
	if st, _ := os.Stat(filepath.Join(dir, IdentityFile)); st.Mode().Perm() != 0o600 {
		t.Fatalf("identity mode %v", st.Mode().Perm())
	}
	old := t.TempDir()
	os.WriteFile(filepath.Join(old, "state.json"), []byte(`{"version":1,"machine":"MacBook-Pro.local"}`), 0o600)
	if id, _, _ := LoadIdentity(old, ""); id.ID != "MacBook-Pro.local" {
		t.Fatalf("avsync 1's machine name not adopted: %q", id.ID)
	}
	// A lost machine.json keeps the id the state knows; the writer, from
	// the new key, tells the store it is not the computer it knew.
	lost := t.TempDir()
	if id, _, _ := LoadIdentity(lost, "laptop-3f2a"); id.ID != "laptop-3f2a" || id.Writer() == a.Writer() || id.Writer() == "" {
		t.Fatalf("identity after a lost machine.json: %+v", id)
	}
	os.WriteFile(filepath.Join(old, IdentityFile), []byte("{"), 0o600)
	if _, _, err := LoadIdentity(old, ""); err == nil || !strings.Contains(err.Error(), "restore it") {
		t.Fatalf("damaged identity: %v", err)
	}
}

func TestKeyedDigests(t *testing.T) {
	d := func(key string, fields ...string) string {
		g := NewKeyedDigest([]byte(key))
		for _, f := range fields {
			g.String(f)
		}
		return g.Sum()
	}
	if d("k", "ab", "c") == d("k", "a", "bc") || d("k", "x") == d("other", "x") || d("k", "x") != d("k", "x") {
		t.Fatal("digests must separate fields and keys and be stable")
	}
	g := NewKeyedDigest([]byte("k"))
	g.String("prefix")
	c := g.Clone()
	g.String("more")
	if c.Sum() != d("k", "prefix") || g.Sum() != d("k", "prefix", "more") {
		t.Fatal("a clone must not share state")
	}
}

// TestDigestFormat: digests kept in states and stores stay what they were:
// each field its little-endian length, then its bytes.
func TestDigestFormat(t *testing.T) {
	var want []byte
	for _, f := range []string{"k", "", "ab", strings.Repeat("é", 100)} {
		want = binary.LittleEndian.AppendUint64(want, uint64(len(f)))
		want = append(want, f...)
	}
	want = binary.LittleEndian.AppendUint64(want, 7)
	sum := sha256.Sum256(want)
	g := NewKeyedDigest([]byte("k"))
	g.String("")
	g.String("ab")
	g.String(strings.Repeat("é", 100))
	g.Int(7)
	if got := g.Sum(); got != hex.EncodeToString(sum[:16]) {
		t.Fatalf("digest %s, want %x", got, sum[:16])
	}
}

func TestWriteFileAtomicCleansUpOnFailure(t *testing.T) {
	dir := t.TempDir()
	// The target is a non-empty folder: the final rename fails, even for root.
	target := filepath.Join(dir, "status.json")
	os.MkdirAll(filepath.Join(target, "keep"), 0o700)
	if err := WriteFileAtomic(target, []byte("new"), 0o600); err == nil {
		t.Fatal("replacing a folder succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || !entries[0].IsDir() {
		t.Fatalf("temp file left behind or target damaged: %v", entries)
	}
	path := filepath.Join(dir, "f")
	os.WriteFile(path, []byte("old"), 0o600)
	if err := WriteFileAtomic(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "new" {
		t.Fatalf("got %q", data)
	}
}

func TestLockNamesHolderAndWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db.lock")
	first, err := Acquire(context.Background(), path, "av-write", false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(context.Background(), path, "av-write", false)
	var locked *LockedError
	if !errors.As(err, &locked) || locked.Holder.PID != os.Getpid() || !strings.Contains(err.Error(), "av-write (pid") {
		t.Fatalf("second acquire: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		l, err := Acquire(ctx, path, "av-write", true)
		if err == nil {
			l.Release()
		}
		done <- err
	}()
	first.Release()
	if err := <-done; err != nil {
		t.Fatalf("waiting acquire: %v", err)
	}
	cancel()
}

// TestStateGainsTheRulesetColumn: a state made before rulesets were
// recorded keeps its entries and cursor, and gets the column, empty
// (unknown rules: re-masked once), while the rest of it stays.
func TestStateGainsTheRulesetColumn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, _ := Open(ctx, path)
	s.Update(ctx, func(tx *Tx) error {
		tx.Meta.Source, tx.Meta.Ruleset = "src", "avmask-aaaaaaaaaaaa"
		return tx.Put(ctx, "a", Entry{Digest: "d", Ruleset: "avmask-aaaaaaaaaaaa"})
	})
	if _, err := s.db.Exec("ALTER TABLE sessions DROP COLUMN ruleset"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Lookup(ctx, []string{"a"})
	if err != nil || got["a"].Digest != "d" || got["a"].Ruleset != "" || s.Meta.Source != "src" || s.Meta.Ruleset != "avmask-aaaaaaaaaaaa" {
		t.Fatalf("an older state: %+v, %v, meta %+v", got, err, s.Meta)
	}
}

// TestFreshStateOpenedAtOnce: av-read and av-write open a state that does
// not exist yet at the same instant on every first sync. While a new file
// turns to WAL, SQLite can answer one of them "database is locked" at once,
// without waiting; that must be waited out, never called a damaged state.
func TestFreshStateOpenedAtOnce(t *testing.T) {
	busytest.OpenAtOnce(t, 60, 6, func(path string) (string, error) {
		s, err := Open(context.Background(), path)
		if err != nil {
			return "", err
		}
		defer s.Close()
		return s.Meta.StateID, nil
	})
}
