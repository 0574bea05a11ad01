// Package mask finds and masks secrets in free text: provider tokens, private
// keys, connection-string passwords, auth headers and key=value assignments,
// whether the text is raw, JSON-escaped or escaped twice. It owns the rules,
// the keyword prefilter, the masking of a string and of an NDJSON record, and
// the ruleset id. It never logs, returns or stores a secret value: findings
// carry offsets, rule names and a short hash only.
package mask

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"avsync/pkg/lazyregexp"
)

// Rule describes one kind of secret.
type Rule struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Keywords    []string `json:"keywords"` // one must occur (any case) for the regex to run
	// Regex finds the secret; its group named "s" is the secret part (the
	// rest, e.g. a public prefix, stays). Macros: {b} a word boundary, also
	// after an escaped newline; {q} a quote, maybe backslash-escaped; {s}
	// white space, maybe escaped (\n, \\n); {u} a \u0026-style escape; {eq}
	// an assignment (=, :, :=, =>) with quotes and spaces around it.
	Regex string `json:"regex"`
	// Before and After bound how far a match may start before a keyword and
	// end after it: the regex only runs on that window, so it stays linear.
	Before int `json:"before,omitempty"`
	After  int `json:"after,omitempty"`
	// Entropy is the least Shannon entropy (bits per byte) the secret part
	// must have; MinLen its least length.
	Entropy float64 `json:"entropy,omitempty"`
	MinLen  int     `json:"min_len,omitempty"`
	// Near, when set, lists bytes one of which must occur within the Within
	// bytes after a keyword for the hit to count: a cheap test that spares
	// the regex most prose ("reset your password" has no = or : after it).
	Near   string `json:"near,omitempty"`
	Within int    `json:"within,omitempty"`
	// Opener, when set, lists strings one of which must occur in the Before
	// bytes before a keyword (the "<" of an XML element).
	Opener []string `json:"opener,omitempty"`
	// KeyAnchored rules start at the key the keyword is part of: the key's
	// start is found by hand and the regex tried there once, anchored,
	// instead of at every position of a window.
	KeyAnchored bool `json:"key_anchored,omitempty"`
	// Scan rules may match anywhere in a keyword's window (a token some
	// way after "discord"); the others match starting at most Before bytes
	// before their keyword, so each hit costs one anchored attempt instead
	// of a search of the whole window. Rules with Before over 64 scan.
	Scan bool `json:"scan,omitempty"`
	// Requires lists words that must also occur somewhere in the text.
	Requires []string `json:"requires,omitempty"`
	// Allow lists regexes of secret parts this rule never masks.
	Allow []string `json:"allow,omitempty"`
	// Value marks rules that recognise a value by its key name: placeholders,
	// variable references and identifiers are not secrets there.
	Value bool `json:"value,omitempty"`
	// Placeholders applies only the placeholder checks ($VAR, <your-key>, ****).
	Placeholders bool `json:"placeholders,omitempty"`
	// WordStart keeps only keyword hits that begin an identifier part: not
	// "okta" inside "rookTable" nor "data:" inside "metadata:". A part
	// begins after a non-alphanumeric byte, an escaped \n, or at a
	// lower-to-upper case change (camelCase).
	WordStart bool `json:"word_start,omitempty"`
	// End, when set, is a literal every match ends with (a PEM's
	// "-----END"): a window without it is skipped, and one with it is cut
	// just past it, so a block cut off before its end costs a substring
	// search, not a regexp run over the whole window.
	End string `json:"end,omitempty"`
	// MinRun is the least run of base64 characters the secret part must
	// hold: key blocks with placeholders ("...", "<your key here>") are not
	// keys.
	MinRun int `json:"min_run,omitempty"`
	// Example is a made-up text the rule must mask (see `av-mask rules`).
	Example string `json:"example,omitempty"`

	re       *regexp.Regexp // Scan rules: the regexp, run over each window
	anchored *regexp.Regexp // other rules: anchored at the window start (KeyAnchored), or starting within reach of it
	nsub     int            // the regexp's number of groups
	scan     bool
	tok      *tokenShape // a prefix token matched by hand
	near     [256]bool   // the bytes of Near
	// For key=value rules, the key's part and the value's part of the
	// regexp apart: the key is found by hand, checked whole, and the value
	// matched from its end (the joined regexp tried every split of the key).
	keyRe, valueRe *regexp.Regexp
	// When keyRe is C{0,pre} X C{0,post} with C taking every key
	// character, a key whose keyword hit matches keyHit (^X$) within pre
	// characters of its start and post of its end matches keyRe: checked
	// on the few bytes of the hit instead of the whole key.
	keyHit          *regexp.Regexp
	keyPre, keyPost int
	vsecret         int  // submatch index of the secret part in valueRe
	assign          bool // a key-anchored rule whose key is followed by {eq}
	reach           int  // how far after the window start an anchored match may start
	// tail, when the regexp ends with its secret part as a greedy run of
	// one set of ASCII bytes (a key body), is that set: a run cut off by
	// the short window goes on by hand, not by a second regexp run.
	tail *[256]bool
	// Every match of the regexp (of valueRe: vrun) holds a run of at
	// least run.n bytes of run.set: a window without one is skipped
	// without running the regexp (most keyword hits in prose).
	run, vrun byteRun
	secret    int // submatch index of the secret part
	keyIdx    int // submatch index of the key name ("k"), or -1
	userIdx   int // submatch index of a user name ("u"), or -1
	allowRe   []*regexp.Regexp
	// The regexps are compiled on the rule's first keyword hit: a run that
	// masks a few records (a cycle that found one change) compiles only the
	// rules their text wakes, not all of them.
	once *sync.Once // made by prepare, so a copy of a rule is prepared anew
	cerr error
}

