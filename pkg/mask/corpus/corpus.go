// Package corpus makes up session-like text for testing and benchmarking
// av-mask: secrets of many families planted in the contexts where scanners
// fail (raw, JSON-escaped, JSON inside JSON, multi-line, numbered lines),
// look-alike decoys that must survive, and filler text. Every value is
// generated here from a seed: no string is taken from other projects.
package corpus

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

const (
	upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lower  = "abcdefghijklmnopqrstuvwxyz"
	digits = "0123456789"
	hexLC  = "0123456789abcdef"
	alnum  = upper + lower + digits
	b64url = alnum + "_-"
	b64    = alnum + "+/"
	pwchar = alnum + "!#%&*^~"
)

// Sample is one text with at most one planted secret or decoy.
type Sample struct {
	Family  string // what was planted
	Context string // how it was written
	Text    string // the field value av-mask sees (decoded)
	Secret  string // the secret part that must not survive ("" for decoys)
	Decoy   string // the look-alike that must survive untouched
}

type gen struct{ r *rand.Rand }

func (g gen) s(charset string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = charset[g.r.IntN(len(charset))]
	}
	return string(b)
}

// secret templates: the text around a secret, and the secret itself.
type template struct {
	family string
	make   func(g gen) (text, secret string)
}

func pre(family, prefix, charset string, n int, around string) template {
	return template{family, func(g gen) (string, string) {
		s := g.s(charset, n)
		return fmt.Sprintf(around, prefix+s), s
	}}
}

