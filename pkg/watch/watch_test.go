package watch

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// recorder collects ticks with the time they came.
type recorder struct {
	mu    sync.Mutex
	ticks []Tick
	at    []time.Time
}

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.ticks) }

func (r *recorder) all() ([]Tick, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Tick(nil), r.ticks...), append([]time.Time(nil), r.at...)
}

func start(t *testing.T, cfg Config) *recorder {
	t.Helper()
	if cfg.Debounce == 0 {
		cfg.Debounce = 300 * time.Millisecond
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = 5 * time.Second
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan Tick)
	rec := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for tk := range ch {
			rec.mu.Lock()
			rec.ticks = append(rec.ticks, tk)
			rec.at = append(rec.at, time.Now())
			rec.mu.Unlock()
		}
	}()
	go func() {
		Watch(ctx, cfg, ch)
		close(ch)
	}()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(150 * time.Millisecond) // let the watcher arm
	return rec
}

// walDB makes an agentsview-like database in WAL mode and keeps it open,
// as agentsview does.
func walDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, content TEXT)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func commit(t *testing.T, db *sql.DB) {
	t.Helper()
	if _, err := db.Exec("INSERT INTO messages (content) VALUES ('a reply')"); err != nil {
		t.Fatal(err)
	}
}

func TestBurstOfCommitsGivesOneTick(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	db := walDB(t, path)
	// A debounce far longer than the gaps between commits, so a loaded
	// machine that stalls one commit does not split the burst.
	rec := start(t, Config{DB: path, Debounce: time.Second, MaxDelay: 10 * time.Second})
	for i := 0; i < 10; i++ { // 10 commits in 200 ms
		commit(t, db)
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond)
	ticks, _ := rec.all()
	if len(ticks) != 1 || ticks[0].Reason != ReasonChange || ticks[0].Events < 10 {
		t.Fatalf("want one change tick for the burst, got %+v", ticks)
	}
}

func TestWalWriteAloneTicks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.db")
	os.WriteFile(path, []byte("db"), 0o644)
	os.WriteFile(path+"-wal", nil, 0o644)
	os.WriteFile(path+"-shm", nil, 0o644)
	rec := start(t, Config{DB: path})
	f, _ := os.OpenFile(path+"-wal", os.O_APPEND|os.O_WRONLY, 0)
	f.Write(bytes.Repeat([]byte{1}, 4096))
	f.Close()
	time.Sleep(700 * time.Millisecond)
	if n := rec.count(); n != 1 {
		t.Fatalf("a write to -wal gave %d ticks, want 1", n)
	}
}

func TestIdleAndReadersGiveNoTicks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.db")
	walDB(t, path)
	os.WriteFile(filepath.Join(dir, "other.txt"), nil, 0o644)
	rec := start(t, Config{DB: path})
	// A reader's open and reads touch only -shm, and other files do not count.
	reader, _ := sql.Open("sqlite", "file:"+path+"?mode=ro")
	reader.QueryRow("SELECT COUNT(*) FROM messages").Scan(new(int))
	reader.Close()
	os.WriteFile(filepath.Join(dir, "other.txt"), []byte("x"), 0o644)
	time.Sleep(1200 * time.Millisecond)
	if n := rec.count(); n != 0 {
		ticks, _ := rec.all()
		t.Fatalf("idle database gave %d ticks: %+v", n, ticks)
	}
}

func TestDeletedAndRecreated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.db")
	os.WriteFile(path, []byte("v1"), 0o644)
	rec := start(t, Config{DB: path})
	os.Remove(path)
	time.Sleep(600 * time.Millisecond)
	afterDelete := rec.count()
	os.WriteFile(path, []byte("v2"), 0o644)
	time.Sleep(600 * time.Millisecond)
	if afterDelete != 1 || rec.count() != 2 {
		t.Fatalf("ticks after delete %d (want 1), after recreate %d (want 2)", afterDelete, rec.count())
	}
}

func TestCreatedLaterAndReplacedByRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.db")
	rec := start(t, Config{DB: path})
	os.WriteFile(path, []byte("created"), 0o644)
	time.Sleep(600 * time.Millisecond)
	tmp := filepath.Join(dir, ".sessions.db.new")
	os.WriteFile(tmp, []byte("replaced"), 0o644)
	os.Rename(tmp, path)
	time.Sleep(600 * time.Millisecond)
	if n := rec.count(); n != 2 {
		t.Fatalf("created then replaced by rename: %d ticks, want 2", n)
	}
}

func TestContinuousWritesTickWithinMaxDelay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	db := walDB(t, path)
	maxDelay := 600 * time.Millisecond
	rec := start(t, Config{DB: path, Debounce: 400 * time.Millisecond, MaxDelay: maxDelay})
	began := time.Now()
	for time.Since(began) < 2500*time.Millisecond { // never quiet for 400 ms
		commit(t, db)
		time.Sleep(50 * time.Millisecond)
	}
	_, at := rec.all()
	if len(at) < 3 {
		t.Fatalf("continuous writes for 2.5 s gave %d ticks, want one at least every %s", len(at), maxDelay)
	}
	prev := began
	for _, a := range at {
		if gap := a.Sub(prev); gap > maxDelay+250*time.Millisecond {
			t.Fatalf("a gap of %s between ticks during writes (max-delay %s)", gap, maxDelay)
		}
		prev = a
	}
}

func TestIntervalAndInitialTicks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	rec := start(t, Config{DB: path, Interval: 300 * time.Millisecond, Initial: true})
	time.Sleep(1000 * time.Millisecond)
	ticks, _ := rec.all()
	if len(ticks) < 3 || ticks[0].Reason != ReasonInitial || ticks[1].Reason != ReasonInterval {
		t.Fatalf("ticks %+v", ticks)
	}
	for i, tk := range ticks {
		if tk.Seq != int64(i+1) || tk.Kind != "tick" {
			t.Fatalf("tick %d: %+v", i, tk)
		}
	}
}

func TestMissingFolderIsWaitedFor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-yet")
	path := filepath.Join(dir, "sessions.db")
	var logs []string
	var mu sync.Mutex
	rec := start(t, Config{DB: path, Log: func(f string, a ...any) { mu.Lock(); logs = append(logs, f); mu.Unlock() }})
	time.Sleep(300 * time.Millisecond)
	os.MkdirAll(dir, 0o755)
	time.Sleep(1300 * time.Millisecond) // the folder is looked for every second
	os.WriteFile(path, []byte("db"), 0o644)
	time.Sleep(600 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if rec.count() != 1 || len(logs) == 0 || !strings.Contains(logs[0], "waiting for") {
		t.Fatalf("ticks %d, logs %q", rec.count(), logs)
	}
}