var macros = strings.NewReplacer(
	// {b}: a word boundary that also holds after an escaped \n or \t,
	// where \b fails (the "n" of "\nghp_…" is a word character).
	"{b}", "(?:^|[^A-Za-z0-9_]|\\\\[nrt])",
	// {u}: a \u0026-style escape inside a value (Go escapes & < > so).
	"{u}", "\\\\+u[0-9a-fA-F]{4}",
	// {ws}: white space that may carry `cat -n` line numbers.
	"{ws}", "(?:[ \\t\\r\\n]|\\\\+[nrt]|\\d{1,7}(?:\\t|\\\\+t))",
	"{q}", "(?:\\\\*[\"'`])",
	"{s}", "(?:[ \\t\\r\\n]|\\\\+[nrt])",
	// {eq}: an assignment after a key: = : := ::= :::= ?= .= += ||= =>,
	// maybe after a closing quote or bracket (env["KEY"] = …) and a type
	// (var key string = …, key: &str = …).
	"{eq}", "(?:[ \\t]|\\\\+[nrt]|\\\\*[\"'`]|\\])*(?:(?::[ \\t]*)?&?(?:string|String|str|char[ \\t]*\\*)[ \\t]+)?(?::::=|::=|:=|\\?=|\\.=|\\+=|\\|\\|=|=>|=|:)(?:[ \\t]|\\\\*[\"'`])*",
)

// prepare checks a rule and sets what the prefilter and the windows need;
// its regexps wait for ensure.
func (r *Rule) prepare() error {
	if r.Name == "" || strings.ContainsAny(r.Name, "[]:\"\\ ") {
		return fmt.Errorf("rule %q: name must be non-empty, without spaces, quotes, brackets or colons", r.Name)
	}
	if len(r.Keywords) == 0 {
		return fmt.Errorf("rule %s: needs at least one keyword", r.Name)
	}
	if r.Before == 0 {
		r.Before = 64
	}
	r.scan = r.Scan || r.Before > maxStartReach
	for i := 0; i < len(r.Near); i++ {
		r.near[r.Near[i]] = true
	}
	r.assign = r.KeyAnchored && strings.Contains(r.Regex, "{eq}")
	if !r.KeyAnchored && !r.scan {
		// The leftmost match starting within Before plus the keyword's
		// length of the window start: one pass, however the hit fails.
		r.reach = r.Before
		for _, k := range r.Keywords {
			r.reach = max(r.reach, r.Before+len(k))
		}
	}
	if r.After == 0 {
		r.After = 256
	}
	r.once, r.cerr = new(sync.Once), nil
	return nil
}

// ensure compiles the rule's regexps, once.
func (r *Rule) ensure() error {
	r.once.Do(func() { r.cerr = r.compileRegexps() })
	return r.cerr
}

// compile prepares and compiles a rule at once (user rules are checked so,
// before any input arrives).
func (r *Rule) compile() error {
	if err := r.prepare(); err != nil {
		return err
	}
	return r.ensure()
}

func (r *Rule) compileRegexps() error {
	joined := macros.Replace(r.Regex)
	// Group numbers come from the parse alone: each rule compiles only the
	// form its search runs, as compiling is most of what a short run spends.
	parsed, err := syntax.Parse(joined, syntax.Perl)
	if err != nil {
		return fmt.Errorf("rule %s: %w", r.Name, err)
	}
	names := parsed.CapNames()
	r.nsub = len(names) - 1
	r.secret, r.keyIdx, r.userIdx = max(0, slices.Index(names, "s")), slices.Index(names, "k"), slices.Index(names, "u")
	if r.KeyAnchored {
		r.splitKeyValue()
	}
	r.tail = tailRun(parsed)
	r.run = mandatoryRun(parsed)
	var form string
	switch {
	case r.valueRe != nil: // key and value matched apart
	case r.scan:
		form = joined
	case r.KeyAnchored:
		form = `^(?:` + joined + `)`
	default:
		form = `^(?s:.){0,` + itoa(r.reach) + `}?(?:` + joined + `)`
	}
	if form != "" {
		re, err := regexp.Compile(form)
		if err != nil {
			return fmt.Errorf("rule %s: %w", r.Name, err)
		}
		if r.scan {
			r.re = re
		} else {
			r.anchored = re
		}
	}
	for _, a := range r.Allow {
		are, err := regexp.Compile(a)
		if err != nil {
			return fmt.Errorf("rule %s: allow %q: %w", r.Name, a, err)
		}
		r.allowRe = append(r.allowRe, are)
	}
	return nil
}

// Masker masks text with a fixed ruleset. It is safe for concurrent use.
type Masker struct {
	rules      []*Rule
	tokRules   []int           // rules matched by hand (prefix tokens)
	names      map[string]bool // rule names: what a marker may name
	pf         *prefilter
	allowExact map[string]bool
	allowRe    []*regexp.Regexp
	id         string
	reportKey  []byte // HMAC key of findings' hashes (--report)
	scratch    sync.Pool
}

// Finding is one secret found in a text: [Start, End) is its secret part.
type Finding struct {
	Rule       string
	Start, End int
	generic    bool // found by a key-name or placeholder-checked rule
}

// New builds a masker from the built-in rules plus extra ones. allow lists
// values never masked: exact strings, or regexes written /like this/.
func New(extra []*Rule, allow []string) (*Masker, error) {
	builtin := Builtin()
	m, err := build(append(builtin, extra...), allow, len(builtin))
	if err != nil {
		return nil, err
	}
	m.id = builtinRuleset
	if len(extra) > 0 || len(allow) > 0 {
		m.id = rulesetID(EngineVersion, m.rules, allow)
	}
	return m, nil
}

