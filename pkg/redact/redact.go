// Package redact keeps credentials out of what avsync prints: store
// locations shown without their secrets, and messages cleaned of them.
package redact

import (
	"net/url"
	"sort"
	"strings"

	"avsync/pkg/lazyregexp"
)

// hidden stands in for every credential avsync prints.
const hidden = "xxxxx"

// sensitive names query parameters and libpq keywords that carry secrets:
// password, key, secret, token and their compounds (sslpassword, api_key).
func sensitive(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "password", "passwd", "pass", "pwd", "key", "secret", "token", "apikey", "auth", "authorization":
		return true
	}
	for _, suffix := range []string{"password", "_key", "-key", "_secret", "_token"} {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}

var (
	schemeRe = lazyregexp.New(`^([A-Za-z][A-Za-z0-9+.\-]*)://`)
	hostRe   = lazyregexp.New(`^[A-Za-z0-9.\-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)
	// libpqRe is one keyword=value pair of a libpq connection string; the
	// value may be single-quoted with backslash escapes.
	libpqRe = lazyregexp.New(`^\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)`)
	// urlInText finds URLs inside a message (e.g. Go's `Post "http://…"`).
	urlInText = lazyregexp.New(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>]+`)
	// pairInText finds key=value pairs inside a message, as libpq prints them.
	pairInText = lazyregexp.New(`([A-Za-z_]+)=('(?:[^'\\]|\\.)*'|[^\s&'"]+)`)
)

// Location returns a store location fit to print: a URL keeps everything but
// its password and secret query parameters; a libpq keyword string keeps
// every pair but secret ones; anything else is cut to its scheme and host,
// or to nothing. It is the one function through which avsync shows a store.
func Location(loc string) string {
	if loc == "" {
		return ""
	}
	if m := schemeRe().FindStringSubmatch(loc); m != nil {
		if u, err := url.Parse(loc); err == nil && u.Opaque == "" && !SplitPassword(u) {
			return redactURL(u)
		}
		// Unparseable: the password may hold '@', '/', '#' or '%', so
		// only a clean host after the last '@' is shown.
		rest := loc[len(m[0]):]
		if i := strings.LastIndexByte(rest, '@'); i >= 0 {
			rest = rest[i+1:]
		}
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			rest = rest[:i]
		}
		if hostRe().MatchString(rest) && !strings.ContainsAny(loc[len(m[0]):], "?#") {
			return m[1] + "://" + rest + "/(unparseable)"
		}
		return m[1] + "://(unparseable)"
	}
	if kv, ok := redactLibpq(loc); ok {
		return kv
	}
	if !strings.ContainsAny(loc, ":@=?# ") { // a plain name or path
		return loc
	}
	return "(unparseable store location)"
}

// SplitPassword says whether a URL that parsed holds a password with an
// unencoded '@' then '/' (postgres://u:p@ss/word@host/db): the URL's host is
// then part of the password, and its path holds the rest and the real host.
func SplitPassword(u *url.URL) bool {
	if u.User == nil {
		return false
	}
	_, has := u.User.Password()
	return has && strings.Contains(u.Path, "@")
}

func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), hidden)
		}
	}
	if c.RawQuery != "" {
		q, err := url.ParseQuery(c.RawQuery)
		if err != nil {
			c.RawQuery = "(unparseable)"
		} else {
			keys := make([]string, 0, len(q))
			for k := range q {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var parts []string
			for _, k := range keys {
				for _, v := range q[k] {
					if sensitive(k) {
						v = hidden
					}
					parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
				}
			}
			c.RawQuery = strings.Join(parts, "&")
		}
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// redactLibpq redacts "host=h user=u password='p w'"; ok is false when s is
// not such a string.
func redactLibpq(s string) (string, bool) {
	var out []string
	rest := s
	for strings.TrimSpace(rest) != "" {
		m := libpqRe().FindStringSubmatch(rest)
		if m == nil {
			return "", false
		}
		v := m[2]
		if sensitive(m[1]) {
			v = hidden
		}
		out = append(out, m[1]+"="+v)
		rest = rest[len(m[0]):]
	}
	if len(out) == 0 {
		return "", false
	}
	return strings.Join(out, " "), true
}

// Secrets returns the credentials a store location holds, as written and
// decoded, so that text which quotes them some other way (a driver's
// error) can still be cleaned by Text.
func Secrets(loc string) []string {
	var out []string
	add := func(v string) {
		if len(v) >= 3 {
			out = append(out, v)
			if d, err := url.QueryUnescape(v); err == nil && d != v {
				out = append(out, d)
			}
		}
	}
	if m := schemeRe().FindStringSubmatch(loc); m != nil {
		rest := loc[len(m[0]):]
		// userinfo: everything up to the last '@' before the path, even
		// when the URL does not parse.
		auth := rest
		if i := strings.LastIndexByte(auth, '@'); i >= 0 {
			auth = auth[:i]
			if j := strings.IndexByte(auth, ':'); j >= 0 {
				add(auth[j+1:])
			}
		}
	}
	for _, m := range pairInText().FindAllStringSubmatch(loc, -1) {
		if sensitive(m[1]) {
			add(strings.Trim(m[2], "'"))
		}
	}
	if u, err := url.Parse(loc); err == nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		for k, vs := range u.Query() {
			if sensitive(k) {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	return out
}

// Text cleans a message for printing: every URL and every secret
// key=value pair in it is redacted, and every known secret replaced.
func Text(text string, secrets ...string) string {
	// Longest first, so a secret that contains another goes whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, s := range secrets {
		if len(s) >= 3 {
			text = strings.ReplaceAll(text, s, hidden)
		}
	}
	text = urlInText().ReplaceAllStringFunc(text, func(m string) string {
		core := strings.TrimRight(m, ".,:;)]}")
		if len(Secrets(core)) == 0 {
			return m // nothing to hide: leave the text as it was written
		}
		return Location(core) + m[len(core):]
	})
	return pairInText().ReplaceAllStringFunc(text, func(p string) string {
		m := pairInText().FindStringSubmatch(p)
		if sensitive(m[1]) && m[2] != hidden {
			return m[1] + "=" + hidden
		}
		return p
	})
}
