// Package identity names who a session belongs to and which project it is
// about: the user (flags, else git's user.email and user.name) and the
// project (the git remote "origin" of the session's working directory,
// normalised so that every spelling of one repository is one id). It runs
// git locally and never reaches the network.
package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	pathpkg "path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"avsync/pkg/lazyregexp"
	"avsync/pkg/record"
)

// User is who ran the sessions.
type User struct {
	ID   string // an email, usually
	Name string
}

// ResolveUser uses id and name when given, else git's user.email and
// user.name. Missing values stay empty: that is not an error.
func ResolveUser(ctx context.Context, id, name string) User {
	if id != "" && name != "" {
		return User{ID: id, Name: name}
	}
	// Both in one git process (each costs a process start): NUL-ended
	// "key\nvalue" pairs in the order git reads them, so the last wins,
	// as with --get.
	var gitID, gitName string
	for _, kv := range strings.Split(git(ctx, "", "config", "-z", "--get-regexp", `^user\.(email|name)$`), "\x00") {
		switch key, value, _ := strings.Cut(kv, "\n"); key {
		case "user.email":
			gitID = value
		case "user.name":
			gitName = value
		}
	}
	if id == "" {
		id = strings.TrimSpace(gitID)
	}
	if name == "" {
		name = strings.TrimSpace(gitName)
	}
	return User{ID: id, Name: name}
}

// Project identifies a repository.
type Project struct {
	ID   string // normalised remote, e.g. github.com/acme/api; else the fallback
	Name string // the repository's name, e.g. api
}

// Projects resolves and caches projects for one run.
type Projects struct {
	cache map[string]Project
}

// NewProjects starts an empty cache.
func NewProjects() *Projects { return &Projects{cache: map[string]Project{}} }

// Resolve names the project of a working directory. Without a path, or
// when the path has no origin remote or no longer exists (not an error),
// it falls back to the directory's name, or to fallback (agentsview's
// project name).
func (p *Projects) Resolve(ctx context.Context, path, fallback string) Project {
	key := path + "\x00" + fallback
	if pr, ok := p.cache[key]; ok {
		return pr
	}
	pr := Project{ID: fallback, Name: fallback}
	if path != "" {
		dir := repoDir(path)
		pr = Project{ID: filepath.Base(dir), Name: filepath.Base(dir)}
		// A folder since removed has no remote to ask git for.
		if _, err := os.Stat(path); err != nil {
			p.cache[key] = pr
			return pr
		}
		if remote := git(ctx, path, "config", "--get", "remote.origin.url"); remote != "" {
			if id := NormalizeRemote(remote); id != "" {
				pr = Project{ID: id, Name: id[strings.LastIndexByte(id, '/')+1:]}
			}
		}
	}
	p.cache[key] = pr
	return pr
}

// repoDir strips a worktree folder: /code/api/.worktrees/feat → /code/api.
func repoDir(path string) string {
	clean := filepath.Clean(path)
	for _, marker := range []string{"/.worktrees/", "/.git/worktrees/"} {
		if i := strings.Index(clean, marker); i > 0 {
			return clean[:i]
		}
	}
	return clean
}

var scpLike = lazyregexp.New(`^(?:[^@/:\s]+@)?([^@/:\s]+):([^/].*)$`)

// NormalizeRemote turns any spelling of a git remote into host/path:
// credentials, scheme, port and a trailing .git are dropped, the host is
// lower-cased, so git@github.com:acme/api.git, ssh://git@github.com:22/acme/api
// and https://user:token@github.com/acme/api are all github.com/acme/api.
func NormalizeRemote(remote string) string {
	remote = strings.TrimSpace(remote)
	var host, path string
	if u, err := url.Parse(remote); err == nil && u.Scheme != "" && u.Host != "" {
		host, path = u.Hostname(), u.Path
	} else if m := scpLike().FindStringSubmatch(remote); m != nil {
		host, path = m[1], m[2]
	} else if strings.HasPrefix(remote, "/") || strings.HasPrefix(remote, "file://") {
		host, path = "local", strings.TrimPrefix(remote, "file://")
	} else {
		return ""
	}
	path = strings.Trim(path, "/")
	path = strings.TrimSuffix(path, ".git")
	if host == "" || path == "" {
		return ""
	}
	return strings.ToLower(host) + "/" + path
}

// git runs a git command (in dir, if set) and returns its trimmed output,
// or "" on any failure: identity is best effort.
func git(ctx context.Context, dir string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// Decorator fills in who ran each session and which project it is about,
// and applies the project filters: av-read asks it only about sessions that
// go, so git runs only then.
type Decorator struct {
	id, name         string // as given (flags), before git fills them in
	user             func() User
	prefetch         sync.Once
	projects         *Projects
	Include, Exclude []string // globs over agentsview's project, the project id and name
	NoUser           func()   // called once if no user id is known
}

// NewDecorator resolves the user once, on first use, from id and name (or git).
func NewDecorator(ctx context.Context, id, name string, include, exclude []string) *Decorator {
	d := &Decorator{id: id, name: name, projects: NewProjects(), Include: include, Exclude: exclude}
	d.user = sync.OnceValue(func() User {
		u := ResolveUser(ctx, id, name)
		if u.ID == "" && d.NoUser != nil {
			d.NoUser()
		}
		return u
	})
	return d
}

// Decorate implements agentsview.Decorator.
func (d *Decorator) Decorate(ctx context.Context, h *record.Session, path string) bool {
	p := d.projects.Resolve(ctx, path, h.Project)
	if !d.wanted(h.Project, p) {
		return false
	}
	u := d.user()
	h.UserID, h.UserName = u.ID, u.Name
	h.ProjectID, h.ProjectName = p.ID, p.Name
	return true
}

// Prefetch implements agentsview.Decorator: git runs for the user while
// av-read reads the first session that goes, not after.
func (d *Decorator) Prefetch() { d.prefetch.Do(func() { go d.user() }) }

// UserID implements agentsview.Decorator.
func (d *Decorator) UserID() string { return d.user().ID }

// User implements agentsview.Decorator.
func (d *Decorator) User() []string { u := d.user(); return []string{u.ID, u.Name} }

// Settings implements agentsview.Decorator: a digest of the flags, not of
// what git says (that would run git every cycle).
func (d *Decorator) Settings() string {
	h := sha256.New()
	for _, part := range [][]string{{d.id, d.name}, d.Include, d.Exclude} {
		fmt.Fprintf(h, "%q;", part)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// wanted applies --project and --exclude-project.
func (d *Decorator) wanted(project string, p Project) bool {
	match := func(globs []string) bool {
		for _, g := range globs {
			for _, name := range []string{project, p.ID, p.Name} {
				if ok, _ := pathpkg.Match(g, name); ok && name != "" {
					return true
				}
			}
		}
		return false
	}
	if len(d.Include) > 0 && !match(d.Include) {
		return false
	}
	return !match(d.Exclude)
}
