package mask

import (
	"strings"

	"avsync/pkg/lazyregexp"
)

// notSecretWords are words of key names that contain a secret word but name
// something that is not a secret: pagination cursors, token counts, types,
// paths, ids, ARNs. They are matched as whole parts of the key (split at _ .
// - and camelCase), so "type" does not switch off typeformToken nor "ttl"
// settlemintToken.
var notSecretWords = map[string]bool{
	"page": true, "pagination": true, "cursor": true, "continuation": true, "next": true, "type": true, "kind": true,
	"count": true, "counts": true, "limit": true, "limits": true, "max": true, "min": true, "usage": true, "length": true,
	"len": true, "size": true, "expiry": true, "expires": true, "expire": true, "expiration": true, "expired": true,
	"expiresat": true, "expiresin": true, "ttl": true, "lifetime": true, "name": true, "names": true, "path": true, "file": true,
	"filename": true, "url": true, "uri": true, "endpoint": true, "format": true, "hint": true, "header": true,
	"label": true, "prefix": true, "id": true, "ids": true, "arn": true, "policy": true, "rotation": true, "field": true,
	"env": true, "var": true, "strength": true, "reset": true, "forgot": true, "hash": true, "digest": true,
	"tokenizer": true, "tokenize": true, "tokenized": true, "tokenization": true, "tokens": true, "jsonwebtoken": true,
	"ref": true, "version": true, "location": true, "manager": true, "provider": true, "mode": true, "enabled": true,
	"required": true, "regex": true, "pattern": true, "placeholder": true, "description": true, "budget": true,
	"secretsmanager": true, "secretmanager": true, "keyvault": true, "estimate": true, "estimated": true, "input": true, "output": true, "total": true, "index": true, "offset": true,
}

// keyParts splits a key name into lower-case words at _ . - / and camelCase.
func keyParts(key string, f func(string) bool) bool {
	start := -1
	for i := 0; i <= len(key); i++ {
		var c byte
		if i < len(key) {
			c = key[i]
		}
		split := i == len(key) || !isAlnum(c)
		camel := i > 0 && i < len(key) && 'A' <= c && c <= 'Z' && ('a' <= key[i-1] && key[i-1] <= 'z')
		if (split || camel) && start >= 0 {
			if f(strings.ToLower(key[start:i])) {
				return true
			}
			start = -1
		}
		if !split && start < 0 {
			start = i
		}
	}
	return false
}

func notSecretKey(key string) bool {
	if keyParts(key, func(w string) bool { return notSecretWords[w] }) {
		return true
	}
	// Glued lower-case suffixes: passwordfile, tokenpath, secretname.
	lk := strings.ToLower(key)
	for _, suf := range notSecretSuffixes {
		if strings.HasSuffix(lk, suf) {
			return true
		}
	}
	return false
}

var notSecretSuffixes = []string{"file", "path", "url", "uri", "name", "count", "type", "hash", "length", "size"}

// placeholders are values people write where a secret will go.
var placeholders = map[string]bool{
	"password": true, "passwd": true, "secret": true, "token": true, "null": true, "none": true,
	"nil": true, "true": true, "false": true, "undefined": true, "empty": true, "string": true,
	"str": true, "required": true, "optional": true, "hidden": true, "masked": true, "test": true,
	"foo": true, "bar": true, "baz": true, "pass": true, "pwd": true, "admin": true, "root": true,
	"guest": true, "postgres": true, "user": true, "username": true, "private": true, "value": true, "key": true,
	"apikey": true, "api_key": true,
}

// printfVerb is a format verb standing for a value: %s, %(password)s, %v.
var printfVerb = lazyregexp.New(`^%(?:[-+# 0-9.]*[sdvqxf]|\([A-Za-z_]+\)[sd])$`)

// bracketed is a value that names what goes there: [PASSWORD], <token>,
// {{secret}}, (contents of ~/.ssh/id_rsa), %NUGET_PASSWORD%.
var bracketed = lazyregexp.New(`^(?:\[[^\]]*\]|<[^>]*>|\{[^}]*\}|\([^)]*\)|%[A-Za-z_][A-Za-z0-9_]*%)$`)

var placeholderParts = []string{"xxxx", "****", "....", "example", "your", "changeme", "change_me",
	"placeholder", "dummy", "redacted", "replace", "insert", "todo", "fixme", "sample", "<", ">", "{{", "}}"}

var (
	dottedIdent = lazyregexp.New(`^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)+$`)
	// identifier-shaped words: lower, camelCase, PascalCase, CONSTANT, snake/kebab
	identifier = lazyregexp.New(`^(?:[a-z]+(?:[A-Z][a-z]+)*|[A-Z][a-z]+(?:[A-Z][a-z]+)*|[A-Z]+|[a-z]+(?:[_-][a-z]+)+|[A-Z]+(?:[_-][A-Z]+)+)$`)
)

// isPlaceholder tells whether v stands for a secret rather than being one.
func isPlaceholder(v string) bool {
	lv := strings.ToLower(v)
	// The regexps run only where their first character is (most values
	// start with none of these).
	if placeholders[lv] || strings.HasPrefix(lv, "$") ||
		strings.HasPrefix(v, "%") && printfVerb().MatchString(v) ||
		v != "" && strings.IndexByte("[<{(%", v[0]) >= 0 && bracketed().MatchString(v) {
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
	if key != "" && notSecretKey(key) {
		return false
	}
	if isPlaceholder(v) || strings.HasPrefix(v, "/") || strings.HasPrefix(v, "@") || strings.HasPrefix(v, "arn:") {
		return false
	}
	if strings.HasPrefix(after, "(") || strings.IndexByte(v, '.') >= 0 && dottedIdent().MatchString(v) || onlyOf(v, "0123456789.,_-") {
		return false
	}
	if prose(v) {
		return false
	}
	// A bare word shaped like an identifier (a variable, a type, an English
	// word) is not a secret; letters in random case are.
	if len(v) < 32 && onlyOf(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") && identifier().MatchString(v) {
		return false
	}
	return true
}

// onlyOf tells whether v is non-empty and made of bytes of set only.
func onlyOf(v, set string) bool {
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(set, v[i]) < 0 {
			return false
		}
	}
	return v != ""
}

// stopWords mark a quoted value as a sentence ("Password must be at least 8
// characters") rather than a passphrase.
var stopWords = map[string]bool{"the": true, "a": true, "an": true, "is": true, "be": true, "must": true, "your": true,
	"for": true, "to": true, "of": true, "and": true, "or": true, "in": true, "at": true, "least": true, "with": true,
	"not": true, "enter": true, "please": true, "this": true, "that": true, "will": true, "here": true}

func prose(v string) bool {
	if strings.IndexByte(v, ' ') < 0 {
		return false
	}
	words := strings.Fields(v)
	stop := false
	for _, w := range words {
		w = strings.TrimRight(w, ".,!?:")
		for i := 0; i < len(w); i++ {
			if c := w[i]; !('a' <= c && c <= 'z' || i == 0 && 'A' <= c && c <= 'Z') {
				return false
			}
		}
		stop = stop || stopWords[strings.ToLower(w)]
	}
	return len(words) >= 3 && stop
}
