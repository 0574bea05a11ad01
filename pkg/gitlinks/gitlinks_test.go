package gitlinks

import (
	"reflect"
	"testing"
)

func TestExtract(t *testing.T) {
	for _, c := range []struct {
		name, category, input, result string
		want                          []Link
	}{
		{"claude commit", "Bash", `{"command":"git add -A && git commit -m \"fix\""}`,
			"[main 91977db] fix: things\n 2 files changed", []Link{{CommitSHA: "91977db", Type: "commit", Confidence: "high"}}},
		{"root commit", "Bash", `{"command":"git commit -m init"}`,
			"[main (root-commit) 0a1b2c3] init", []Link{{CommitSHA: "0a1b2c3", Type: "commit", Confidence: "high"}}},
		{"branch with slash", "Bash", `{"command":"git commit -m x"}`,
			"[feat/api-v2 1234567890abcdef1234567890abcdef12345678] x", []Link{{CommitSHA: "1234567890abcdef1234567890abcdef12345678", Type: "commit", Confidence: "high"}}},
		{"codex shell array, JSON output", "Bash", `{"command": ["bash", "-lc", "git commit -am 'fix'"], "workdir": "/x"}`,
			`{"output": "[main d63982e] fix\n 2 files changed", "metadata": {"exit_code": 0}}`, []Link{{CommitSHA: "d63982e", Type: "commit", Confidence: "high"}}},
		{"exec_command", "", `{"cmd": "git cherry-pick abc1234"}`,
			"[main 7654321] picked", []Link{{CommitSHA: "7654321", Type: "cherry-pick", Confidence: "high"}}},
		{"push range", "Bash", `{"command":"git push origin main"}`,
			"To github.com:acme/api.git\n   1a2b3c4..5d6e7f8  main -> main\n", []Link{{CommitSHA: "5d6e7f8", Type: "push", Confidence: "high"}}},
		{"forced push", "Bash", `{"command":"git push -f"}`,
			" + 1a2b3c4...9f8e7d6 feat -> feat (forced update)", []Link{{CommitSHA: "9f8e7d6", Type: "push", Confidence: "high"}}},
		{"fast-forward merge", "Bash", `{"command":"git merge feat"}`,
			"Updating 1a2b3c4..5d6e7f8\nFast-forward", []Link{{CommitSHA: "5d6e7f8", Type: "merge", Confidence: "high"}}},
		{"gh pr create", "Bash", `{"command":"gh pr create --title x"}`,
			"https://github.com/hooli/auth-service/pull/861\n", []Link{{PRURL: "https://github.com/hooli/auth-service/pull/861", Type: "pr", Confidence: "high"}}},
		{"glab mr create", "Bash", `{"command":"glab mr create -f"}`,
			"Creating merge request\nhttps://gitlab.com/acme/group/api/-/merge_requests/42\n", []Link{{PRURL: "https://gitlab.com/acme/group/api/-/merge_requests/42", Type: "pr", Confidence: "high"}}},
		{"PR URL elsewhere", "Bash", `{"command":"gh pr view 12"}`,
			"title: x\nurl: https://github.com/acme/api/pull/12", []Link{{PRURL: "https://github.com/acme/api/pull/12", Type: "pr", Confidence: "medium"}}},
		{"not a shell tool", "Read", `{"file_path":"/x"}`, "[main 91977db] looks like a commit", nil},
		{"a sha in a log is not a link", "Bash", `{"command":"git log -1"}`, "commit 91977db1234567", nil},
	} {
		if got := Extract(c.category, c.input, c.result); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}
