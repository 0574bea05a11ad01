package mask

import (
	"encoding/json"
	"strings"
	"testing"
)

// The classes of misses and damage of issue 12, one table each: a secret
// must not survive in any context, a decoy must come through untouched.

type leak struct{ name, text, secret string }

func checkLeaks(t *testing.T, cases []leak) {
	t.Helper()
	m := newMasker(t)
	for _, c := range cases {
		for _, ctx := range contexts[:3] {
			if out := m.MaskJSONString(ctx.write(c.text)); survives(c.secret, out) {
				t.Errorf("%s/%s: secret survives:\n%.400q", c.name, ctx.name, out)
			}
		}
	}
}

func checkIntact(t *testing.T, decoys []leak) {
	t.Helper()
	m := newMasker(t)
	for _, c := range decoys {
		for _, ctx := range contexts[:3] {
			in := ctx.write(c.text)
			if out := m.MaskJSONString(in); out != in {
				t.Errorf("%s/%s: damaged:\n in: %.300q\nout: %.300q", c.name, ctx.name, in, out)
			}
		}
	}
}

func TestIssue12MissingFamilies(t *testing.T) {
	uuid := func(s string) string {
		return fake(hexLC, 8, s+"a") + "-" + fake(hexLC, 4, s+"b") + "-4" + fake(hexLC, 3, s+"c") + "-8" + fake(hexLC, 3, s+"d") + "-" + fake(hexLC, 12, s+"e")
	}
	dt := fake(upper+digits, 24, "i-dt1") + "." + fake(upper+digits, 64, "i-dt2")
	tf := fake(alnum, 14, "i-tf1") + ".atlasv1." + fake(b64url, 66, "i-tf2")
	teams := uuid("i-t1") + "@" + uuid("i-t2") + "/IncomingWebhook/" + fake(hexLC, 32, "i-t3") + "/" + uuid("i-t4")
	discord := "MT" + fake(alnum, 24, "i-dc1") + "." + fake(b64url, 6, "i-dc2") + "." + fake(b64url, 38, "i-dc3")
	session := "IQoJb3JpZ2luX2Vj" + fake(b64, 600, "i-sts")
	checkLeaks(t, []leak{
		{"settlemint", "SETTLEMINT_ACCESS_TOKEN=sm_pat_" + fake(alnum, 16, "i-sm"), fake(alnum, 16, "i-sm")},
		{"dynatrace", "export DT_API_TOKEN=dt0c01." + dt, dt},
		{"typeform", `const typeformToken = "tfp_` + fake(b64url, 59, "i-tfp") + `";`, fake(b64url, 59, "i-tfp")},
		{"sourcegraph", "SRC_ACCESS_TOKEN=sgp_" + fake(hexLC, 16, "i-sg1") + "_" + fake(hexLC, 40, "i-sg2"), fake(hexLC, 40, "i-sg2")},
		{"sourcegraph-short", "token sgp_" + fake(hexLC, 40, "i-sg3"), fake(hexLC, 40, "i-sg3")},
		{"notion", "NOTION_TOKEN=ntn_" + fake(digits, 11, "i-n1") + fake(alnum, 35, "i-n2"), fake(alnum, 35, "i-n2")},
		{"terraform", "credentials \"app.terraform.io\" {\n  token = \"" + tf + "\"\n}", tf},
		{"intra42", "secret: s-s4t2ud-" + fake(hexLC, 64, "i-42"), fake(hexLC, 64, "i-42")},
		{"asana-pat", "ASANA_PAT=1/" + fake(digits, 16, "i-as1") + ":" + fake(alnum, 32, "i-as2"), fake(alnum, 32, "i-as2")},
		{"asana-secret", `asana_client_secret: "` + fake(alnum, 32, "i-as3") + `"`, fake(alnum, 32, "i-as3")},
		{"discord-client-secret", "DISCORD_CLIENT_SECRET=" + fake(b64url, 32, "i-dcs"), fake(b64url, 32, "i-dcs")},
		{"facebook-page", "page_access_token: EAAM" + fake(alnum, 150, "i-fb"), fake(alnum, 150, "i-fb")},
		{"teams-webhook", "https://acme.webhook.office.com/webhookb2/" + teams, teams},
		{"nuget", `<packageSourceCredentials><github><add key="Username" value="bot" /><add key="ClearTextPassword" value="` + fake(alnum, 20, "i-nu") + `" /></github></packageSourceCredentials>`, fake(alnum, 20, "i-nu")},
		{"discord-bot-far", "# bot for the discord server\n\nconfig:\n  features: [a, b]\n  credentials: {}\n\nclient.run('" + discord + "')", discord},
		{"discord-bot-header", "Authorization: Bot " + discord, discord},
		{"mailgun", "MAILGUN_API_KEY=" + fake(hexLC, 32, "i-mg1") + "-" + fake(hexLC, 8, "i-mg2") + "-" + fake(hexLC, 8, "i-mg3"), fake(hexLC, 32, "i-mg1")},
		{"mailgun-key", "api: key-" + fake(hexLC, 32, "i-mg4"), fake(hexLC, 32, "i-mg4")},
		{"databricks", "DATABRICKS_TOKEN=dapi" + fake(hexLC, 32, "i-db") + "-2", fake(hexLC, 32, "i-db")},
		{"okta", `oktaClient := okta.NewClient(ctx, okta.WithToken("00` + fake(b64url, 40, "i-ok") + `"))`, fake(b64url, 40, "i-ok")},
		{"okta-yaml", "okta:\n  client:\n    token: 00" + fake(b64url, 40, "i-ok2"), fake(b64url, 40, "i-ok2")},
		{"bootstrap-token", "kubeadm join 10.0.0.5:6443 --token " + fake(lowerAZ+digits, 6, "i-kb1") + "." + fake(lowerAZ+digits, 16, "i-kb2") + " --discovery-token-unsafe-skip-ca-verification", fake(lowerAZ+digits, 16, "i-kb2")},
		{"bootstrap-token-yaml", "bootstrapTokens:\n- token: " + fake(lowerAZ+digits, 6, "i-kb3") + "." + fake(lowerAZ+digits, 16, "i-kb4") + "\n  ttl: 24h0m0s", fake(lowerAZ+digits, 16, "i-kb4")},
		{"npm-legacy", "//registry.npmjs.org/:_authToken=" + uuid("i-npm"), uuid("i-npm")},
		{"npm-legacy-env", "NPM_TOKEN=" + uuid("i-npm2"), uuid("i-npm2")},
		{"generic-django", "SECRET_KEY = 'django-insecure-" + fake("abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)", 50, "i-dj") + "'", fake("abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)", 50, "i-dj")},
		{"generic-secret-key-base", "secret_key_base: " + fake(hexLC, 128, "i-skb"), fake(hexLC, 128, "i-skb")},
		{"airtable-pat-whole", "AIRTABLE_TOKEN=pat" + fake(alnum, 14, "i-at1") + "." + fake(hexLC, 64, "i-at2"), fake(alnum, 14, "i-at1")},
		{"aws-session-whole", "AWS_SESSION_TOKEN=" + session, session},
		{"aws-session-json", `{"Credentials": {"SessionToken": "` + session + `"}}`, session},
		{"telegram-whole", "TELEGRAM_BOT_TOKEN=" + fake(digits, 10, "i-tg1") + ":AA" + fake(b64url, 33, "i-tg2"), fake(digits, 10, "i-tg1") + ":AA"},
	})
}

