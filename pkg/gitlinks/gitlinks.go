// Package gitlinks finds, in an agent's shell tool calls, the commits it made
// and the pull/merge requests it opened, so a commit or a PR leads back to
// the conversation. It reads the (already masked) command and output only;
// it never runs git or reaches the network.
package gitlinks

import (
	"encoding/json"
	"strings"

	"avsync/pkg/lazyregexp"
)

// Link is one commit or pull request a tool call produced.
type Link struct {
	CommitSHA  string // "" for a PR link
	PRURL      string // "" for a commit link
	Type       string // commit, cherry-pick, revert, push, merge, pr
	Confidence string // high: seen in the output of the command that makes it; medium: seen elsewhere
}

var (
	commitLine = lazyregexp.New(`(?m)^\[[^\]\s]+(?: \(root-commit\))? ([0-9a-f]{7,40})\] `)
	pushRange  = lazyregexp.New(`(?m)^\s*[+ ]?\s*[0-9a-f]{7,40}\.\.\.?([0-9a-f]{7,40})\s+\S+ -> \S+`)
	ffRange    = lazyregexp.New(`(?m)^Updating [0-9a-f]{7,40}\.\.([0-9a-f]{7,40})$`)
	prURL      = lazyregexp.New(`https?://[A-Za-z0-9.-]+/[^\s"'<>()\\]+?/(?:pull|-/merge_requests)/\d+`)
)

// Extract returns the links in one tool call. A tool is a shell when its
// input has a command (Claude's Bash, Codex's shell and exec_command,
// Gemini's run_shell_command …) or agentsview filed it under Bash.
func Extract(category, inputJSON, result string) []Link {
	// Most outputs hold nothing a pattern needs: when the output is the
	// result itself (not JSON), that is seen before the input is parsed.
	if !strings.HasPrefix(strings.TrimSpace(result), "{") && !mayLink(result) {
		return nil
	}
	command := Command(inputJSON)
	if command == "" && category != "Bash" {
		return nil
	}
	output := Output(result)
	var links []Link
	seen := map[string]bool{}
	add := func(l Link) {
		key := l.CommitSHA + " " + l.PRURL
		if !seen[key] {
			seen[key] = true
			links = append(links, l)
		}
	}
	// Each pattern is tried only where the text it needs is present: most
	// outputs hold none, and the regexps were a tenth of av-write's CPU.
	var commits [][]string
	if strings.HasPrefix(output, "[") || strings.Contains(output, "\n[") {
		commits = commitLine().FindAllStringSubmatch(output, -1)
	}
	for _, m := range commits {
		typ, conf := "commit", "medium"
		switch {
		case strings.Contains(command, "cherry-pick"):
			typ, conf = "cherry-pick", "high"
		case strings.Contains(command, "git revert"):
			typ, conf = "revert", "high"
		case strings.Contains(command, "git commit"):
			conf = "high"
		}
		add(Link{CommitSHA: m[1], Type: typ, Confidence: conf})
	}
	if strings.Contains(command, "git push") {
		for _, m := range pushRange().FindAllStringSubmatch(output, -1) {
			add(Link{CommitSHA: m[1], Type: "push", Confidence: "high"})
		}
	}
	if strings.Contains(command, "git merge") || strings.Contains(command, "git pull") {
		for _, m := range ffRange().FindAllStringSubmatch(output, -1) {
			add(Link{CommitSHA: m[1], Type: "merge", Confidence: "high"})
		}
	}
	creates := strings.Contains(command, "gh pr create") || strings.Contains(command, "glab mr create")
	var prs []string
	if strings.Contains(output, "/pull/") || strings.Contains(output, "/-/merge_requests/") {
		prs = prURL().FindAllString(output, -1)
	}
	for _, u := range prs {
		conf := "medium"
		if creates {
			conf = "high"
		}
		add(Link{PRURL: u, Type: "pr", Confidence: conf})
	}
	return links
}

// mayLink says whether output holds the text one of the patterns below
// needs (each is tried only where it is).
func mayLink(output string) bool {
	return strings.HasPrefix(output, "[") || strings.Contains(output, "\n[") || strings.Contains(output, " -> ") ||
		strings.Contains(output, "Updating ") || strings.Contains(output, "/pull/") || strings.Contains(output, "/-/merge_requests/")
}

// Command is the shell command of a tool input: {"command": "…"},
// {"command": ["bash", "-lc", "…"]} or {"cmd": …}.
func Command(inputJSON string) string {
	var in map[string]json.RawMessage
	if json.Unmarshal([]byte(inputJSON), &in) != nil {
		return ""
	}
	for _, key := range []string{"command", "cmd"} {
		raw, ok := in[key]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		var parts []string
		if json.Unmarshal(raw, &parts) == nil {
			return strings.Join(parts, " ")
		}
	}
	return ""
}

// Output is a tool result's text: Codex wraps it as {"output": "…"}.
func Output(result string) string {
	if strings.HasPrefix(strings.TrimSpace(result), "{") {
		var r struct {
			Output *string `json:"output"`
		}
		if json.Unmarshal([]byte(result), &r) == nil && r.Output != nil {
			return *r.Output
		}
	}
	return result
}