// build makes a masker, without its ruleset id (New's); the rules from
// index lazy on are compiled now (a user's rule with a bad regexp is
// refused at once), the others on their first keyword hit (the built-in
// ones are tested to compile).
func build(rules []*Rule, allow []string, lazy int) (*Masker, error) {
	m := &Masker{allowExact: map[string]bool{}, names: map[string]bool{}}
	seen := map[string]bool{}
	for _, r := range rules {
		if seen[r.Name] {
			return nil, fmt.Errorf("rule %s is defined twice", r.Name)
		}
		seen[r.Name] = true
		m.names[r.Name] = true
		if err := r.prepare(); err != nil {
			return nil, err
		}
		if len(m.rules) >= lazy {
			if err := r.ensure(); err != nil {
				return nil, err
			}
		}
		if r.tok != nil {
			m.tokRules = append(m.tokRules, len(m.rules))
		}
		m.rules = append(m.rules, r)
	}
	for _, a := range allow {
		if len(a) > 2 && strings.HasPrefix(a, "/") && strings.HasSuffix(a, "/") {
			re, err := regexp.Compile(a[1 : len(a)-1])
			if err != nil {
				return nil, fmt.Errorf("allow %s: %w", a, err)
			}
			m.allowRe = append(m.allowRe, re)
			continue
		}
		m.allowExact[a] = true
	}
	// One more keyword, after the rules': a \u00 escape, so the scan says
	// whether a text needs decoding.
	m.pf = newPrefilter(append(m.rules[:len(m.rules):len(m.rules)], &Rule{Keywords: []string{`\u00`}}))
	m.scratch.New = func() any { return &scratch{windows: make([][]int, len(m.rules))} }
	return m, nil
}

// Check validates extra rules and an allow-list without building a masker:
// cheap enough to run before any input arrives.
func Check(extra []*Rule, allow []string) error {
	for _, r := range extra {
		c := *r
		if err := c.compile(); err != nil {
			return err
		}
	}
	for _, a := range allow {
		if len(a) > 2 && strings.HasPrefix(a, "/") && strings.HasSuffix(a, "/") {
			if _, err := regexp.Compile(a[1 : len(a)-1]); err != nil {
				return fmt.Errorf("allow %s: %w", a, err)
			}
		}
	}
	return nil
}

// Ruleset identifies the rules, the allow-list and the engine: it changes
// whenever any of them does (a user's --rules file included), so a store can
// tell which rows were masked by which rules. Its form is stable:
// "avmask-" and 12 hex digits.
func (m *Masker) Ruleset() string { return m.id }

// Rules lists the rules in use.
func (m *Masker) Rules() []*Rule { return m.rules }

// EngineVersion changes whenever the engine masks differently for the same
// rules: macros, placeholder and default lists, escape handling, markers.
// It is folded into the ruleset id.
const EngineVersion = 3

// RulesetPattern is the form of a ruleset id, for stages that check stamps.
var RulesetPattern = lazyregexp.New(`^avmask-[0-9a-f]{12}$`)

// RulesetOf is the ruleset id New(extra, allow) would have, without
// building its matcher: what av-mask --print-ruleset prints on every
// cycle. Rules and allow-list are checked as New checks them.
func RulesetOf(extra []*Rule, allow []string) (string, error) {
	if err := Check(extra, allow); err != nil {
		return "", err
	}
	rules := append(Builtin(), extra...)
	seen := map[string]bool{}
	for _, r := range rules {
		if seen[r.Name] {
			return "", fmt.Errorf("rule %s is defined twice", r.Name)
		}
		seen[r.Name] = true
		if err := r.prepare(); err != nil {
			return "", err
		}
	}
	if len(extra) == 0 && len(allow) == 0 {
		return builtinRuleset, nil
	}
	return rulesetID(EngineVersion, rules, allow), nil
}

// builtinRuleset is rulesetID(EngineVersion, Builtin(), nil): the id of
// the rules most runs use, written down so that no run pays for encoding
// every rule to hash it. TestBuiltinRuleset fails when a rule or the
// engine changed without it: a new id makes every store re-mask its rows,
// so update it on purpose.
const builtinRuleset = "avmask-45011ceaf731"

func rulesetID(engine int, rules []*Rule, allow []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "engine %d\x00", engine)
	for _, r := range rules {
		// Every exported field, so no setting can change without the id.
		b, _ := json.Marshal(r)
		h.Write(b)
		h.Write([]byte{1})
	}
	fmt.Fprintf(h, "%q", allow)
	return "avmask-" + hex.EncodeToString(h.Sum(nil)[:6])
}

// scratch holds per-call buffers: keyword hits per rule.
type scratch struct {
	windows [][]int // per rule: merged [lo, hi) windows, flattened
	touched []int
	found   []Finding // what prefix tokens matched by hand found
	handEnd []int     // per rule: end of its last hand match
}

// tokenShape is a prefix token's shape (see tok): matched by hand, which
// costs a fraction of a regexp run per hit.
type tokenShape struct {
	prefix   string
	set      [256]bool
	min, max int // max 0: no limit but the rule's reach
	boundary bool
}

// matchToken matches a prefix token at a keyword hit, as its regexp would:
// a word boundary before a prefix that starts with a word character, the
// prefix as written, then min to max characters of the body's set.
func (m *Masker) matchToken(sc *scratch, ri int, text string, start int) {
	r := m.rules[ri]
	t := r.tok
	if start < sc.handEnd[ri] || !strings.HasPrefix(text[start:], t.prefix) {
		return
	}
	if t.boundary && start > 0 && start != sc.handEnd[ri] && isWord(text[start-1]) &&
		!(start >= 2 && text[start-2] == '\\' && (text[start-1] == 'n' || text[start-1] == 'r' || text[start-1] == 't')) {
		return
	}
	s := start + len(t.prefix)
	limit := min(len(text), start+r.After)
	if t.max > 0 {
		limit = min(limit, s+t.max)
	}
	e := s
	for e < limit && t.set[text[e]] {
		e++
	}
	if e-s < t.min || !m.accept(r, text, s, e, "", "") {
		return
	}
	sc.found = append(sc.found, Finding{Rule: r.Name, Start: s, End: e})
	sc.handEnd[ri] = e
}