func TestIssue12Syntaxes(t *testing.T) {
	pw := fake(alnum, 12, "i-syn") + "7!"
	tok := fake(alnum, 32, "i-syntok")
	checkLeaks(t, []leak{
		{"php-append", `$xToken .= "` + tok + `";`, tok},
		{"make-colon", "API_TOKEN := " + tok, tok},
		{"make-double-colon", "API_TOKEN ::= " + tok, tok},
		{"make-triple-colon", "API_TOKEN :::= " + tok, tok},
		{"make-conditional", "API_TOKEN ?= " + tok, tok},
		{"xml-element", "<xToken>" + tok + "</xToken>", tok},
		{"xml-password-element", "<password>" + pw + "</password>", pw},
		{"xml-attribute", `<add key="ClearTextPassword" value="` + pw + `"/>`, pw},
		{"java-setproperty", `System.setProperty("X_TOKEN", "` + tok + `");`, tok},
		{"go-var", `var xToken string = "` + tok + `"`, tok},
		{"ts-typed", `const apiKey: string = "` + tok + `";`, tok},
		{"db-pass", "DB_PASS=" + pw, pw},
		{"smtp-pass", "SMTP_PASS=" + pw, pw},
		{"yaml-pass", "smtp:\n  user: mailer\n  pass: " + pw, pw},
		{"chat", "sure, my password is " + pw + " so log in with it", pw},
		{"chat-root", "The root password was " + pw + ".", pw},
		{"docker-login", "docker login -u ci -p " + pw + " registry.acme.io", pw},
		{"redis-cli", "redis-cli -h cache.internal -a " + pw + " INFO", pw},
		{"az-login", "az login -u ops@acme.io -p " + pw, pw},
		{"ldapsearch", `ldapsearch -x -H ldap://dc1 -D "cn=admin,dc=acme,dc=io" -w ` + pw + ` -b dc=acme,dc=io`, pw},
		{"python-environ", `os.environ["OPENAI_TOKEN"] = "` + tok + `"`, tok},
		{"quoted-with-spaces", `db_password: "` + fake(alnum, 6, "i-sp1") + " " + fake(alnum, 6, "i-sp2") + ` horse"`, fake(alnum, 6, "i-sp2")},
	})
}

