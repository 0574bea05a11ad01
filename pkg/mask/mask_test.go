package mask

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"avsync/pkg/mask/corpus"
)

func newMasker(t testing.TB) *Masker {
	t.Helper()
	m, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// survives tells whether 8 consecutive characters of secret are in text.
func survives(secret, text string) bool {
	if len(secret) < 8 {
		return strings.Contains(text, secret)
	}
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(text, secret[i:i+8]) {
			return true
		}
	}
	return false
}

// contexts writes text the ways a secret reaches av-mask: as a field's text,
// inside a JSON tool input (escaped once more), inside JSON printed inside a
// JSON tool result (escaped twice more), and over numbered lines.
var contexts = []struct {
	name  string
	write func(string) string
}{
	{"raw", func(s string) string { return "see:\n" + s + "\nthen go on" }},
	{"json-escaped", func(s string) string { b, _ := json.Marshal(map[string]string{"content": s}); return string(b) }},
	{"json-in-json", func(s string) string {
		in, _ := json.Marshal(map[string]string{"stdout": s})
		out, _ := json.Marshal(map[string]string{"output": string(in)})
		return string(out)
	}},
	{"multi-line", func(s string) string { // a YAML block scalar among other lines
		return "name: app\nconfig: |\n  " + strings.ReplaceAll(s, "\n", "\n  ") + "\nreplicas: 2"
	}},
}

// TestEveryRuleMasksItsExample: each rule finds its made-up example, and in
// every context no 8 characters of the secret part survive.
func TestEveryRuleMasksItsExample(t *testing.T) {
	m := newMasker(t)
	if len(m.Rules()) < 100 {
		t.Fatalf("only %d rules", len(m.Rules()))
	}
	for _, r := range m.Rules() {
		t.Run(r.Name, func(t *testing.T) {
			// Every rule's regexps compile (they do so lazily, on a hit).
			if err := r.ensure(); err != nil {
				t.Fatal(err)
			}
			var secret string
			for _, f := range m.Find(r.Example) {
				secret = r.Example[f.Start:f.End]
			}
			own := false
			// The rule's own regexp, whole (a rule compiles only the form its search runs).
			for _, sm := range regexp.MustCompile(macros.Replace(r.Regex)).FindAllStringSubmatchIndex(r.Example, -1) {
				if sm[2*r.secret] >= 0 {
					own = true
				}
			}
			if secret == "" || !own {
				t.Fatalf("rule does not find its own example %q", r.Example)
			}
			for _, c := range contexts {
				if out := m.MaskJSONString(c.write(r.Example)); survives(secret, out) {
					t.Errorf("%s: secret survives: %.200q", c.name, out)
				}
			}
		})
	}
}