// handTouched lists the rules whose hand-match state must be reset; the
// per-rule slice is sized on first use.
func (sc *scratch) handTouched(m *Masker) []int {
	if len(sc.handEnd) != len(m.rules) {
		sc.handEnd = make([]int, len(m.rules))
		return nil
	}
	return m.tokRules
}

// Find returns the secret parts of text, merged and in order. Text holding
// \u00XX escapes of ASCII is also searched decoded, so an escape cannot
// hide a token; those findings cover the escaped form.
func (m *Masker) Find(text string) []Finding {
	found, esc := m.find(text)
	if len(esc) > 0 {
		if more := m.findEscaped(text, esc); len(more) > 0 {
			found = merge(append(found, more...))
		}
	}
	return found
}

// find returns the findings in text, and where each \u00 in it is (any
// case: the prefilter's).
func (m *Masker) find(text string) ([]Finding, []int) {
	sc := m.scratch.Get().(*scratch)
	defer m.scratch.Put(sc)
	var esc []int
	sc.touched = sc.touched[:0]
	sc.found = sc.found[:0]
	for _, ri := range sc.handTouched(m) {
		sc.handEnd[ri] = 0
	}
	m.pf.scan(text, func(ri, start, end int) {
		if ri == len(m.rules) {
			esc = append(esc, start)
			return
		}
		r := m.rules[ri]
		if r.tok != nil {
			m.matchToken(sc, ri, text, start)
			return
		}
		if r.Within > 0 && !r.nearIn(text[end:min(len(text), end+r.Within)]) {
			return
		}
		if r.WordStart && !wordStart(text, start) {
			return
		}
		if r.Opener != nil && !containsAny(text[max(0, start-r.Before):start], r.Opener) {
			return
		}
		w := sc.windows[ri]
		if len(w) == 0 {
			sc.touched = append(sc.touched, ri)
		}
		if r.KeyAnchored {
			if r.assign && !assignAhead(text, end) {
				return // prose: "the token count", "a secret rotation job"
			}
			if r.ensure() != nil {
				return
			}
			lo := keyStart(text, start)
			if r.Value && notSecretKey(text[lo:keyEnd(text, end)]) {
				return // next_page_token, max_tokens: the regexp would find what plausibleValue refuses
			}
			if r.keyRe != nil && !r.keyMatches(text, lo, start, end) {
				return
			}
			if n := len(w); n == 0 || w[n-2] != lo {
				sc.windows[ri] = append(w, lo, min(len(text), lo+r.After))
			}
			return
		}
		lo, hi := max(0, start-r.Before), min(len(text), start+r.After)
		if !r.scan {
			if n := len(w); n == 0 || w[n-2] != lo {
				sc.windows[ri] = append(w, lo, hi)
			}
			return
		}
		// Overlapping hits share a window, up to a size where the regexp
		// engine stays on its fast path; past it a new window starts (a
		// secret seen twice is merged later).
		if n := len(w); n > 0 && lo <= w[n-1] && hi-w[n-2] <= max(maxWindow, 2*(r.Before+r.After)) {
			w[n-1] = max(w[n-1], hi)
		} else {
			w = append(w, lo, hi)
		}
		sc.windows[ri] = w
	})
	found := append([]Finding(nil), sc.found...)
	for _, ri := range sc.touched {
		r := m.rules[ri]
		w := sc.windows[ri]
		sc.windows[ri] = w[:0]
		if !requiresMet(r, text) || r.ensure() != nil {
			continue
		}
		covered := 0 // end of this rule's last accepted match
		tried := -1  // anchored starts up to here were tried and found nothing
		for i := 0; i < len(w); i += 2 {
			lo, hi := runeStart(text, w[i]), runeEnd(text, w[i+1])
			if !r.scan && !r.KeyAnchored && lo <= tried {
				// Hits close together (ghp_ghp_…): starts already tried
				// need no second attempt.
				if tried >= w[i]+r.reach {
					continue
				}
				lo = runeStart(text, tried+1)
			}
			switch {
			case (r.KeyAnchored || !r.scan) && hi <= covered, r.KeyAnchored && lo < covered:
				continue // the hit lies inside the value just matched
			case lo < covered:
				lo = covered // windows overlap: go on where the last match ended
				if lo >= hi {
					continue
				}
			}
			if lo >= hi {
				continue
			}
			if r.End != "" {
				j := strings.Index(text[lo:hi], r.End)
				if j < 0 {
					continue
				}
				hi = runeEnd(text, min(hi, lo+j+len(r.End)+endSlack))
			}
			var matches [][]int
			if r.valueRe != nil {
				if ke := keySpanEnd(text, lo); ke < hi {
					if sm := r.matchValue(text, lo, ke, hi); sm != nil {
						matches = [][]int{sm}
					}
				}
			} else if !r.scan {
				if sm := r.matchAt(text, lo, hi); sm != nil {
					matches = [][]int{sm}
				} else if !r.KeyAnchored {
					tried = lo + r.reach
				}
			} else if r.run.in(text[lo:hi]) {
				matches = r.re.FindAllStringSubmatchIndex(text[lo:hi], -1)
			}
			for _, sm := range matches {
				s, e := sm[2*r.secret], sm[2*r.secret+1]
				if s < 0 || e <= s {
					continue
				}
				s, e = s+lo, e+lo
				key, keyAt, user := "", -1, ""
				if r.keyIdx > 0 && sm[2*r.keyIdx] >= 0 {
					keyAt = lo + sm[2*r.keyIdx]
					key = text[keyAt : lo+sm[2*r.keyIdx+1]]
				}
				if r.userIdx > 0 && sm[2*r.userIdx] >= 0 {
					user = text[lo+sm[2*r.userIdx] : lo+sm[2*r.userIdx+1]]
				}
				if r.Value || r.Placeholders {
					e = quotedEnd(text, s, e)
				}
				// A key inside a marker (the rule name of [REDACTED:x-token])
				// or an ARN names nothing.
				keyOK := keyAt < 0 || !inARN(text, keyAt) && !m.overlapsMarker(text, keyAt, keyAt+1)
				if keyOK && m.accept(r, text, s, e, key, user) {
					found = append(found, Finding{Rule: r.Name, Start: s, End: e, generic: r.Value || r.Placeholders})
					// Only an accepted match covers text: a rejected one (a
					// path, a placeholder) must not hide a secret after it.
					covered = max(covered, lo+sm[1], e)
				}
			}
		}
	}
	return merge(found), esc
}

