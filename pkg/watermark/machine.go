package watermark

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Identity names this machine in every store for good: rows are keyed by
// ID, never by the hostname (which changes, and which two laptops may
// share). Key seeds the digests of session content this machine writes.
type Identity struct {
	ID  string `json:"machine_id"`
	Key string `json:"digest_key"`
}

// IdentityFile is the file, beside the state, that keeps the identity.
const IdentityFile = "machine.json"

// Writer names who writes a machine's rows: derived from the secret key, so
// another computer given the same machine id (the same --machine, two
// avsync 1 laptops that shared a hostname) is told apart and stopped.
func (id Identity) Writer() string {
	sum := sha256.Sum256([]byte("avsync writer\x00" + id.Key))
	return hex.EncodeToString(sum[:8])
}

// LoadIdentity reads the identity kept in dir, creating it the first time.
// The id is then the one the state already keys its rows by (known: a lost
// machine.json must not make this machine a new one), else the machine
// name an avsync 1 state (state.json in dir) recorded, so an upgraded store
// keeps its rows under the same key instead of storing them twice.
func LoadIdentity(dir, known string) (id Identity, created bool, err error) {
	path := filepath.Join(dir, IdentityFile)
	if id, err := readIdentity(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return id, false, err
	}
	id.ID = known
	if id.ID == "" {
		id.ID = legacyMachine(dir)
	}
	if id.ID == "" {
		id.ID = newMachineID()
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return id, false, err
	}
	id.Key = hex.EncodeToString(key)
	data, _ := json.MarshalIndent(id, "", "  ")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return id, false, fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".machine-*")
	if err != nil {
		return id, false, fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err != nil {
		return id, false, fmt.Errorf("create %s: %w", path, err)
	}
	// A link never replaces: if another tool created the identity first,
	// theirs wins and is read back.
	if err := os.Link(tmp.Name(), path); err != nil {
		if got, rerr := readIdentity(path); rerr == nil {
			return got, false, nil
		}
		return id, false, fmt.Errorf("create %s: %w", path, err)
	}
	return id, true, nil
}

func readIdentity(path string) (Identity, error) {
	var id Identity
	data, err := os.ReadFile(path)
	if err != nil {
		return id, err
	}
	if err := json.Unmarshal(data, &id); err != nil || id.ID == "" || len(id.Key) < 32 {
		return id, fmt.Errorf("%s is damaged (%v); restore it from a backup: a new one would store this machine's sessions a second time", path, err)
	}
	return id, nil
}

// legacyMachine is the machine name an avsync 1 state.json recorded.
func legacyMachine(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return ""
	}
	var old struct {
		Machine string `json:"machine"`
	}
	json.Unmarshal(data, &old)
	return old.Machine
}

// newMachineID is readable (the hostname when it was made) and unique.
func newMachineID() string {
	host := Hostname()
	if i := strings.IndexByte(host, '.'); i > 0 {
		host = host[:i]
	}
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, host)
	if host == "" {
		host = "machine"
	}
	b := make([]byte, 6)
	rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// Hostname is the name shown beside a machine's sessions (never a key).
// AV_HOSTNAME overrides it, for containers whose hostname means nothing.
func Hostname() string {
	if h := os.Getenv("AV_HOSTNAME"); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}