// TestFamilies: hand-made true cases per family, each in every context.
func TestFamilies(t *testing.T) {
	m := newMasker(t)
	key := fake(b64, 64, "k1") + "\n" + fake(b64, 64, "k2") + "\n" + fake(b64, 20, "k3") + "=="
	pw := fake(alnum, 10, "pw") + "#8x"
	cases := []struct{ family, text, secret string }{
		{"pem-real-newlines", "-----BEGIN EC PRIVATE KEY-----\n" + key + "\n-----END EC PRIVATE KEY-----", key},
		{"pem-encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + key + "\n-----END ENCRYPTED PRIVATE KEY-----", key},
		{"pem-pkcs8", "-----BEGIN PRIVATE KEY-----\n" + key + "\n-----END PRIVATE KEY-----", key},
		{"pem-openssh", "-----BEGIN OPENSSH PRIVATE KEY-----\n" + key + "\n-----END OPENSSH PRIVATE KEY-----", key},
		{"pgp", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n" + key + "\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----", key},
		{"pem-escaped-in-text", `{"key": "-----BEGIN RSA PRIVATE KEY-----\n` + strings.ReplaceAll(key, "\n", `\n`) + `\n-----END RSA PRIVATE KEY-----"}`, strings.ReplaceAll(key, "\n", `\n`)},
		{"pem-numbered", "     1\t-----BEGIN RSA PRIVATE KEY-----\n     2\t" + strings.ReplaceAll(key, "\n", "\n     3\t") + "\n     9\t-----END RSA PRIVATE KEY-----", fake(b64, 64, "k1")},
		{"pem-one-line", "-----BEGIN RSA PRIVATE KEY----- " + strings.ReplaceAll(key, "\n", " ") + " -----END RSA PRIVATE KEY-----", fake(b64, 64, "k2")},
		{"postgres", "postgres://app:" + pw + "@db:5432/app", pw},
		{"mysql-url", "mysql://root:" + pw + "@127.0.0.1:3306/shop", pw},
		{"mongodb-srv", "mongodb+srv://u:" + pw + "@c0.mongodb.net/x", pw},
		{"redis-no-user", "redis://:" + pw + "@cache:6379", pw},
		{"amqp", "amqps://svc:" + pw + "@mq:5671/vhost", pw},
		{"https-basic", "https://deploy:" + pw + "@nexus.internal/repo", pw},
		{"odbc", "Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd=" + pw + ";", pw},
		{"jdbc-query", "jdbc:postgresql://db/app?user=app&password=" + pw, pw},
		{"jdbc-oracle", "jdbc:oracle:thin:scott/" + pw + "@db:1521:ORCL", pw},
		{"bearer", "Authorization: Bearer " + fake(b64url+".", 48, "bear"), fake(b64url+".", 48, "bear")},
		{"x-api-key", `-H "X-Api-Key: ` + fake(alnum, 32, "xak") + `"`, fake(alnum, 32, "xak")},
		{"kubeconfig-key-data", "    client-key-data: " + fake(b64, 200, "ckd"), fake(b64, 200, "ckd")},
		{"kubeconfig-token", "  user:\n    token: " + fake(b64url, 60, "kt"), fake(b64url, 60, "kt")},
		{"kubectl-secret", "apiVersion: v1\ndata:\n  DB_URL: " + fake(b64, 40, "ks") + "=\nkind: Secret", fake(b64, 40, "ks")},
		{"netrc", "machine github.com\nlogin dev\npassword " + pw, pw},
		{"npmrc", "//npm.pkg.github.com/:_authToken=" + fake(alnum, 40, "npmrc"), fake(alnum, 40, "npmrc")},
		{"pypirc", "[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmc" + fake(b64url, 80, "pypirc"), fake(b64url, 80, "pypirc")},
		{"git-credentials", "https://dev:" + fake(alnum, 30, "gc") + "@gitlab.com", fake(alnum, 30, "gc")},
		{"aws-credentials", "[prod]\naws_access_key_id = AKIA" + fake(base32, 16, "awsid") + "\naws_secret_access_key = " + fake(b64, 40, "awssk"), fake(b64, 40, "awssk")},
		{"dotenv", "SMTP_PASSWORD=" + pw, pw},
		{"yaml", "redis:\n  password: " + pw, pw},
		{"json", `{"db_password": "` + pw + `"}`, pw},
		{"toml", `secret_key = "` + fake(alnum, 40, "toml") + `"`, fake(alnum, 40, "toml")},
		{"export", "export STRIPE_SECRET=" + fake(alnum, 32, "exp"), fake(alnum, 32, "exp")},
		{"cli-flag", "app serve --db-password " + pw, pw},
		{"curl-u", "curl -u admin:" + pw + " https://x", pw},
		{"mysql-p", "mysqldump -uroot -p" + pw + " shop", pw},
		{"token-with-dots-and-tildes", "AZURE_CLIENT_SECRET=" + fake(alnum, 3, "az") + "7Q~" + fake(alnum+"~.", 34, "az2"), fake(alnum+"~.", 34, "az2")},
	}
	for _, c := range cases {
		for _, ctx := range contexts {
			if ctx.name == "multi-line" {
				continue // these are multi-line already where it matters
			}
			if out := m.MaskJSONString(ctx.write(c.text)); survives(c.secret, out) {
				t.Errorf("%s/%s: secret survives:\n%.300q", c.family, ctx.name, out)
			}
		}
	}
}

// TestDecoysSurvive: look-alikes that are not secrets come through untouched.
func TestDecoysSurvive(t *testing.T) {
	m := newMasker(t)
	for _, s := range corpus.Generate(400, 7) {
		if s.Decoy == "" {
			continue
		}
		if out := m.MaskJSONString(s.Text); out != s.Text {
			t.Errorf("%s decoy changed:\n in: %.200q\nout: %.200q", s.Context, s.Text, out)
		}
	}
}

// TestCorpusRecall: on the corpus (every family and syntax in every
// context, with decoys), recall and strict recall are at least 0.995 and
// at least 0.998 of the decoys come through intact.
func TestCorpusRecall(t *testing.T) {
	m := newMasker(t)
	n := 3 * 3 * corpus.Families() * len(corpus.Contexts) / 2 // each family in each context three times
	sc := corpus.Measure(corpus.Generate(n, 3), m.MaskJSONString)
	t.Logf("%d secrets, %d decoys: recall %.4f, strict recall %.4f, decoys intact %.4f",
		sc.Planted, sc.Decoys, sc.Recall(), sc.StrictRecall(), sc.DecoysIntact())
	if sc.Recall() < 0.995 || sc.StrictRecall() < 0.995 || sc.DecoysIntact() < 0.998 {
		for _, miss := range sc.Misses {
			t.Log(miss)
		}
		t.Fatal("below the bar")
	}
	if testing.Verbose() {
		for _, miss := range sc.Misses {
			t.Log(miss)
		}
	}
}

// TestMaskingIsIdempotentAndMinimal: masking twice changes nothing more, and
// text without findings comes back byte for byte.
func TestMaskingIsIdempotentAndMinimal(t *testing.T) {
	m := newMasker(t)
	texts := []string{corpus.Filler(50_000, 1), corpus.Filler(3_000, 2)}
	for _, s := range corpus.Generate(600, 5) {
		texts = append(texts, s.Text)
	}
	for _, text := range texts {
		once, found := m.Mask(text)
		if len(found) == 0 && once != text {
			t.Fatalf("no findings, yet the text changed")
		}
		if twice, more := m.Mask(once); twice != once || len(more) != 0 {
			t.Fatalf("masking is not idempotent: %d more findings in %.200q", len(more), once)
		}
		j := m.MaskJSONString(text)
		if jj := m.MaskJSONString(j); jj != j {
			t.Fatalf("JSON masking is not idempotent: %.200q", j)
		}
	}
	if _, found := m.Mask(corpus.Filler(200_000, 9)); len(found) != 0 {
		t.Errorf("filler text has findings: %v", found)
	}
}

func TestMaskRecord(t *testing.T) {
	m := newMasker(t)
	token := "ghp_" + fake(alnum, 36, "rec")
	line := `{"kind":"message","session_id":"s1","ordinal":3,"zeta":{"a":[1,"` + token + `"]},` +
		`"content":"x\n` + token + `\u00e9\"","thinking":"","masked":{"ruleset":"old","secrets":9}}`
	rec, err := m.MaskRecord([]byte(line), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Line, &got); err != nil {
		t.Fatalf("masked line is not JSON: %v\n%s", err, rec.Line)
	}
	if got["content"] != "x\n[REDACTED:github-pat]é\"" && got["content"] != "x\n"+"ghp_[REDACTED:github-pat]é\"" {
		t.Fatalf("content = %q", got["content"])
	}
	if !strings.Contains(string(rec.Line), token) {
		t.Fatal("a field that is not free text was masked (zeta is not a text field)")
	}
	stamp := got["masked"].(map[string]any)
	if stamp["ruleset"] != m.Ruleset() || stamp["secrets"] != float64(1) {
		t.Fatalf("stamp = %v", stamp)
	}
	if !strings.HasPrefix(string(rec.Line), `{"kind":"message","session_id":"s1","ordinal":3,"zeta":`) {
		t.Fatalf("order of members changed: %s", rec.Line)
	}
	if rec.Key != "message:s1#3" || len(rec.Findings) != 1 || rec.Findings[0].Field != "content" {
		t.Fatalf("key %q findings %+v", rec.Key, rec.Findings)
	}
	extra, _ := m.MaskRecord([]byte(line), map[string]bool{"zeta": true}, nil)
	if strings.Count(string(extra.Line), "[REDACTED:") != 1 {
		t.Fatal("--field on a non-string value should not mask inside it")
	}
	if _, err := m.MaskRecord([]byte(`{"kind":"message","content":"x"`), nil, nil); err == nil {
		t.Fatal("a torn line was accepted")
	}
	empty, err := m.MaskRecord([]byte(`{}`), nil, nil)
	if err != nil || !json.Valid(empty.Line) {
		t.Fatalf("empty object: %s %v", empty.Line, err)
	}
}

// TestEscapesStayWhole: a secret next to an escape never leaves half of it.
func TestEscapesStayWhole(t *testing.T) {
	m := newMasker(t)
	token := "ghp_" + fake(alnum, 36, "esc")
	for _, text := range []string{
		token + "\u00e9", "\u00e9" + token, "a\\" + token, token + "\\", "\"" + token + "\"", "\t" + token + "\n",
		"password=\\\"" + fake(alnum, 12, "e1") + "9\\\"", "password=" + fake(alnum, 10, "e2") + "<>&7",
	} {
		b, _ := json.Marshal(map[string]string{"content": text})
		rec, err := m.MaskRecord(b, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(rec.Line) || !utf8.Valid(rec.Line) {
			t.Fatalf("%q became invalid: %s", text, rec.Line)
		}
	}
}

func TestUserRulesAndAllow(t *testing.T) {
	internal := "ACME-" + fake(upper+digits, 20, "acme")
	extra := []*Rule{{Name: "acme-internal-key", Keywords: []string{"acme-"}, Regex: `ACME-(?P<s>[A-Z0-9]{20})`}}
	m, err := New(extra, []string{"/^" + fake(alnum, 8, "al") + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := m.Mask("key " + internal); survives(internal[5:], out) {
		t.Fatalf("user rule did not mask: %s", out)
	}
	base := newMasker(t)
	if m.Ruleset() == base.Ruleset() {
		t.Fatal("ruleset id did not change with the rules")
	}
	allowed := "ghp_" + fake(alnum, 8, "al") + fake(alnum, 28, "al2")
	if out, _ := m.Mask(allowed); strings.Contains(out, "REDACTED") {
		t.Fatalf("allow-listed value masked: %s", out)
	}
	for _, bad := range []*Rule{{Name: "x y", Keywords: []string{"a"}, Regex: "a"}, {Name: "nokw", Regex: "a"}, {Name: "badre", Keywords: []string{"a"}, Regex: "("}} {
		if _, err := New([]*Rule{bad}, nil); err == nil {
			t.Errorf("rule %q accepted", bad.Name)
		}
	}
}

// TestDenseSecrets: secrets packed so close that windows split at their cap
// are all found, by windowed and key-anchored rules alike.
func TestDenseSecrets(t *testing.T) {
	m := newMasker(t)
	var parts, secrets []string
	for i := 0; i < 300; i++ {
		tok := fake(alnum, 36, "dense"+itoa(i+1))
		pw := fake(alnum, 12, "densepw"+itoa(i+1)) + "7!"
		chimp := fake(hexLC, 32, "chimp"+itoa(i+1))
		parts = append(parts, "ghp_"+tok, "db_pwd="+pw, "password="+pw, chimp+"-us21", chimp[1:]+"0-us21")
		secrets = append(secrets, tok, pw, chimp, chimp[1:]+"0")
	}
	// Keys whose secret comes before their keyword, back to back: the
	// windows overlap the previous match wherever they split.
	var chimps []string
	for i := 0; i < 600; i++ {
		k := fake(hexLC, 32, "packed"+itoa(i+1))
		chimps = append(chimps, k+"-us21")
		secrets = append(secrets, k)
	}
	text := strings.Join(parts, " ") + "\n" + strings.Join(chimps, " ")
	for _, ctx := range contexts[:2] {
		out := m.MaskJSONString(ctx.write(text))
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("%s: a packed secret survives", ctx.name)
			}
		}
	}
}

// TestLongRunsGoOnByHand: a secret whose run of characters outlasts the
// short window (a key body cut off before its END line, a long token) is
// masked to its end, in every context.
func TestLongRunsGoOnByHand(t *testing.T) {
	m := newMasker(t)
	var body []string
	for i := 0; i < 60; i++ {
		body = append(body, fake(b64, 64, "longkey"+itoa(i)))
	}
	key := "-----BEGIN RSA PRIVATE KEY-----\n" + strings.Join(body, "\n") + "\n"
	tok := "glpat-" + fake(alnum, 600, "longtok")
	for _, ctx := range contexts {
		for _, s := range []string{key + "(the rest was cut off)", "token " + tok + " ok"} {
			out := m.MaskJSONString(ctx.write(s))
			for _, part := range append(body, tok[6:]) {
				if strings.Contains(s, part) && survives(part, out) {
					t.Fatalf("%s: part of a long secret survives: %.120q", ctx.name, out)
				}
			}
		}
	}
}