// splitKeyValue prepares keyRe and valueRe for a rule written as
// KEY{eq}VALUE with a key group; other rules keep the joined regexp.
func (r *Rule) splitKeyValue() {
	i := strings.Index(r.Regex, "{eq}")
	if !r.assign || r.keyIdx < 0 || i < 0 || strings.Count(r.Regex, "{eq}") != 1 {
		return
	}
	flags := ""
	if strings.HasPrefix(r.Regex, "(?i)") {
		flags = "(?i)"
	}
	kr, err := regexp.Compile(`^(?:` + macros.Replace(r.Regex[:i]) + `)$`)
	if err != nil {
		return
	}
	vr, err := regexp.Compile(`^` + flags + `(?:` + macros.Replace("{eq}") + `)` + macros.Replace(r.Regex[i+len("{eq}"):]))
	if err != nil || vr.SubexpIndex("s") < 0 {
		return
	}
	r.keyRe, r.valueRe, r.vsecret = kr, vr, vr.SubexpIndex("s")
	if p, err := syntax.Parse(vr.String(), syntax.Perl); err == nil {
		r.vrun = mandatoryRun(p)
	}
	r.keyShape(macros.Replace(r.Regex[:i]))
}

// keyShape sets keyHit, keyPre and keyPost if the key regexp src is a
// capture of C{0,pre} X C{0,post} with C taking every key character.
func (r *Rule) keyShape(src string) {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return
	}
	for re.Op == syntax.OpConcat && len(re.Sub) == 1 {
		re = re.Sub[0]
	}
	if re.Op != syntax.OpCapture || re.Sub[0].Op != syntax.OpConcat || len(re.Sub[0].Sub) < 3 {
		return
	}
	parts := re.Sub[0].Sub
	pre, ok1 := keyCharRun(parts[0])
	post, ok2 := keyCharRun(parts[len(parts)-1])
	if !ok1 || !ok2 {
		return
	}
	x := &syntax.Regexp{Op: syntax.OpConcat, Sub: parts[1 : len(parts)-1]}
	hit, err := regexp.Compile(`^(?:` + x.String() + `)$`)
	if err != nil {
		return
	}
	r.keyHit, r.keyPre, r.keyPost = hit, pre, post
}

// keyCharRun tells whether re is C{0,n} with C taking every key character,
// and n.
func keyCharRun(re *syntax.Regexp) (int, bool) {
	if re.Op != syntax.OpRepeat || re.Min != 0 || re.Max < 0 || re.Sub[0].Op != syntax.OpCharClass {
		return 0, false
	}
	in := func(c rune) bool {
		rs := re.Sub[0].Rune
		for i := 0; i+1 < len(rs); i += 2 {
			if rs[i] <= c && c <= rs[i+1] {
				return true
			}
		}
		return false
	}
	for c := 0; c < 128; c++ {
		if isKeyChar(byte(c)) && !in(rune(c)) {
			return 0, false
		}
	}
	return re.Max, true
}

// keyMatches tells whether the key starting at lo, holding a keyword hit
// at [start, end), matches keyRe.
func (r *Rule) keyMatches(text string, lo, start, end int) bool {
	ke := keySpanEnd(text, lo)
	if r.keyHit != nil && lo <= start && end <= ke && start-lo <= r.keyPre && ke-end <= r.keyPost &&
		r.keyHit.MatchString(text[start:end]) {
		return true
	}
	return r.keyRe.MatchString(text[lo:ke])
}

// matchValue matches valueRe at ke, the end of a key starting at lo, and
// returns the submatches in the joined regexp's numbering, relative to lo.
func (r *Rule) matchValue(text string, lo, ke, hi int) []int {
	if !r.vrun.in(text[ke:hi]) {
		return nil
	}
	var vm []int
	if small := runeEnd(text, ke+shortWindow); small < hi {
		vm = r.valueRe.FindStringSubmatchIndex(text[ke:small])
		if vm == nil || vm[1] >= small-ke {
			vm = r.valueRe.FindStringSubmatchIndex(text[ke:hi])
		}
	} else {
		vm = r.valueRe.FindStringSubmatchIndex(text[ke:hi])
	}
	if vm == nil || vm[2*r.vsecret] < 0 {
		return nil
	}
	sm := make([]int, 2*(r.nsub+1))
	for i := range sm {
		sm[i] = -1
	}
	off := ke - lo
	sm[0], sm[1] = 0, off+vm[1]
	sm[2*r.keyIdx], sm[2*r.keyIdx+1] = 0, off
	sm[2*r.secret], sm[2*r.secret+1] = off+vm[2*r.vsecret], off+vm[2*r.vsecret+1]
	return sm
}

