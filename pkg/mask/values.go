package mask

import (
	"regexp"
	"strings"
)

// Key names that contain a secret word but name something that is not a
// secret: pagination cursors, token counts, types, paths, ids.
var notSecretKey = regexp.MustCompile(`(?i)(page|cursor|continuation|type|count|limit|max_|_max|min_|usage|length|size|expir|ttl|_name|name_|path|file|url|uri|endpoint|format|hint|header|label|prefix|_id$|_ids|policy|rotation|field|env_var|strength|reset|forgot|hash|digest|tokeniz)`)

// placeholders are values people write where a secret will go.
var placeholders = map[string]bool{
	"password": true, "passwd": true, "secret": true, "token": true, "null": true, "none": true,
	"nil": true, "true": true, "false": true, "undefined": true, "empty": true, "string": true,
	"str": true, "required": true, "optional": true, "hidden": true, "masked": true, "test": true,
	"foo": true, "bar": true, "baz": true, "pass": true, "pwd": true, "admin": true, "root": true,
}

var placeholderParts = []string{"xxxx", "****", "....", "example", "your", "changeme", "change_me",
	"placeholder", "dummy", "redacted", "replace", "insert", "todo", "fixme", "sample", "<", ">", "{{", "}}"}

var (
	dottedIdent = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)+$`)
	// identifier-shaped words: lower, camelCase, PascalCase, CONSTANT, snake/kebab
	identifier = regexp.MustCompile(`^(?:[a-z]+(?:[A-Z][a-z]+)*|[A-Z][a-z]+(?:[A-Z][a-z]+)*|[A-Z]+|[a-z]+(?:[_-][a-z]+)+|[A-Z]+(?:[_-][A-Z]+)+)$`)
	digitsOnly = regexp.MustCompile(`^[0-9.,_-]+$`)
)

// isPlaceholder tells whether v stands for a secret rather than being one.
func isPlaceholder(v string) bool {
	lv := strings.ToLower(v)
	if placeholders[lv] || strings.HasPrefix(lv, "$") || strings.HasPrefix(lv, "%") {
		return true
	}
	for _, p := range placeholderParts {
		if strings.Contains(lv, p) {
			return true
		}
	}
	return false
}

// plausibleValue tells whether v, found after a secret-looking key, is a
// value rather than a placeholder, a variable, a call or a plain word.
func plausibleValue(v, after, key string) bool {
	if key != "" && notSecretKey.MatchString(key) {
		return false
	}
	if isPlaceholder(v) || strings.HasPrefix(v, "/") || strings.HasPrefix(v, "@") {
		return false
	}
	if strings.HasPrefix(after, "(") || dottedIdent.MatchString(v) || digitsOnly.MatchString(v) {
		return false
	}
	// A bare word shaped like an identifier (a variable, a type, an English
	// word) is not a secret; letters in random case are.
	if identifier.MatchString(v) && len(v) < 32 {
		return false
	}
	return true
}
