package watermark

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveLoadRoundTripAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "state.json")
	s, err := Load(path)
	if err != nil || len(s.Sessions) != 0 || s.Version != Version {
		t.Fatalf("missing state: %+v %v", s, err)
	}
	s.StoreID = "abc"
	s.Sessions["x"] = Entry{FileHash: "h", LastOrdinal: 9, ResendFrom: 7, Fingerprint: Fingerprint(1, 2)}
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil || got.StoreID != "abc" || got.Sessions["x"].LastOrdinal != 9 {
		t.Fatalf("reloaded %+v %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temp files left beside the state: %v", entries)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("state mode %v", st.Mode())
	}
}

func TestLoadRefusesCorruptAndNewer(t *testing.T) {
	dir := t.TempDir()
	torn := filepath.Join(dir, "torn.json")
	os.WriteFile(torn, []byte(`{"version":1,"sessions":{"a":`), 0o600)
	if _, err := Load(torn); err == nil || !strings.Contains(err.Error(), "torn.json is corrupt") {
		t.Fatalf("torn state: %v", err)
	}
	newer := filepath.Join(dir, "newer.json")
	os.WriteFile(newer, []byte(`{"version":42}`), 0o600)
	if _, err := Load(newer); !errors.Is(err, ErrNewer) {
		t.Fatalf("newer state: %v", err)
	}
}

func TestWriteFileAtomicCleansUpOnFailure(t *testing.T) {
	dir := t.TempDir()
	// The target is a non-empty folder: the final rename fails, even for root.
	target := filepath.Join(dir, "state.json")
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
	path := filepath.Join(t.TempDir(), "state.json.lock")
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

func TestFingerprintDependsOnEveryPart(t *testing.T) {
	base := Fingerprint(1, 2, 3)
	for _, other := range []string{Fingerprint(1, 2, 4), Fingerprint(2, 1, 3), Fingerprint(1, 2), Fingerprint(1, 2, 3, 0)} {
		if other == base {
			t.Fatalf("fingerprints collide: %s", base)
		}
	}
}