// keySpanEnd is where a key starting at lo ends.
func keySpanEnd(text string, lo int) int {
	i := lo
	for i < len(text) && i-lo < 96 && isKeyChar(text[i]) {
		i++
	}
	return i
}

// nearIn tells whether s holds one of the bytes of Near.
func (r *Rule) nearIn(s string) bool {
	for i := 0; i < len(s); i++ {
		if r.near[s[i]] {
			return true
		}
	}
	return false
}

// matchAt tries r's anchored form on text[lo:hi], first on a short window:
// the regexp engine's fast path (a backtracker) needs the window times the
// program to stay small. A match that reaches the short window's end may go
// on, so it is tried again on the whole window; so is a miss of a rule whose
// matches are long (a private key needs its END line).
func (r *Rule) matchAt(text string, lo, hi int) []int {
	small := lo + r.reach + shortWindow
	if small >= hi {
		if !r.run.in(text[lo:hi]) {
			return nil
		}
		return r.anchored.FindStringSubmatchIndex(text[lo:hi])
	}
	small = runeEnd(text, small)
	// The run is looked for in the short window only: a long window
	// (48 KB for a key) searched at every hit would cost its length each.
	var sm []int
	if r.run.in(text[lo:small]) {
		sm = r.anchored.FindStringSubmatchIndex(text[lo:small])
	}
	if sm == nil && r.After < longMatch || sm != nil && sm[1] < small-lo {
		return sm
	}
	if r.tail != nil {
		// The leftmost match is found within the short window (only a
		// start needing more than it for its fixed part could be missed);
		// its run of secret bytes ends where they do.
		if sm != nil {
			e := small
			for e < hi && r.tail[text[e]] {
				e++
			}
			sm[1], sm[2*r.secret+1] = e-lo, e-lo
		}
		return sm
	}
	return r.anchored.FindStringSubmatchIndex(text[lo:hi])
}

// byteRun is a run of at least n bytes of set (n 0: no condition).
type byteRun struct {
	set *[256]bool
	n   int
}

// in tells whether s holds the run.
func (b byteRun) in(s string) bool {
	if b.n == 0 {
		return true
	}
	k := 0
	for i := 0; i < len(s); i++ {
		if !b.set[s[i]] {
			k = 0
		} else if k++; k >= b.n {
			return true
		}
	}
	return false
}

// minRun is the least run worth checking for: shorter ones are in most
// windows anyway.
const minRun = 12

// mandatoryRun finds, in the sequence re must match, the stretch of
// single-byte parts (ASCII literals, classes, repeats of them) whose
// matches are at least n bytes long: every match holds a run of n bytes
// of their union. The longest such stretch, if it is at least minRun.
func mandatoryRun(re *syntax.Regexp) byteRun {
	var best byteRun
	cur := byteRun{set: new([256]bool)}
	end := func() {
		if cur.n > best.n {
			best = cur
		}
		cur = byteRun{set: new([256]bool)}
	}
	var walk func(re *syntax.Regexp)
	walk = func(re *syntax.Regexp) {
		switch re.Op {
		case syntax.OpConcat:
			for _, sub := range re.Sub {
				walk(sub)
			}
			return
		case syntax.OpCapture:
			walk(re.Sub[0])
			return
		}
		unit, least := re, 1
		switch re.Op {
		case syntax.OpStar, syntax.OpQuest:
			unit, least = re.Sub[0], 0
		case syntax.OpPlus:
			unit = re.Sub[0]
		case syntax.OpRepeat:
			unit, least = re.Sub[0], re.Min
		}
		if n, ok := addBytes(cur.set, unit); ok && (n == 1 || unit == re) {
			cur.n += least * n
			return
		}
		end()
	}
	walk(re)
	end()
	if best.n < minRun {
		return byteRun{}
	}
	return best
}

// addBytes adds the bytes an ASCII literal or class may match to set, and
// says how many bytes one match of it is.
func addBytes(set *[256]bool, re *syntax.Regexp) (int, bool) {
	var add [256]bool
	switch re.Op {
	case syntax.OpLiteral:
		for _, c := range re.Rune {
			if c >= utf8.RuneSelf {
				return 0, false
			}
			add[c] = true
			if re.Flags&syntax.FoldCase == 0 {
				continue
			}
			// Every case of it: k and s have non-ASCII ones (K, ſ).
			for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
				if f >= utf8.RuneSelf {
					return 0, false
				}
				add[f] = true
			}
		}
	case syntax.OpCharClass:
		rs := re.Rune
		for i := 0; i+1 < len(rs); i += 2 {
			if rs[i+1] >= utf8.RuneSelf {
				return 0, false
			}
			for c := rs[i]; c <= rs[i+1]; c++ {
				add[c] = true
			}
		}
	default:
		return 0, false
	}
	for c, ok := range add {
		set[c] = set[c] || ok
	}
	if re.Op == syntax.OpLiteral {
		return len(re.Rune), true
	}
	return 1, true
}

// tailRun is the byte set of re's last part if it is the secret group "s"
// holding a greedy unbounded run of one set of ASCII bytes, or nil.
func tailRun(re *syntax.Regexp) *[256]bool {
	if re.Op != syntax.OpConcat || len(re.Sub) == 0 {
		return nil
	}
	last := re.Sub[len(re.Sub)-1]
	if last.Op != syntax.OpCapture || last.Name != "s" {
		return nil
	}
	run := last.Sub[0]
	unbounded := run.Op == syntax.OpPlus || run.Op == syntax.OpStar || run.Op == syntax.OpRepeat && run.Max < 0
	if !unbounded || run.Flags&syntax.NonGreedy != 0 || run.Sub[0].Op != syntax.OpCharClass {
		return nil
	}
	set := new([256]bool)
	rs := run.Sub[0].Rune
	for i := 0; i+1 < len(rs); i += 2 {
		if rs[i+1] >= utf8.RuneSelf {
			return nil
		}
		for c := rs[i]; c <= rs[i+1]; c++ {
			set[c] = true
		}
	}
	return set
}