func TestIssue12Boundaries(t *testing.T) {
	key := fake(b64, 32, "i-k8s")
	secretYAML := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secrets\n  namespace: prod\ndata:\n  api-key: " + key + "\ntype: Opaque"
	m := newMasker(t)
	out := m.MaskJSONString(secretYAML)
	if survives(key, out) || !strings.Contains(out, "name: app-secrets") || !strings.Contains(out, "namespace: prod") {
		t.Errorf("Secret: metadata masked or data kept:\n%s", out)
	}
	checkLeaks(t, []leak{
		{"settlemint-token-key", "settlemintToken: " + fake(alnum, 30, "i-b1"), fake(alnum, 30, "i-b1")},
		{"typeform-token-key", "typeformToken = '" + fake(b64url, 40, "i-b2") + "'", fake(b64url, 40, "i-b2")},
	})
	checkIntact(t, []leak{
		{"rook-table", `rookTable: "00` + fake(b64url, 40, "i-rook") + `"`, ""},
		{"hf-in-identifier", "self_hf_" + fake(letters, 34, "i-hf") + " = 1", ""},
		{"jsonwebtoken", "implementation 'io.jsonwebtoken:jjwt-api:0.11.5'\nruntimeOnly 'io.jsonwebtoken:jjwt-impl:0.11.5'", ""},
		{"metadata", "metadata:\n  name: web\n  labels:\n    app: web", ""},
		{"maven-token", "<groupId>io.jsonwebtoken</groupId>", ""},
	})
}

func TestIssue12NoDamage(t *testing.T) {
	checkIntact(t, []leak{
		{"pem-placeholder", "-----BEGIN RSA PRIVATE KEY-----\n<your private key here>\n-----END RSA PRIVATE KEY-----", ""},
		{"pem-dots", "-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----", ""},
		{"pem-contents-of", "-----BEGIN PRIVATE KEY-----\n(contents of ~/.ssh/id_rsa)\n-----END PRIVATE KEY-----", ""},
		{"arn-secret", `"SecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-Ab12Cd"`, ""},
		{"arn-role", "role_arn = arn:aws:iam::123456789012:role/deploy-token-rotator", ""},
		{"password-bracket", "password: [PASSWORD]", ""},
		{"url-bracket", "postgres://app:[PASSWORD]@db.internal:5432/app", ""},
		{"xoxp-short", "Slack tokens look like xoxp-1234567890", ""},
		{"jenkins-credentials-id", "withCredentials([usernamePassword(credentialsId: '" + fake(hexLC, 8, "i-j1") + "-" + fake(hexLC, 4, "i-j2") + "-4" + fake(hexLC, 3, "i-j3") + "-9" + fake(hexLC, 3, "i-j4") + "-" + fake(hexLC, 12, "i-j5") + "', passwordVariable: 'PASS', usernameVariable: 'USER')])", ""},
		{"amqp-guest", "amqp://guest:guest@localhost:5672/", ""},
		{"postgres-default", "postgresql://postgres:postgres@localhost:5432/test", ""},
		{"nuget-env", `<add key="ClearTextPassword" value="%NUGET_PASSWORD%" />`, ""},
		{"chat-required", "the password is required and must be rotated", ""},
		{"login-port", "psql -h db -p 5432 -U app", ""},
		{"token-count", `"max_tokens": 4096, "input_tokens": 1200`, ""},
	})
}

