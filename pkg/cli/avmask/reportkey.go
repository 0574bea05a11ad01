package avmask

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// reportKeyPath is where av-mask keeps the key of --report's hashes: beside
// the state file, in the state folder the other tools already use.
func reportKeyPath(statePath string) string {
	return filepath.Join(filepath.Dir(statePath), "report.key")
}

// loadReportKey reads the report key, making a random one (0600) the first
// time. The key never leaves the machine: hashes made with it can be
// compared with each other, not with a word list.
func loadReportKey(path string) ([]byte, error) {
	if key, err := readReportKey(path); !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("report key: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("report key: %w", err)
	}
	// Written whole under a temporary name, then linked: a reader sees no
	// key or a whole one, and of two first runs one key wins.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report.key.*")
	if err != nil {
		return nil, fmt.Errorf("report key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(hex.EncodeToString(raw) + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("report key %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("report key %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("report key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("report key %s: %w", path, err)
	}
	return readReportKey(path)
}

func readReportKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("report key %s: readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("report key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("report key %s: not a hex key of at least 16 bytes", path)
	}
	return key, nil
}