// endSlack is how far past its End literal a match may go.
const endSlack = 64

// shortWindow is how far past its start reach a match is first looked for;
// longMatch is the After from which a rule's matches may need more than
// that to complete at all.
const (
	shortWindow = 192
	longMatch   = 4096
)

func requiresMet(r *Rule, text string) bool {
	for _, w := range r.Requires {
		if !containsFold(text, w) {
			return false
		}
	}
	return true
}

// accept applies the checks a regex cannot express.
func (m *Masker) accept(r *Rule, text string, s, e int, key, user string) bool {
	v := text[s:e]
	if m.overlapsMarker(text, s, e) || len(v) < r.MinLen || m.allowExact[v] {
		return false
	}
	if r.MinRun > 0 && longestRun(v) < r.MinRun {
		return false
	}
	// user:password pairs that are a service's documented default
	// (guest:guest, postgres:postgres) are not secrets.
	if user != "" && strings.EqualFold(user, v) {
		return false
	}
	for _, re := range m.allowRe {
		if re.MatchString(v) {
			return false
		}
	}
	for _, re := range r.allowRe {
		if re.MatchString(v) {
			return false
		}
	}
	// Runs of one or two characters (xxxx, 0000, abab) are never secrets.
	if h := entropy(v); h < max(r.Entropy, minEntropy) {
		return false
	}
	switch {
	case r.Value:
		return plausibleValue(v, text[e:], key)
	case r.Placeholders:
		return !isPlaceholder(v)
	}
	return true
}

// assignAhead tells, cheaply, whether an assignment operator can follow the
// key a keyword ending at i is part of: the rest of the key, closing quotes
// or brackets and blanks, maybe a type (string, str), then = : := ::= ?= .=
// += ||= or =>. It spares the regexp most keyword hits in prose.
func assignAhead(text string, i int) bool {
	for n := 0; i < len(text) && n < 40 && isKeyChar(text[i]); n++ {
		i++
	}
	typed := false
	for n := 0; i < len(text) && n < 24; n++ {
		switch c := text[i]; c {
		case ' ', '\t', '"', '\'', '`', ']', '\\':
			i++
		case ':', '=', '.', '?', '+', '|':
			return true
		default:
			if typed || !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '&' || c == '*') {
				return false
			}
			j := i
			for j < len(text) && j-i < 8 && ('a' <= text[j] && text[j] <= 'z' || 'A' <= text[j] && text[j] <= 'Z' || text[j] == '&' || text[j] == '*') {
				j++
			}
			switch strings.TrimLeft(text[i:j], "&*") {
			case "string", "String", "str", "char":
				typed, i = true, j
			case "n", "r", "t": // an escaped line break before the operator
				if text[i-1] != '\\' {
					return false
				}
				i = j
			default:
				return false
			}
		}
	}
	return false
}

// keyEnd is where the key holding a keyword that ends at i ends.
func keyEnd(text string, i int) int {
	for n := 0; i < len(text) && n < 40 && isKeyChar(text[i]); n++ {
		i++
	}
	return i
}

// keyStart finds where the key holding a keyword starts: the run of key
// characters (letters, digits, _ . -) before it, at most 48 of them.
func keyStart(text string, i int) int {
	lo := i
	for lo > 0 && i-lo < 48 && isKeyChar(text[lo-1]) {
		if lo >= 2 && text[lo-2] == '\\' {
			break // the n of an escaped \n is not part of the key
		}
		lo--
	}
	return lo
}

func isKeyChar(c byte) bool {
	return isWord(c) || c == '.' || c == '-'
}

// overlapsMarker tells whether [s, e) touches a marker av-mask writes,
// [REDACTED:<rule>] with the name of one of its rules: masking again must
// change nothing. Anything else that merely looks like one ("[REDACTED:"
// followed by a token) is text like any other.
func (m *Masker) overlapsMarker(text string, s, e int) bool {
	lo := max(0, s-maxMarker)
	if !strings.Contains(text[lo:e], "[REDACTED:") {
		return false // the usual case, found by a vectorised search
	}
	for {
		i := strings.LastIndex(text[lo:e], "[REDACTED:")
		if i < 0 {
			return false
		}
		at := lo + i
		name := text[at+len("[REDACTED:") : min(len(text), at+maxMarker)]
		if end := strings.IndexByte(name, ']'); end >= 0 && m.names[name[:end]] && at+len("[REDACTED:")+end+1 > s {
			return true
		}
		e = at // look for an earlier one
		if e <= lo {
			return false
		}
	}
}

// quotedEnd widens a value found by its key to its closing quote when it
// was opened by one: "correct horse battery", 'django-insecure-(a)b!'
// hold characters a bare value stops at. The quote may be escaped once or
// more (a .env inside JSON); the closing one must be escaped alike.
func quotedEnd(text string, s, e int) int {
	if s == 0 || (text[s-1] != '"' && text[s-1] != '\'') {
		return e
	}
	qs := s - 1
	for qs > 0 && text[qs-1] == '\\' {
		qs--
	}
	quote := text[qs:s]
	limit := min(len(text), e+256)
	for i := e; i < limit; i++ {
		switch c := text[i]; {
		case c == '\n' || c == '\\' && i+1 < len(text) && text[i+1] == 'n' && len(quote) == 1:
			return e // the quote is not closed on this line
		case c == quote[len(quote)-1] && i >= len(quote)-1 && text[i-len(quote)+1:i+1] == quote &&
			(i-len(quote) < 0 || text[i-len(quote)] != '\\'):
			return max(e, i-len(quote)+1)
		}
	}
	return e
}

