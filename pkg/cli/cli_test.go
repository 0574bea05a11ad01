package cli_test

import (
	"avsync/pkg/cli"
	"avsync/pkg/cli/avmask"
	"avsync/pkg/cli/avread"
	"avsync/pkg/cli/avwatch"
	"avsync/pkg/cli/avwrite"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"avsync/pkg/exitcode"
	"avsync/pkg/watermark"
)

// fixture is a copy of a real agentsview database: reading one can write
// its -shm, and the committed file must stay as it is.
var fixture string

// TestMain copies the fixture and gives every tool run here one machine id:
// streams read in one test folder are written with states in others.
func TestMain(m *testing.M) {
	os.Setenv("AV_MACHINE", "cli-test")
	dir, err := os.MkdirTemp("", "avsync-cli-")
	if err != nil {
		panic(err)
	}
	data, err := os.ReadFile("../e2e/testdata/small-march.db")
	if err != nil {
		panic(err)
	}
	fixture = filepath.Join(dir, "small-march.db")
	if err := os.WriteFile(fixture, data, 0o644); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type outcome struct {
	code           int
	stdout, stderr string
}

func runTool(t *testing.T, main func(context.Context, []string, cli.Streams) int, stdin string, args ...string) outcome {
	t.Helper()
	var out, errb bytes.Buffer
	code := main(context.Background(), append([]string{"tool"}, args...), cli.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return outcome{code, out.String(), errb.String()}
}

// maskedStream is the fixture read fully and stamped, as av-write gets it.
func maskedStream(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	read := runTool(t, avread.Main, "", "--db", fixture, "--state", filepath.Join(dir, "none.json"))
	if read.code != 0 {
		t.Fatalf("av-read: %d %s", read.code, read.stderr)
	}
	mask := runTool(t, avmask.Main, read.stdout)
	if mask.code != 0 {
		t.Fatalf("av-mask: %d %s", mask.code, mask.stderr)
	}
	return strings.Split(strings.TrimSuffix(mask.stdout, "\n"), "\n")
}

func storedSessions(t *testing.T, storePath string) map[string]bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+storePath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.Query("SELECT id FROM sessions")
	if err != nil {
		return map[string]bool{}
	}
	defer rs.Close()
	out := map[string]bool{}
	for rs.Next() {
		var id string
		rs.Scan(&id)
		out[id] = true
	}
	return out
}

// lineOf finds the index of the first line of kind in the n-th group.
func lineOf(lines []string, group int, kind string) int {
	g := -1
	for i, l := range lines {
		if strings.HasPrefix(l, `{"kind":"session",`) {
			g++
		}
		if g == group && strings.HasPrefix(l, `{"kind":"`+kind+`"`) {
			return i
		}
	}
	return -1
}

func sessionOfGroup(t *testing.T, lines []string, group int) string {
	var s struct{ ID string }
	json.Unmarshal([]byte(lines[lineOf(lines, group, "session")]), &s)
	return s.ID
}

func TestWriteBadInput(t *testing.T) {
	base := maskedStream(t)
	groups := strings.Count(strings.Join(base, "\n"), `"kind":"session_end"`)
	first, second := sessionOfGroup(t, base, 0), sessionOfGroup(t, base, 1)
	last := sessionOfGroup(t, base, groups-1)
	msgLine := lineOf(base, 1, "message")

	cases := []struct {
		name       string
		edit       func([]string) []string
		code       int
		stderr     []string // substrings the one-line error must carry
		missing    []string // sessions that must not be stored
		storedWant int      // sessions stored
	}{
		{"valid", func(l []string) []string { return l }, exitcode.OK, nil, nil, groups},
		{"empty stream", func([]string) []string { return nil }, exitcode.OK, nil, nil, 0},
		{"not json", func(l []string) []string { l[msgLine] = `{"kind":"message", oops`; return l },
			exitcode.BadInput, []string{"stdin:" + itoa(msgLine+1) + ":", second, "invalid json"}, []string{second}, groups - 1},
		{"wrong type", func(l []string) []string {
			l[msgLine] = strings.Replace(l[msgLine], `"ordinal":`, `"ordinal":"seven","x":`, 1)
			return l
		}, exitcode.BadInput, []string{"stdin:" + itoa(msgLine+1) + ":", `field "ordinal"`}, []string{second}, groups - 1},
		{"line lost inside a group", func(l []string) []string { return append(l[:msgLine:msgLine], l[msgLine+1:]...) },
			exitcode.BadInput, []string{"incomplete group", second}, []string{second}, groups - 1},
		{"cut off mid-group", func(l []string) []string { return l[:lineOf(l, groups-1, "message")+1] },
			exitcode.BadInput, []string{"stream ended before its session_end", last}, []string{last}, groups - 1},
		{"corrupt header", func(l []string) []string { h := lineOf(l, 1, "session"); l[h] = l[h][:40]; return l },
			exitcode.BadInput, []string{"stdin:" + itoa(lineOf(base, 1, "session")+1) + ":", "invalid json", "group discarded"}, []string{second}, groups - 1},
		{"deeply nested unknown field", func(l []string) []string {
			l[msgLine] = strings.Replace(l[msgLine], `{"kind":"message",`, `{"kind":"message","deep":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`,`, 1)
			return l
		}, exitcode.BadInput, []string{"stdin:" + itoa(msgLine+1) + ":", second}, []string{second}, groups - 1},
		{"duplicated record", func(l []string) []string {
			return append(l[:msgLine+1:msgLine+1], append([]string{l[msgLine]}, l[msgLine+1:]...)...)
		}, exitcode.BadInput, []string{"incomplete group", second}, []string{second}, groups - 1},
		{"group without session header", func(l []string) []string {
			h := lineOf(l, 1, "session")
			return append(l[:h:h], l[h+1:]...)
		}, exitcode.BadInput, []string{"outside a session group"}, []string{second}, groups - 1},
		{"records out of order: a message moved into the group before", func(l []string) []string {
			moved := l[msgLine]
			l = append(l[:msgLine:msgLine], l[msgLine+1:]...)
			at := lineOf(l, 0, "message") + 1
			return append(l[:at:at], append([]string{moved}, l[at:]...)...)
		}, exitcode.BadInput, []string{"stdin:" + itoa(lineOf(base, 0, "message")+2) + ":", "of session " + second + " inside the group of session " + first},
			[]string{first, second}, groups - 2},
		{"record outside a group", func(l []string) []string { return append([]string{l[msgLine]}, l...) },
			exitcode.BadInput, []string{"stdin:1:", "outside a session group"}, nil, groups},
		{"unmasked", func(l []string) []string {
			for i := range l {
				l[i] = l[i][:strings.LastIndex(l[i], `,"masked":`)] + "}"
			}
			return l
		}, exitcode.Unmasked, []string{"stdin:1:", "not masked", "av-mask"}, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			storePath := filepath.Join(dir, "store.db")
			lines := c.edit(append([]string(nil), base...))
			in := strings.Join(lines, "\n")
			if len(lines) > 0 {
				in += "\n"
			}
			got := runTool(t, avwrite.Main, in, "--store", "sqlite://"+storePath, "--state", filepath.Join(dir, "state.db"))
			if got.code != c.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", got.code, c.code, got.stderr)
			}
			for _, s := range c.stderr {
				if !strings.Contains(got.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, got.stderr)
				}
			}
			if n := strings.Count(got.stderr, "stdin:"); n > max(1, len(c.missing)) {
				t.Errorf("one line per broken group, not %d:\n%s", n, got.stderr)
			}
			stored := storedSessions(t, storePath)
			if len(stored) != c.storedWant {
				t.Errorf("stored %d sessions, want %d", len(stored), c.storedWant)
			}
			for _, id := range c.missing {
				if stored[id] {
					t.Errorf("session %s was stored from a broken group", id)
				}
			}
			if !strings.Contains(got.stdout, `"kind":"summary"`) {
				t.Errorf("no summary on stdout:\n%s", got.stdout)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestInvalidUTF8IsStoredAndCounted: bytes that are not UTF-8 are stored as
// U+FFFD, and the summary counts the lines that held them.
func TestInvalidUTF8IsStoredAndCounted(t *testing.T) {
	base := maskedStream(t)
	i := lineOf(base, 0, "message")
	base[i] = strings.Replace(base[i], `"content":"`, "\"content\":\"bad \xff\xfe bytes ", 1)
	dir := t.TempDir()
	storePath := filepath.Join(dir, "store.db")
	got := runTool(t, avwrite.Main, strings.Join(base, "\n")+"\n", "--store", "sqlite://"+storePath, "--state", filepath.Join(dir, "s.json"))
	if got.code != 0 || !strings.Contains(got.stdout, `"invalid_utf8_lines":1`) || !strings.Contains(got.stderr, "U+FFFD") {
		t.Fatalf("exit %d\n%s\n%s", got.code, got.stdout, got.stderr)
	}
	db, _ := sql.Open("sqlite", "file:"+storePath+"?mode=ro")
	defer db.Close()
	var n int
	db.QueryRow("SELECT COUNT(*) FROM messages WHERE content LIKE 'bad \uFFFD\uFFFD bytes %'").Scan(&n)
	if n != 1 {
		t.Fatal("the message with invalid UTF-8 was not stored with replacement characters")
	}
}

// TestWriteLocked: a second writer fails at once, naming the holder.
func TestWriteLocked(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")
	lock, err := watermark.Acquire(context.Background(), watermark.LockPath(state), "av-write", false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	got := runTool(t, avwrite.Main, "", "--store", "sqlite://"+filepath.Join(dir, "s.db"), "--state", state)
	if got.code != exitcode.Locked {
		t.Fatalf("exit %d, want %d (locked): %s", got.code, exitcode.Locked, got.stderr)
	}
	if !strings.Contains(got.stderr, "pid "+itoa(os.Getpid())) || !strings.Contains(got.stderr, "--wait") {
		t.Fatalf("error does not name the holder or the way out: %s", got.stderr)
	}
}

// TestReadRejectsWhatIsNotAgentsview: one line naming the file and what is missing.
func TestReadRejectsWhatIsNotAgentsview(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	os.WriteFile(notDB, []byte("just some text, not SQLite at all, long enough to be read as a header"), 0o644)
	other := filepath.Join(dir, "other.db")
	db, _ := sql.Open("sqlite", other)
	db.Exec("CREATE TABLE sessions (id TEXT, project TEXT); CREATE TABLE messages (id INTEGER, session_id TEXT, role TEXT, content TEXT)")
	db.Close()
	for _, c := range []struct {
		path string
		want []string
	}{
		{filepath.Join(dir, "missing.db"), []string{"missing.db", "no such agentsview database"}},
		{notDB, []string{"notes.txt", "not a readable SQLite database"}},
		{other, []string{"other.db", "not an agentsview database", "sessions.file_hash", "messages.ordinal", "table tool_calls"}},
	} {
		got := runTool(t, avread.Main, "", "--db", c.path, "--state", filepath.Join(dir, "state.db"))
		if got.code != exitcode.Source {
			t.Errorf("%s: exit %d, want %d: %s", c.path, got.code, exitcode.Source, got.stderr)
		}
		if strings.Count(strings.TrimSpace(got.stderr), "\n") != 0 {
			t.Errorf("%s: error is not one line:\n%s", c.path, got.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(got.stderr, w) {
				t.Errorf("%s: stderr lacks %q: %s", c.path, w, got.stderr)
			}
		}
		if got.stdout != "" {
			t.Errorf("%s: printed records: %s", c.path, got.stdout)
		}
	}
}

// TestCorruptStateIsRefused: a torn state is never silently started over.
func TestCorruptStateIsRefused(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")
	os.WriteFile(state, []byte(strings.Repeat("torn state, not a database ", 300)), 0o600)
	for name, got := range map[string]outcome{
		"av-read":  runTool(t, avread.Main, "", "--db", fixture, "--state", state),
		"av-write": runTool(t, avwrite.Main, "", "--state", state, "--store", "sqlite://"+filepath.Join(dir, "s.db")),
	} {
		if got.code != exitcode.State || !strings.Contains(got.stderr, "state.db: is damaged") || !strings.Contains(got.stderr, "move it aside") {
			t.Errorf("%s: exit %d: %s", name, got.code, got.stderr)
		}
	}
	newer := filepath.Join(dir, "newer.db")
	st, err := watermark.Open(context.Background(), newer)
	if err != nil {
		t.Fatal(err)
	}
	st.Update(context.Background(), func(tx *watermark.Tx) error { tx.Meta.Version = watermark.Version + 1; return nil })
	st.Close()
	if got := runTool(t, avread.Main, "", "--db", fixture, "--state", newer); got.code != exitcode.State || !strings.Contains(got.stderr, "newer avsync") {
		t.Errorf("newer state: exit %d: %s", got.code, got.stderr)
	}
}

// TestHelpExplains: every tool's help lists its env twins and the exit codes.
func TestHelpExplains(t *testing.T) {
	for name, c := range map[string]struct {
		main func(context.Context, []string, cli.Streams) int
		envs []string
	}{
		"av-read": {avread.Main, []string{"AV_DB", "AV_STATE", "AV_FULL", "AV_SESSION", "AV_LIMIT", "AV_MACHINE",
			"AV_BUSY_TIMEOUT", "AV_USER_ID", "AV_USER_NAME", "AV_PROJECT", "AV_EXCLUDE_PROJECT"}},
		"av-write": {avwrite.Main, []string{"AV_STORE", "AV_STATE", "AV_ORG", "AV_WAIT", "AV_ALLOW_UNMASKED", "AV_MACHINE",
			"AV_PG_SCHEMA", "AV_CONNECT_TIMEOUT", "AV_STATEMENT_TIMEOUT", "AV_PURGE_DELETED"}},
		"av-mask":  {avmask.Main, []string{"AV_MASK_WORKERS", "AV_MASK_RULES", "AV_MASK_ALLOW"}},
		"av-watch": {avwatch.Main, []string{"AV_DB", "AV_DEBOUNCE", "AV_MAX_DELAY", "AV_INTERVAL", "AV_EXEC", "AV_GRACE"}},
	} {
		got := runTool(t, c.main, "", "--help")
		if got.code != 0 {
			t.Fatalf("%s --help exit %d", name, got.code)
		}
		for _, want := range append(c.envs, "EXIT CODES", "130", "locked") {
			if !strings.Contains(got.stdout, want) {
				t.Errorf("%s --help lacks %q", name, want)
			}
		}
		if bad := runTool(t, c.main, "", "--no-such-flag"); bad.code != exitcode.Usage {
			t.Errorf("%s with an unknown flag: exit %d, want %d", name, bad.code, exitcode.Usage)
		}
	}
}
