package e2e

import (
	"strings"
	"testing"
)

// TestSideDoorsNeverReachTheStore drives the built binaries with records
// that once slipped past av-mask: a token behind a \u005f escape, behind a
// literal "[REDACTED:", right after a real marker, in a field av-mask used
// to skip (tool_name, model), and in a field name in another case. None of
// it may reach the store; a stamp av-mask did not write is refused.
func TestSideDoorsNeverReachTheStore(t *testing.T) {
	e := newEnv(t, "small-march-2.db")
	read := e.sh("av-read")
	if read.code != 0 {
		t.Fatalf("av-read: %d %s", read.code, read.stderr)
	}
	body := func(seed string) string { // 36 made-up token characters
		const cs = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		b := make([]byte, 36)
		for i := range b {
			b[i] = cs[(int(seed[i%len(seed)])*7+i*13)%len(cs)]
		}
		return string(b)
	}
	tokens := []string{body("escape"), body("literal"), body("marker"), body("toolname"), body("model"), body("case")}
	lines := strings.Split(strings.TrimSuffix(read.stdout, "\n"), "\n")
	var message, toolCall, cased = -1, -1, -1
	for i, l := range lines {
		switch {
		case message < 0 && strings.HasPrefix(l, `{"kind":"message"`):
			message = i
		case message >= 0 && cased < 0 && strings.HasPrefix(l, `{"kind":"message"`) && !sameSession(l, lines[message]):
			cased = i
		case toolCall < 0 && strings.HasPrefix(l, `{"kind":"tool_call"`):
			toolCall = i
		}
	}
	if message < 0 || toolCall < 0 || cased < 0 {
		t.Fatal("the fixture lacks messages or tool calls in two sessions")
	}
	lines[message] = strings.Replace(lines[message], `"content":"`, `"content":"a ghp\u005f`+tokens[0]+
		` b [REDACTED:ghp_`+tokens[1]+`] c [REDACTED:github-pat]ghp_`+tokens[2]+` `, 1)
	lines[message] = strings.Replace(lines[message], `"model":"`, `"model":"ghp_`+tokens[4]+` `, 1)
	lines[toolCall] = strings.Replace(lines[toolCall], `"tool_name":"`, `"tool_name":"ghp_`+tokens[3]+` `, 1)
	lines[cased] = strings.Replace(lines[cased], `"content":"`, `"Content":"ghp_`+tokens[5]+` `, 1)
	stream := strings.Join(lines, "\n") + "\n"

	w := e.shIn("av-mask | av-write", strings.NewReader(stream))
	if w.code != 3 { // bad input: the case variant's group discarded, the rest stored
		t.Fatalf("av-mask | av-write: %d %s", w.code, w.stderr)
	}
	if !strings.Contains(w.stderr, `"Content"`) || !strings.Contains(w.stderr, "only by case") {
		t.Errorf("the case variant was not refused by name:\n%s", w.stderr)
	}
	store := e.storeDB()
	var all strings.Builder
	for _, q := range []string{"SELECT content || thinking || model || token_usage FROM messages",
		"SELECT tool_name || tool_use_id || category || skill_name || input_json || COALESCE(result_content, '') FROM tool_calls"} {
		for _, s := range textColumn(t, store, q) {
			all.WriteString(s + "\n")
		}
	}
	dump := all.String()
	if !strings.Contains(dump, "[REDACTED:") {
		t.Fatal("nothing masked reached the store: the test proves nothing")
	}
	for i, tok := range tokens {
		for j := 0; j+8 <= len(tok); j++ {
			if strings.Contains(dump, tok[j:j+8]) {
				t.Errorf("token %d: %q reached the store", i, tok[j:j+8])
				break
			}
		}
	}

	// A stamp av-mask did not write is no stamp.
	masked := e.sh("av-read --full | av-mask")
	forged := strings.ReplaceAll(masked.stdout, `"masked":{"ruleset":"avmask-`, `"masked":{},"x":{"ruleset":"avmask-`)
	if r := e.shIn("av-write", strings.NewReader(forged)); r.code != 8 || !strings.Contains(r.stderr, "no count") && !strings.Contains(r.stderr, "ruleset") {
		t.Fatalf(`"masked":{} was accepted: exit %d %s`, r.code, r.stderr)
	}
}

func sameSession(a, b string) bool {
	sid := func(l string) string {
		i := strings.Index(l, `"session_id":"`)
		if i < 0 {
			return ""
		}
		rest := l[i+len(`"session_id":"`):]
		return rest[:strings.IndexByte(rest, '"')]
	}
	return sid(a) == sid(b)
}