// inARN tells whether a key at i is a part of an ARN
// (arn:aws:secretsmanager:…): what follows is a resource name.
func inARN(text string, i int) bool {
	lo := i
	for lo > 0 && i-lo < 64 && (text[lo-1] == ':' || text[lo-1] == '-' || isAlnum(text[lo-1])) {
		lo--
	}
	return strings.HasPrefix(text[lo:i], "arn:")
}

// maxMarker bounds a marker's length (rule names are short).
const maxMarker = 96

// wordStart tells whether a keyword starting at i begins an identifier part.
func wordStart(text string, i int) bool {
	if i == 0 {
		return true
	}
	p, c := text[i-1], text[i]
	switch {
	case !isAlnum(p):
		return true
	case i >= 2 && text[i-2] == '\\' && (p == 'n' || p == 't' || p == 'r'):
		return true // an escaped \n before the keyword
	case 'a' <= p && p <= 'z' || '0' <= p && p <= '9':
		return 'A' <= c && c <= 'Z' // camelCase: fooOkta
	}
	return false
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// longestRun is the longest run of base64 characters in s.
func longestRun(s string) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; isAlnum(c) || c == '+' || c == '/' || c == '=' {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// maxStartReach is the largest Before of a rule that matches near its
// keyword (see Rule.Scan): the anchored form repeats "any character" up to
// it, and RE2 expands the repetition.
const maxStartReach = 64

// maxWindow bounds a merged window, or twice a rule's reach if that is
// longer: so each byte is in at most a few windows, and most windows are
// small enough for the regexp engine's fast path.
const maxWindow = 2048

// minEntropy rejects fill-ins such as ghp_xxxxxxxx… or 00000000.
const minEntropy = 1.5

// merge sorts findings and joins overlapping ones (two rules, one secret).
func merge(f []Finding) []Finding {
	if len(f) < 2 {
		return f
	}
	// Longest first at each start; on a tie a provider rule names the
	// secret rather than a rule that only knows the key name.
	sort.SliceStable(f, func(i, j int) bool {
		if f[i].Start != f[j].Start {
			return f[i].Start < f[j].Start
		}
		if f[i].End != f[j].End {
			return f[i].End > f[j].End
		}
		return !f[i].generic && f[j].generic
	})
	out := f[:1]
	for _, x := range f[1:] {
		last := &out[len(out)-1]
		if x.Start < last.End {
			last.End = max(last.End, x.End)
			continue
		}
		out = append(out, x)
	}
	return out
}

// Mask replaces each secret part of text with [REDACTED:<rule>].
func (m *Masker) Mask(text string) (string, []Finding) {
	found := m.Find(text)
	if len(found) == 0 {
		return text, nil
	}
	return Replace(text, found), found
}

// Replace writes text with each finding replaced by its marker.
func Replace(text string, found []Finding) string {
	var b strings.Builder
	b.Grow(len(text))
	at := 0
	for _, f := range found {
		b.WriteString(text[at:f.Start])
		b.WriteString("[REDACTED:")
		b.WriteString(f.Rule)
		b.WriteByte(']')
		at = f.End
	}
	b.WriteString(text[at:])
	return b.String()
}

// appendReplaced is Replace appending to dst.
func appendReplaced(dst []byte, text string, found []Finding) []byte {
	at := 0
	for _, f := range found {
		dst = append(dst, text[at:f.Start]...)
		dst = append(dst, "[REDACTED:"...)
		dst = append(dst, f.Rule...)
		dst = append(dst, ']')
		at = f.End
	}
	return append(dst, text[at:]...)
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	if len(s) >= len(cLog2C) {
		return entropySlow(s)
	}
	var counts [256]uint16
	var seen [4]uint64 // which bytes occur
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
		seen[s[i]>>6] |= 1 << (s[i] & 63)
	}
	// H = log2(n) - (1/n) * sum(c * log2(c)), with c*log2(c) from a table.
	// Only the bytes that occur, in byte order: the same sum as over all
	// 256 counts (the others add zero), in a fraction of the steps.
	sum := 0.0
	for w, bitsOf := range seen {
		for ; bitsOf != 0; bitsOf &= bitsOf - 1 {
			sum += cLog2C[counts[w<<6|bits.TrailingZeros64(bitsOf)]]
		}
	}
	n := float64(len(s))
	return math.Log2(n) - sum/n
}

// cLog2C[c] is c*log2(c), for the short strings entropy mostly sees.
var cLog2C = func() (t [2048]float64) {
	for c := 2; c < len(t); c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return
}()

func entropySlow(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

func runeStart(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

func runeEnd(s string, i int) int {
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return i
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	// Jump between occurrences of the first byte in either case (a
	// vectorised search each), and compare the rest there.
	a, b := lower(sub[0]), upperOf(sub[0])
	ia, ib := strings.IndexByte(s, a), strings.IndexByte(s, b)
	for ia >= 0 || ib >= 0 {
		i := ia
		if i < 0 || ib >= 0 && ib < i {
			i = ib
		}
		if i+n > len(s) {
			return false
		}
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
		if i == ia {
			if ia = strings.IndexByte(s[i+1:], a); ia >= 0 {
				ia += i + 1
			}
		}
		if i == ib {
			if ib = strings.IndexByte(s[i+1:], b); ib >= 0 {
				ib += i + 1
			}
		}
	}
	return false
}

func upperOf(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