var secrets = []template{
	pre("aws-access-key-id", "AKIA", upper+"234567", 16, "aws_access_key_id = %s"),
	{"aws-secret-access-key", func(g gen) (string, string) {
		s := g.s(b64, 40)
		return "[default]\naws_access_key_id = AKIA" + g.s(upper, 16) + "\naws_secret_access_key = " + s, s
	}},
	pre("github-pat", "ghp_", alnum, 36, "export GITHUB_TOKEN=%s"),
	pre("github-fine-grained", "github_pat_", alnum+"_", 82, `git clone https://x-access-token:%s@github.com/acme/api.git`),
	pre("gitlab-pat", "glpat-", b64url, 20, "GITLAB_TOKEN: %s"),
	pre("slack-bot", "xoxb-", digits, 11, "%s-1234567890123-"+"Zq9"+"Wm2nB7vX1cR4tY6uI8oP0aS"),
	pre("stripe", "sk_live_", alnum, 24, `stripe.api_key = "%s"`),
	pre("openai-project", "sk-proj-", b64url, 48, "OPENAI_API_KEY=%s"),
	pre("anthropic", "sk-ant-api03-", b64url, 93, `{"x-api-key": "%s"}`),
	pre("huggingface", "hf_", upper+lower, 34, "huggingface-cli login --token %s"),
	pre("google-api-key", "AIza", b64url, 35, "const key = '%s';"),
	pre("npm", "npm_", alnum, 36, "//registry.npmjs.org/:_authToken=%s"),
	pre("sendgrid", "SG.", b64url, 22, "%s."+"Xy7"+"Kp2Lm9Nq4Rs6Tu8Vw0Yz1Ab3Cd5Ef7Gh9Ij2Kl4Mn6Op8Qr"),
	pre("vault", "hvs.", b64url, 90, "VAULT_TOKEN=%s vault kv get secret/app"),
	pre("digitalocean", "dop_v1_", hexLC, 64, "doctl auth init -t %s"),
	pre("shopify", "shpat_", hexLC, 32, "X-Shopify-Access-Token: %s"),
	pre("age", "AGE-SECRET-KEY-1", "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58, "# created: 2026-01-01\n%s"),
	pre("pypi", "pypi-AgEIcHlwaS5vcmc", b64url, 120, "password = %s"),
	{"jwt", func(g gen) (string, string) {
		s := "eyJ" + g.s(b64url, 60) + "." + g.s(b64url, 43)
		return "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + s, s
	}},
	{"bearer", func(g gen) (string, string) {
		s := g.s(b64url+".~", 44)
		return `curl -H "Authorization: Bearer ` + s + `" https://api.internal/v1/me`, s
	}},
	{"basic-auth", func(g gen) (string, string) {
		s := g.s(b64, 28)
		return "Authorization: Basic " + s + "==", s
	}},
	{"postgres-url", func(g gen) (string, string) {
		s := g.s(pwchar, 16)
		return "DATABASE_URL=postgres://app:" + s + "@db.internal:5432/app?sslmode=require", s
	}},
	{"mongodb-srv-url", func(g gen) (string, string) {
		s := g.s(alnum, 18)
		return "mongodb+srv://admin:" + s + "@cluster0.ab1cd.mongodb.net/prod", s
	}},
	{"redis-url", func(g gen) (string, string) {
		s := g.s(alnum, 24)
		return "REDIS_URL=redis://:" + s + "@cache:6379/0", s
	}},
	{"amqp-url", func(g gen) (string, string) {
		s := g.s(alnum+"~.", 20)
		return "amqp://worker:" + s + "@mq.internal:5672/", s
	}},
	{"mssql-connection", func(g gen) (string, string) {
		s := g.s(pwchar, 14)
		return "Server=tcp:sql.internal,1433;Database=app;User ID=sa;Password=" + s + ";Encrypt=true", s
	}},
	{"jdbc-url", func(g gen) (string, string) {
		s := g.s(alnum, 14)
		return "jdbc:mysql://db:3306/shop?user=shop&password=" + s, s
	}},
	{"env-password", func(g gen) (string, string) {
		s := g.s(pwchar, 15)
		return "DB_HOST=db\nDB_USER=app\nDB_PASSWORD=\"" + s + "\"\nLOG_LEVEL=debug", s
	}},
	{"yaml-password", func(g gen) (string, string) {
		s := g.s(alnum, 12) + "9!"
		return "database:\n  user: app\n  password: " + s + "\n  pool: 5", s
	}},
	{"json-secret", func(g gen) (string, string) {
		s := g.s(b64url, 32)
		return `{"client_id": "web-app", "client_secret": "` + s + `", "redirect_uri": "https://app/cb"}`, s
	}},
	{"toml-token", func(g gen) (string, string) {
		s := g.s(alnum, 40)
		return "[service]\napi_token = \"" + s + "\"\nretries = 3", s
	}},
	{"cli-password-flag", func(g gen) (string, string) {
		s := g.s(alnum, 16)
		return "psql --host db --username app --password=" + s + " -c 'select 1'", s
	}},
	{"curl-user", func(g gen) (string, string) {
		s := g.s(alnum, 18)
		return "curl -sS -u ci-bot:" + s + " https://jenkins.internal/job/deploy/build", s
	}},
	{"mysql-p", func(g gen) (string, string) {
		s := g.s(alnum, 12)
		return "mysql -h db -u root -p" + s + " shop < dump.sql", s
	}},
	{"netrc", func(g gen) (string, string) {
		s := g.s(alnum, 24)
		return "machine api.heroku.com\n  login dev@acme.io\n  password " + s, s
	}},
	{"git-credentials", func(g gen) (string, string) {
		s := "ghp_" + g.s(alnum, 36)
		return "https://dev:" + s + "@github.com", s[4:]
	}},
	{"kubeconfig-token", func(g gen) (string, string) {
		s := g.s(b64url, 48)
		return "users:\n- name: admin\n  user:\n    token: " + s, s
	}},
	{"kubectl-secret", func(g gen) (string, string) {
		s := g.s(b64, 32)
		return "apiVersion: v1\ndata:\n  api-key: " + s + "\nkind: Secret\nmetadata:\n  name: app-secrets\ntype: Opaque", s
	}},
	{"private-key", func(g gen) (string, string) {
		var body []string
		for i := 0; i < 6; i++ {
			body = append(body, g.s(b64, 64))
		}
		s := strings.Join(body, "\n")
		return "-----BEGIN RSA PRIVATE KEY-----\n" + s + "\n-----END RSA PRIVATE KEY-----", s
	}},
	{"private-key-one-line", func(g gen) (string, string) {
		s := g.s(b64, 200)
		return "key: -----BEGIN PRIVATE KEY----- " + s + " -----END PRIVATE KEY-----", s
	}},
	{"private-key-truncated", func(g gen) (string, string) {
		s := g.s(b64, 64) + "\n" + g.s(b64, 64)
		return "$ head -3 id_ed25519\n-----BEGIN OPENSSH PRIVATE KEY-----\n" + s, s
	}},
	{"azure-storage", func(g gen) (string, string) {
		s := g.s(b64, 86)
		return "AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" + s + "==;EndpointSuffix=core.windows.net", s
	}},
	{"azure-ad-secret", func(g gen) (string, string) {
		s := g.s(alnum, 3) + "8Q~" + g.s(alnum+"_~.", 34)
		return "AZURE_CLIENT_SECRET=" + s, s
	}},
	{"slack-webhook", func(g gen) (string, string) {
		s := "T" + g.s(upper+digits, 10) + "/B" + g.s(upper+digits, 10) + "/" + g.s(alnum, 24)
		return "SLACK_WEBHOOK=https://hooks.slack.com/services/" + s, s
	}},
	{"telegram", func(g gen) (string, string) {
		s := g.s(b64url, 33)
		return "https://api.telegram.org/bot" + g.s(digits, 10) + ":AA" + s + "/sendMessage", s
	}},
	{"docker-auth", func(g gen) (string, string) {
		s := g.s(b64, 36)
		return `{"auths": {"ghcr.io": {"auth": "` + s + `"}}}`, s
	}},
	{"generic-api-key", func(g gen) (string, string) {
		s := g.s(alnum, 32)
		return "PAYMENTS_API_KEY=" + s, s
	}},
}

// decoys are things that look like secrets and are not: masking them would
// damage the transcript.
var decoys = []func(g gen) string{
	func(g gen) string { // UUID
		return g.s(hexLC, 8) + "-" + g.s(hexLC, 4) + "-4" + g.s(hexLC, 3) + "-a" + g.s(hexLC, 3) + "-" + g.s(hexLC, 12)
	},
	func(g gen) string { return "commit " + g.s(hexLC, 40) }, // git log
	func(g gen) string { return "[main " + g.s(hexLC, 7) + "] Fix the pagination off-by-one" },
	func(g gen) string { return "sha256:" + g.s(hexLC, 64) },
	func(g gen) string { return "ghcr.io/acme/api@sha256:" + g.s(hexLC, 64) },
	func(g gen) string { // go.sum
		return "github.com/acme/lib v1.2.3 h1:" + g.s(b64, 43) + "="
	},
	func(g gen) string { return `"integrity": "sha512-` + g.s(b64, 86) + `=="` }, // package-lock
	func(g gen) string { return "traceparent: 00-" + g.s(hexLC, 32) + "-" + g.s(hexLC, 16) + "-01" },
	func(g gen) string { return `"trace_id": "` + g.s(hexLC, 32) + `"` },
	func(g gen) string { return `"next_page_token": "` + g.s(b64url, 40) + `"` },
	func(g gen) string { return `"cursor": "` + g.s(b64, 32) + `="` },
	func(g gen) string { return "AKIAIOSFODNN7EXAMPLE" },
	func(g gen) string { return "password=${DB_PASSWORD}" },
	func(g gen) string { return "api_key: <your-api-key>" },
	func(g gen) string { return "token: xxxxxxxxxxxxxxxxxxxx" },
	func(g gen) string { return "PASSWORD=changeme" },
	func(g gen) string { return "secret: ${{ secrets.DEPLOY_KEY }}" },
	func(g gen) string { return `password = os.environ["DB_PASSWORD"]` },
	func(g gen) string { return "const apiKey = process.env.OPENAI_API_KEY;" },
	func(g gen) string { return "token = get_token(session)" },
	func(g gen) string { return `"max_tokens": 4096, "token_type": "Bearer"` },
	func(g gen) string { return "Authorization: Bearer $GITHUB_TOKEN" },
	func(g gen) string { return "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" },
	func(g gen) string { return "pk.eyJ1Ijoi" + g.s(b64url, 20) + "." + g.s(b64url, 22) }, // Mapbox public token
	func(g gen) string { return "request_id=" + g.s(hexLC, 32) },
	func(g gen) string { return "md5sum: " + g.s(hexLC, 32) + "  build.tar.gz" },
	func(g gen) string { return "kind: ConfigMap\ndata:\n  LOG_LEVEL: debug\n  REGION: eu" },
}

// Contexts writes a text the ways agents store it. Each returns the field
// value av-mask sees.
var Contexts = []struct {
	Name  string
	Write func(g gen, text string) string
}{
	{"raw", func(g gen, t string) string { return "Here is what I found:\n" + t + "\nShall I continue?" }},
	{"json-escaped", func(g gen, t string) string { // a tool input stored as JSON
		b, _ := json.Marshal(map[string]string{"file_path": "/srv/app/.env", "content": t})
		return string(b)
	}},
	{"json-in-json", func(g gen, t string) string { // a JSON tool result holding printed JSON
		inner, _ := json.Marshal(map[string]string{"stdout": t, "stderr": ""})
		outer, _ := json.Marshal(map[string]string{"output": string(inner), "exit": "0"})
		return string(outer)
	}},
	{"tool-output", func(g gen, t string) string { // a shell tool's result as agents store it
		b, _ := json.Marshal(map[string]any{"stdout": "$ cat config\n" + t + "\n", "stderr": "", "interrupted": false, "returncode": 0})
		return string(b)
	}},
	{"json-unicode", func(g gen, t string) string { // a tool input some encoder escaped to ASCII
		b, _ := json.Marshal(map[string]string{"command": t})
		return strings.NewReplacer("_", `\u005f`, "<", `\u003c`, ">", `\u003e`, "&", `\u0026`).Replace(string(b))
	}},
	{"numbered", func(g gen, t string) string { // `cat -n` output, as the Read tool shows files
		lines := strings.Split(t, "\n")
		for i, l := range lines {
			lines[i] = fmt.Sprintf("%6d\t%s", i+1, l)
		}
		return strings.Join(lines, "\n")
	}},
}

var (
	allSecrets = append(append([]template(nil), secrets...), more...)
	allDecoys  = append(append([]func(gen) string(nil), decoys...), moreDecoys...)
)

// Families is how many secret families the corpus plants.
func Families() int { return len(allSecrets) }

// Generate makes n samples: each secret family and each decoy in turn, in
// each context, with values drawn from seed.
func Generate(n int, seed uint64) []Sample {
	g := gen{rand.New(rand.NewPCG(seed, 11))}
	var out []Sample
	for i := 0; len(out) < n; i++ {
		c := Contexts[i%len(Contexts)]
		if i%3 == 2 {
			d := allDecoys[(i/3)%len(allDecoys)](g)
			out = append(out, Sample{Family: "decoy", Context: c.Name, Text: c.Write(g, d), Decoy: d})
			continue
		}
		t := allSecrets[(i/len(Contexts))%len(allSecrets)]
		text, secret := t.make(g)
		out = append(out, Sample{Family: t.family, Context: c.Name, Text: c.Write(g, text), Secret: secret})
	}
	return out
}

// Filler makes about size bytes of session-like text with no secrets:
// prose, code, paths, hashes, JSON — what most of a transcript is.
func Filler(size int, seed uint64) string {
	g := gen{rand.New(rand.NewPCG(seed, 13))}
	words := strings.Fields(`the handler returns an error when the request context is cancelled so we
		retry with backoff and log the token count before the cache is invalidated; update the
		password reset flow, check the secret rotation job, and run the tests again`)
	var b strings.Builder
	for b.Len() < size {
		switch g.r.IntN(8) {
		case 0:
			fmt.Fprintf(&b, "\n```go\nfunc (s *Server) handle(ctx context.Context, id string) error {\n\treturn s.store.Get(ctx, id)\n}\n```\n")
		case 1:
			fmt.Fprintf(&b, `{"file_path":"/srv/app/internal/%s.go","old_string":"if err != nil {","new_string":"if err != nil && !errors.Is(err, io.EOF) {"}`, g.s(lower, 8))
		case 2:
			fmt.Fprintf(&b, "\n%s\n", decoys[g.r.IntN(11)](g))
		case 3:
			fmt.Fprintf(&b, "ok  \tgithub.com/acme/api/internal/%s\t0.%03ds\n", g.s(lower, 6), g.r.IntN(999))
		default:
			for i := 0; i < 12; i++ {
				b.WriteString(words[g.r.IntN(len(words))])
				b.WriteByte(' ')
			}
		}
	}
	return b.String()
}