func TestIssue12SideDoors(t *testing.T) {
	m := newMasker(t)
	token := fake(alnum, 36, "i-side")
	for _, text := range []string{
		"[REDACTED:ghp_" + token + "]",
		"[REDACTED: ghp_" + token + "]",
		"[REDACTED:github-pat]ghp_" + token,
		"[REDACTED:github-pat] [REDACTED:x ghp_" + token + " ]",
	} {
		if out, _ := m.Mask(text); survives(token, out) {
			t.Errorf("marker side door: %q -> %q", text, out)
		}
	}
	// \u00XX escapes of ASCII, in a record and in text escaped once more.
	for _, enc := range []string{`ghp\u005f` + token, `\u0067\u0068\u0070_` + token, `ghp\\u005f` + token} {
		line := `{"kind":"message","content":"see ` + enc + ` ok"}`
		rec, err := m.MaskRecord([]byte(line), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(rec.Line, &got); err != nil {
			t.Fatalf("%s: %v", rec.Line, err)
		}
		if survives(token, got["content"].(string)) || rec.Stamp.Secrets != 1 {
			t.Errorf("escaped token survives: %s", rec.Line)
		}
	}
	// Field names in any case, and the free-text fields once skipped.
	for _, field := range []string{"Content", "CONTENT", "project", "model", "tool_name", "skill_name", "category", "token_usage", "tool_use_id"} {
		line := `{"kind":"message","` + field + `":"x ghp_` + token + `"}`
		rec, err := m.MaskRecord([]byte(line), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(rec.Line), token) {
			t.Errorf("field %s not masked: %s", field, rec.Line)
		}
	}
}

// TestRulesetIDFollowsEverything: the id changes with the engine version,
// with any setting of any rule, with user rules and with the allow-list;
// its form stays "avmask-" and 12 hex digits.
func TestRulesetIDFollowsEverything(t *testing.T) {
	rules := Builtin()
	base := rulesetID(EngineVersion, rules, nil)
	if !RulesetPattern().MatchString(base) {
		t.Fatalf("ruleset id %q is not of the stable form", base)
	}
	seen := map[string]string{base: "base"}
	check := func(what, id string) {
		if prev, ok := seen[id]; ok {
			t.Errorf("%s gives the same id as %s", what, prev)
		}
		seen[id] = what
	}
	check("engine", rulesetID(EngineVersion+1, rules, nil))
	check("allow", rulesetID(EngineVersion, rules, []string{"x"}))
	changed := Builtin()
	changed[0].WordStart = !changed[0].WordStart
	check("word_start", rulesetID(EngineVersion, changed, nil))
	changed = Builtin()
	changed[3].Before++
	check("before", rulesetID(EngineVersion, changed, nil))
	check("user rule", rulesetID(EngineVersion, append(Builtin(), &Rule{Name: "u", Keywords: []string{"u"}, Regex: "u"}), nil))
	if rulesetID(EngineVersion, Builtin(), nil) != base {
		t.Fatal("the id is not stable")
	}
}

// TestRulesetOfIsNewsRuleset: what av-mask --print-ruleset prints is the id
// av-mask stamps, with and without a user's rules and allow-list.
func TestRulesetOfIsNewsRuleset(t *testing.T) {
	user := func() []*Rule {
		return []*Rule{{Name: "acme", Keywords: []string{"acme_"}, Regex: "acme_(?P<s>[a-z0-9]{12})", Entropy: 2}}
	}
	for _, c := range []struct {
		extra []*Rule
		allow []string
	}{{nil, nil}, {user(), nil}, {nil, []string{"x", "/y+/"}}, {user(), []string{"z"}}} {
		m, err := New(c.extra, c.allow)
		if err != nil {
			t.Fatal(err)
		}
		var extra []*Rule
		if c.extra != nil {
			extra = user()
		}
		id, err := RulesetOf(extra, c.allow)
		if err != nil || id != m.Ruleset() {
			t.Fatalf("RulesetOf = %q, %v; New's ruleset %q", id, err, m.Ruleset())
		}
	}
	if _, err := RulesetOf([]*Rule{{Name: "bad", Keywords: []string{"b"}, Regex: "("}}, nil); err == nil {
		t.Fatal("a rule with a bad regexp got a ruleset id")
	}
}
