package identity

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"avsync/pkg/record"
)

func TestNormalizeRemote(t *testing.T) {
	for in, want := range map[string]string{
		"git@github.com:acme/api.git":                       "github.com/acme/api",
		"https://github.com/acme/api":                       "github.com/acme/api",
		"https://github.com/acme/api.git/":                  "github.com/acme/api",
		"ssh://git@GitHub.com:22/acme/api.git":              "github.com/acme/api",
		"https://dev:ghp_secret@github.com/acme/api.git":    "github.com/acme/api",
		"git@gitlab.example.com:group/sub/project.git":      "gitlab.example.com/group/sub/project",
		"https://gitlab.example.com:8443/group/project.git": "gitlab.example.com/group/project",
		"not a remote": "",
	} {
		if got := NormalizeRemote(in); got != want {
			t.Errorf("NormalizeRemote(%q) = %q, want %q", in, got, want)
		}
	}
}

func gitRepo(t *testing.T, remote string) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{{"init", "-q"}, {"config", "user.email", "dev@acme.io"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	if remote != "" {
		if out, err := exec.Command("git", "-C", dir, "remote", "add", "origin", remote).CombinedOutput(); err != nil {
			t.Fatalf("git remote add: %v %s", err, out)
		}
	}
	return dir
}

// TestProjectsFromRealRepos: ssh and https remotes of one repository are one
// project; credentials never reach the id; no remote and a vanished path
// fall back without error.
func TestProjectsFromRealRepos(t *testing.T) {
	ctx := context.Background()
	p := NewProjects()
	ssh := p.Resolve(ctx, gitRepo(t, "git@github.com:acme/payments-api.git"), "payments_api")
	https := p.Resolve(ctx, gitRepo(t, "https://github.com/acme/payments-api"), "payments_api")
	withCreds := p.Resolve(ctx, gitRepo(t, "https://dev:ghp_abc123@github.com/acme/payments-api.git"), "x")
	if ssh != https || ssh != withCreds || ssh.ID != "github.com/acme/payments-api" || ssh.Name != "payments-api" {
		t.Fatalf("ssh %+v, https %+v, with credentials %+v", ssh, https, withCreds)
	}
	noRemote := gitRepo(t, "")
	if got := p.Resolve(ctx, noRemote, "fallback"); got.ID != filepath.Base(noRemote) {
		t.Fatalf("no remote: %+v", got)
	}
	vanished := filepath.Join(t.TempDir(), "gone", "billing-worker")
	if got := p.Resolve(ctx, vanished, "billing_worker"); got.Name != "billing-worker" {
		t.Fatalf("vanished path: %+v", got)
	}
	if got := p.Resolve(ctx, "/home/dev/code/cli-tools/.worktrees/feat-buffer", "feat_buffer"); got.Name != "cli-tools" {
		t.Fatalf("worktree: %+v", got)
	}
	if got := p.Resolve(ctx, "", "auth_service"); got.ID != "auth_service" {
		t.Fatalf("no path: %+v", got)
	}
	// Cached: the repository may go, the answer stays for the run.
	dir := gitRepo(t, "git@github.com:acme/cached.git")
	first := p.Resolve(ctx, dir, "")
	os.RemoveAll(dir)
	if p.Resolve(ctx, dir, "") != first {
		t.Fatal("not cached per run")
	}
}

func TestResolveUser(t *testing.T) {
	if u := ResolveUser(context.Background(), "me@acme.io", "Me"); u.ID != "me@acme.io" || u.Name != "Me" {
		t.Fatalf("flags ignored: %+v", u)
	}
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\temail = git@acme.io\n\tname = From Git\n"), 0o644)
	t.Setenv("HOME", home)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	if u := ResolveUser(context.Background(), "", ""); u.ID != "git@acme.io" || u.Name != "From Git" {
		t.Fatalf("git config not used: %+v", u)
	}
	// As git config --get: the last value wins; a flag wins over git.
	os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\temail = old@acme.io\n\tname = \"Ann  Lee \"\n[User]\n\tEmail = new@acme.io\n"), 0o644)
	if u := ResolveUser(context.Background(), "", ""); u.ID != "new@acme.io" || u.Name != "Ann  Lee" {
		t.Fatalf("several values: %+v", u)
	}
	if u := ResolveUser(context.Background(), "", "Flag Name"); u.ID != "new@acme.io" || u.Name != "Flag Name" {
		t.Fatalf("a flag and git: %+v", u)
	}
}

func TestDecoratorFiltersAndFillsIn(t *testing.T) {
	ctx := context.Background()
	d := NewDecorator(ctx, "dev@acme.io", "Dev", []string{"pay*"}, []string{"*-legacy"})
	for _, c := range []struct {
		project string
		keep    bool
	}{{"payments", true}, {"payments-legacy", false}, {"infra", false}} {
		h := &record.Session{Project: c.project}
		if got := d.Decorate(ctx, h, ""); got != c.keep {
			t.Errorf("project %q: kept %v, want %v", c.project, got, c.keep)
		}
		if c.keep && (h.UserID != "dev@acme.io" || h.UserName != "Dev" || h.ProjectID != c.project || h.ProjectName != c.project) {
			t.Errorf("project %q: filled in %+v", c.project, h)
		}
	}
	if d.UserID() != "dev@acme.io" {
		t.Errorf("user id %q", d.UserID())
	}
}
