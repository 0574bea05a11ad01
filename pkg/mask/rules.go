package mask

import (
	"hash/fnv"
	"regexp"
	"strings"
)

// Character sets of token bodies, also used to make up examples.
const (
	upper   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lowerAZ = "abcdefghijklmnopqrstuvwxyz"
	digits  = "0123456789"
	hexLC   = "0123456789abcdef"
	alnum   = upper + lowerAZ + digits
	b64url  = alnum + "_-"
	b64     = alnum + "+/"
	letters = upper + lowerAZ
	base32  = upper + "234567"
	bech32  = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
)

// fake makes up a deterministic string of n characters from charset: the
// rules' examples and the test corpus use it, so no real-looking secret is
// written in the source.
func fake(charset string, n int, seed string) string {
	h := fnv.New64a()
	h.Write([]byte(seed))
	x := h.Sum64() | 1
	b := make([]byte, n)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = charset[x%uint64(len(charset))]
	}
	return string(b)
}

// tok is a token with a fixed public prefix and a body of a known alphabet
// and length: the prefix stays, the body is the secret part.
func tok(name, desc, prefix, charset string, minLen, maxLen int) *Rule {
	body := "[" + classOf(charset) + "]"
	rep := "{" + itoa(minLen) + "," + itoa(maxLen) + "}"
	if maxLen == 0 {
		rep = "{" + itoa(minLen) + ",}"
	}
	boundary := "{b}"
	if !isWord(prefix[0]) {
		boundary = ""
	}
	after := len(prefix) + maxLen + 8
	if maxLen == 0 {
		after = 1024
	}
	shape := &tokenShape{prefix: prefix, min: minLen, max: maxLen, boundary: boundary != ""}
	for i := 0; i < len(charset); i++ {
		shape.set[charset[i]] = true
	}
	return &Rule{
		Name: name, Description: desc, Keywords: []string{strings.ToLower(prefix)},
		Regex:  boundary + regexp.QuoteMeta(prefix) + "(?P<s>" + body + rep + ")",
		Before: 3, After: after,
		Example: prefix + fake(charset, minLen, name),
		tok:     shape,
	}
}

// classOf writes charset as the inside of a regexp character class.
func classOf(charset string) string {
	var b strings.Builder
	for i := 0; i < len(charset); i++ {
		if strings.IndexByte(`\]^-[`, charset[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(charset[i])
	}
	return b.String()
}

func isWord(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= lower(c) && lower(c) <= 'z'
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// assign are the bytes that start an assignment after a key name.
const assign = "=:"

// kv is a secret recognised by the name of the key it is assigned to.
func kv(name, desc, key string, keywords []string, value string, example string) *Rule {
	return &Rule{
		Name: name, Description: desc, Keywords: keywords,
		Regex:  `(?i)(?P<k>[a-z0-9_.-]{0,24}?(?:` + key + `)[a-z0-9_.-]{0,30}){eq}(?P<s>` + value + `)`,
		Before: 48, After: 400, Example: example, Near: assign, Within: 72, KeyAnchored: true, WordStart: true,
	}
}

// Builtin returns a fresh copy of the built-in rules.
func Builtin() []*Rule {
	rules := []*Rule{
		// Cloud.
		{Name: "aws-access-key-id", Description: "AWS access key id (AKIA/ASIA…, 20 chars)",
			Keywords: []string{"akia", "asia", "abia", "acca", "a3t"},
			Regex:    `{b}(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)(?P<s>[A-Z2-7]{16})\b`, Before: 3, After: 24,
			Allow: []string{`EXAMPLE$`}, Example: "AKIA" + fake(base32, 16, "aws-id")},
		kv("aws-secret-access-key", "AWS secret access key (40 chars) after its key name",
			`aws_?secret_?access_?key|secret_?access_?key|secretaccesskey|aws_secret_key`,
			[]string{"secret_access_key", "secretaccesskey", "secret-access-key", "aws_secret", "secretaccess"},
			`[A-Za-z0-9/+=]{40}`, "aws_secret_access_key = "+fake(b64, 40, "aws-secret")),
		kv("aws-session-token", "AWS session token after its key name",
			`aws_?session_?token|sessiontoken|aws_?security_?token`,
			[]string{"session_token", "sessiontoken", "security_token"},
			`[A-Za-z0-9/+=]{100,}`, "AWS_SESSION_TOKEN="+fake(b64, 180, "aws-session")),
		{Name: "aws-session-token-value", Description: "AWS session/security token by its own start (IQoJb3JpZ2luX2Vj…, FwoGZXIvYXdz…)",
			Keywords: []string{"iqojb3jpz2lux2vj", "fwogzxivyxdz"},
			Regex:    `{b}(?P<s>(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdz)[A-Za-z0-9/+=]{60,})`, Before: 3, After: 4096,
			Example: "IQoJb3JpZ2luX2Vj" + fake(b64, 300, "aws-sts")},
		tok("gcp-api-key", "Google Cloud / Gemini API key", "AIza", b64url, 35, 35),
		tok("gcp-oauth-client-secret", "Google OAuth client secret", "GOCSPX-", b64url, 28, 28),
		tok("gcp-oauth-access-token", "Google OAuth access token", "ya29.", b64url, 30, 0),
		tok("gcp-oauth-refresh-token", "Google OAuth refresh token", "1//0", b64url, 40, 0),
		{Name: "gcp-service-account-key-id", Description: "private_key_id of a service-account JSON",
			Keywords: []string{"private_key_id"},
			Regex:    `(?i)private_key_id{q}{s}*:{s}*{q}(?P<s>[a-f0-9]{40})`, Before: 4, After: 80,
			Near: assign + `"'\\`, Within: 4,
			Example: `"private_key_id": "` + fake(hexLC, 40, "gcp-sa") + `"`},
		{Name: "azure-storage-account-key", Description: "Azure storage connection string AccountKey",
			Keywords: []string{"accountkey="}, Regex: `(?i)AccountKey=(?P<s>[A-Za-z0-9+/]{86}==)`, Before: 1, After: 110,
			Example: "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" + fake(b64, 86, "azure-st") + "==;EndpointSuffix=core.windows.net"},
		{Name: "azure-shared-access-key", Description: "Azure Service Bus / Event Hubs SharedAccessKey",
			Keywords: []string{"sharedaccesskey="}, Regex: `(?i)SharedAccessKey=(?P<s>[A-Za-z0-9+/]{42,43}=)`, Before: 1, After: 70,
			Example: "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=" + fake(b64, 43, "azure-sb") + "="},
		{Name: "azure-sas-signature", Description: "Azure SAS token signature (sig=)",
			Keywords: []string{"sig="}, Regex: `(?:[?&]|{u})sig=(?P<s>[A-Za-z0-9%+/]{30,}(?:%3D|=){0,2})`, Before: 8, After: 200,
			Example: "https://acme.blob.core.windows.net/c/f?sv=2022-11-02&sp=r&sig=" + fake(b64, 43, "azure-sas") + "%3D"},
		{Name: "azure-ad-client-secret", Description: "Azure AD (Entra) client secret (…Q~…)",
			Keywords: []string{"q~"},
			Regex:    `(?:^|[^A-Za-z0-9_~.-])(?P<s>[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})`, Before: 6, After: 40,
			Example: "client_secret: " + fake(alnum, 3, "aad1") + "8Q~" + fake(alnum+"_~.", 34, "aad")},
		tok("digitalocean-pat", "DigitalOcean personal access token", "dop_v1_", hexLC, 64, 64),
		tok("digitalocean-oauth-token", "DigitalOcean OAuth token", "doo_v1_", hexLC, 64, 64),
		tok("digitalocean-refresh-token", "DigitalOcean refresh token", "dor_v1_", hexLC, 64, 64),
		kv("heroku-api-key", "Heroku API key (a UUID) after a heroku key name", `heroku[a-z0-9_.-]{0,20}`, []string{"heroku"},
			`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`,
			"HEROKU_API_KEY="+fake(hexLC, 8, "hk1")+"-"+fake(hexLC, 4, "hk2")+"-4"+fake(hexLC, 3, "hk3")+"-a"+fake(hexLC, 3, "hk4")+"-"+fake(hexLC, 12, "hk5")),
		tok("heroku-api-key-v2", "Heroku platform key (HRKU-)", "HRKU-", b64url, 60, 60),
		kv("cloudflare-api-token", "Cloudflare API token after a cloudflare key name",
			`cloudflare[a-z_]*|cf_api_token|cf_api_key|cf_token`, []string{"cloudflare", "cf_api", "cf_token"},
			`[A-Za-z0-9_-]{37,40}`, "CLOUDFLARE_API_TOKEN="+fake(b64url, 40, "cf")),
		{Name: "cloudflare-origin-ca-key", Description: "Cloudflare origin CA key (v1.0-…)",
			Keywords: []string{"v1.0-"}, Regex: `{b}v1\.0-(?P<s>[a-f0-9]{24}-[a-f0-9]{146})`, Before: 3, After: 180,
			Example: "v1.0-" + fake(hexLC, 24, "cfo1") + "-" + fake(hexLC, 146, "cfo2")},
		kv("alibaba-access-key-secret", "Alibaba Cloud AccessKey secret after its key name",
			`alibaba_cloud_access_key_secret|access_?key_?secret`, []string{"access_key_secret", "accesskeysecret", "access-key-secret"},
			`[A-Za-z0-9]{30}`, "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+fake(alnum, 30, "ali")),

		// Code hosting.
		tok("github-pat", "GitHub classic personal access token", "ghp_", alnum, 36, 36),
		tok("github-fine-grained-pat", "GitHub fine-grained personal access token", "github_pat_", alnum+"_", 82, 82),
		tok("github-oauth-token", "GitHub OAuth access token", "gho_", alnum, 36, 36),
		tok("github-user-to-server-token", "GitHub App user-to-server token", "ghu_", alnum, 36, 36),
		tok("github-server-to-server-token", "GitHub App installation token", "ghs_", alnum, 36, 36),
		tok("github-refresh-token", "GitHub refresh token", "ghr_", alnum, 36, 76),
		tok("gitlab-pat", "GitLab personal/project/group access token", "glpat-", b64url+".", 20, 0),
		tok("gitlab-pipeline-trigger-token", "GitLab pipeline trigger token", "glptt-", hexLC, 40, 40),
		tok("gitlab-runner-token", "GitLab runner authentication token", "glrt-", b64url+".", 20, 0),
		tok("gitlab-deploy-token", "GitLab deploy token", "gldt-", b64url, 20, 0),
		tok("gitlab-feed-token", "GitLab feed token", "glft-", b64url, 20, 0),
		tok("gitlab-oauth-app-secret", "GitLab OAuth application secret", "gloas-", hexLC, 64, 64),
		tok("gitlab-cicd-job-token", "GitLab CI/CD job token", "glcbt-", b64url, 20, 0),
		tok("bitbucket-app-password", "Bitbucket app password / access token", "ATBB", alnum+"_=.-", 28, 0),
		tok("atlassian-api-token", "Atlassian (Jira, Confluence, Bitbucket) API token", "ATATT3", b64url+"=", 100, 0),

		// AI providers.
		{Name: "openai-api-key", Description: "OpenAI legacy API key (sk-…T3BlbkFJ…)",
			Keywords: []string{"t3blbkfj"}, Regex: `{b}sk-(?P<s>[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})`, Before: 32, After: 36,
			Example: "sk-" + fake(alnum, 20, "oai1") + "T3BlbkFJ" + fake(alnum, 20, "oai2")},
		tok("openai-project-key", "OpenAI project API key", "sk-proj-", b64url, 40, 0),
		tok("openai-service-account-key", "OpenAI service-account key", "sk-svcacct-", b64url, 40, 0),
		tok("openai-admin-key", "OpenAI admin key", "sk-admin-", b64url, 40, 0),
		{Name: "anthropic-api-key", Description: "Anthropic API / admin key (sk-ant-…)",
			Keywords: []string{"sk-ant-"}, Regex: `{b}sk-ant-(?:api|admin|sid|oat|ort)\d{2}-(?P<s>[A-Za-z0-9_-]{80,})`, Before: 3, After: 160,
			Example: "sk-ant-api03-" + fake(b64url, 93, "anthropic") + "AA"},
		tok("huggingface-token", "Hugging Face user access token", "hf_", letters, 34, 34),
		tok("huggingface-org-token", "Hugging Face organisation token", "api_org_", letters, 34, 34),
		tok("groq-api-key", "Groq API key", "gsk_", alnum, 52, 52),
		kv("cohere-api-key", "Cohere API key after a cohere key name", `cohere[a-z_]*|co_api_key`, []string{"cohere", "co_api_key"},
			`[A-Za-z0-9]{40}`, "COHERE_API_KEY="+fake(alnum, 40, "cohere")),
		tok("replicate-api-token", "Replicate API token", "r8_", alnum, 37, 37),
		tok("perplexity-api-key", "Perplexity API key", "pplx-", alnum, 48, 48),
		tok("xai-api-key", "xAI API key", "xai-", alnum, 80, 80),
		kv("mistral-api-key", "Mistral API key after a mistral key name", `mistral[a-z_]*`, []string{"mistral"},
			`[A-Za-z0-9]{32}`, "MISTRAL_API_KEY="+fake(alnum, 32, "mistral")),

		// Payments.
		{Name: "stripe-secret-key", Description: "Stripe secret key (sk_live_, sk_test_)",
			Keywords: []string{"sk_live_", "sk_test_"}, Regex: `{b}sk_(?:live|test)_(?P<s>[A-Za-z0-9]{24,})`, Before: 3, After: 256,
			Example: "sk_live_" + fake(alnum, 99, "stripe-sk")},
		{Name: "stripe-restricted-key", Description: "Stripe restricted key (rk_live_, rk_test_)",
			Keywords: []string{"rk_live_", "rk_test_"}, Regex: `{b}rk_(?:live|test)_(?P<s>[A-Za-z0-9]{24,})`, Before: 3, After: 256,
			Example: "rk_live_" + fake(alnum, 99, "stripe-rk")},
		tok("stripe-webhook-secret", "Stripe webhook signing secret", "whsec_", alnum+"+/=", 32, 0),
		tok("square-access-token", "Square access token", "EAAA", b64url, 60, 60),
		tok("square-oauth-secret", "Square OAuth application secret", "sq0csp-", b64url, 43, 43),
		tok("square-application-token", "Square personal access token (legacy)", "sq0atp-", b64url, 22, 22),
		tok("shopify-access-token", "Shopify Admin API access token", "shpat_", hexLC+"ABCDEF", 32, 32),
		tok("shopify-custom-app-token", "Shopify custom app access token", "shpca_", hexLC+"ABCDEF", 32, 32),
		tok("shopify-private-app-token", "Shopify private app password", "shppa_", hexLC+"ABCDEF", 32, 32),
		tok("shopify-shared-secret", "Shopify app shared secret", "shpss_", hexLC+"ABCDEF", 32, 32),
		{Name: "braintree-access-token", Description: "Braintree/PayPal production access token",
			Keywords: []string{"access_token$production$"},
			Regex:    `access_token\$production\$[0-9a-z]{16}\$(?P<s>[0-9a-f]{32})`, Before: 1, After: 80,
			Example: "access_token$production$" + fake(lowerAZ+digits, 16, "bt1") + "$" + fake(hexLC, 32, "bt2")},

		// Messaging.
		{Name: "slack-bot-token", Description: "Slack bot token (xoxb-)", Keywords: []string{"xoxb-"},
			Regex: `{b}xoxb-(?P<s>[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{20,34})`, Before: 3, After: 80,
			Example: "xoxb-" + fake(digits, 12, "sb1") + "-" + fake(digits, 13, "sb2") + "-" + fake(alnum, 24, "sb3")},
		{Name: "slack-user-token", Description: "Slack user or refresh token (xoxp-, xoxe-)", Keywords: []string{"xoxp-", "xoxe-"},
			Regex: `{b}xox[pe]-(?P<s>[0-9]{10,13}-[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{28,34})`, Before: 3, After: 100,
			Example: "xoxp-" + fake(digits, 12, "su1") + "-" + fake(digits, 12, "su2") + "-" + fake(digits, 13, "su3") + "-" + fake(hexLC, 32, "su4")},
		{Name: "slack-app-token", Description: "Slack app-level token (xapp-)", Keywords: []string{"xapp-"},
			Regex: `{b}xapp-(?P<s>\d-[A-Z0-9]{9,12}-\d{10,13}-[a-f0-9]{64})`, Before: 3, After: 110,
			Example: "xapp-1-" + fake(upper+digits, 11, "sa1") + "-" + fake(digits, 13, "sa2") + "-" + fake(hexLC, 64, "sa3")},
		{Name: "slack-config-token", Description: "Slack configuration token (xoxe.xoxp-)", Keywords: []string{"xoxe.xox"},
			Regex: `{b}xoxe\.xox[bp]-\d-(?P<s>[A-Za-z0-9]{140,})`, Before: 3, After: 300,
			Example: "xoxe.xoxp-1-" + fake(alnum, 146, "sc")},
		{Name: "slack-legacy-token", Description: "Slack legacy/workspace token (xoxa-, xoxr-, xoxs-)",
			Keywords: []string{"xoxa-", "xoxr-", "xoxs-"}, Regex: `{b}xox[ars]-(?P<s>[0-9A-Za-z-]{20,})`, Before: 3, After: 200,
			Example: "xoxs-" + fake(digits, 11, "sl1") + "-" + fake(alnum, 30, "sl2")},
		{Name: "slack-webhook-url", Description: "Slack incoming webhook / workflow URL", Keywords: []string{"hooks.slack.com"},
			Regex: `hooks\.slack\.com\\*/(?:services|workflows|triggers)\\*/(?P<s>[A-Za-z0-9+/_\\-]{20,})`, Before: 1, After: 200,
			Example: "https://hooks.slack.com/services/T" + fake(upper+digits, 10, "sw1") + "/B" + fake(upper+digits, 10, "sw2") + "/" + fake(alnum, 24, "sw3")},
		{Scan: true, Name: "discord-bot-token", Description: "Discord bot token (base64 id.timestamp.hmac) near the word discord",
			Keywords: []string{"discord"}, WordStart: true,
			Regex: `(?:^|[^A-Za-z0-9_.-]|\\[nrt])(?P<s>[MNOP][A-Za-z\d_-]{23,27}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,38})`, Before: 240, After: 480,
			Example: "DISCORD_BOT_TOKEN=MT" + fake(alnum, 24, "dc1") + "." + fake(b64url, 6, "dc2") + "." + fake(b64url, 38, "dc3")},
		{Name: "discord-webhook-url", Description: "Discord webhook URL", Keywords: []string{"webhooks"},
			Regex: `discord(?:app)?\.com\\*/api\\*/webhooks\\*/\d{17,20}\\*/(?P<s>[A-Za-z0-9_-]{60,68})`, Before: 40, After: 120,
			Near: "/", Within: 3,
			Example: "https://discord.com/api/webhooks/" + fake(digits, 18, "dw1") + "/" + fake(b64url, 68, "dw2")},
		{Name: "telegram-bot-token", Description: "Telegram bot token (id:AA…), masked whole", Keywords: []string{":aa"},
			Regex: `(?:^|[^0-9])(?P<s>\d{5,16}:AA[A-Za-z0-9_-]{32,34})`, Before: 18, After: 40,
			Example: "bot" + fake(digits, 10, "tg1") + ":AA" + fake(b64url, 33, "tg2")},
		{Name: "twilio-api-key", Description: "Twilio API key SID secret pair (SK…)", Keywords: []string{"sk"},
			Regex: `{b}SK(?P<s>[0-9a-fA-F]{32})\b`, Before: 3, After: 36, Near: hexLC + "ABCDEF", Within: 1,
			Example: "SK" + fake(hexLC, 32, "twilio")},
		kv("twilio-auth-token", "Twilio auth token after a twilio key name", `twilio[a-z_]*`, []string{"twilio"},
			`[a-f0-9]{32}`, "TWILIO_AUTH_TOKEN="+fake(hexLC, 32, "twilio-auth")),
		{Name: "sendgrid-api-key", Description: "SendGrid API key (SG.…)", Keywords: []string{"sg."},
			Regex: `{b}SG\.(?P<s>[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})`, Before: 3, After: 72,
			Example: "SG." + fake(b64url, 22, "sg1") + "." + fake(b64url, 43, "sg2")},
		tok("mailgun-api-key", "Mailgun API key (key-…)", "key-", hexLC, 32, 32),
		tok("mailgun-public-key", "Mailgun public validation key (pubkey-…)", "pubkey-", hexLC, 32, 32),
		kv("mailgun-key", "Mailgun private or signing key after a mailgun key name", `mailgun`, []string{"mailgun"},
			`(?:key-)?[a-f0-9]{32}(?:-[a-f0-9]{8}-[a-f0-9]{8})?`, "MAILGUN_API_KEY="+fake(hexLC, 32, "mg1")+"-"+fake(hexLC, 8, "mg2")+"-"+fake(hexLC, 8, "mg3")),
		{Name: "mailchimp-api-key", Description: "Mailchimp API key (…-usN)", Keywords: []string{"-us"},
			Regex: `{b}(?P<s>[0-9a-f]{32})-us\d{1,2}\b`, Before: 36, After: 8, Near: digits, Within: 1,
			Example: fake(hexLC, 32, "mailchimp") + "-us21"},

		// Package registries.
		tok("npm-token", "npm access token", "npm_", alnum, 36, 36),
		kv("npm-legacy-token", "legacy npm token (a UUID) after an npm key name", `npm`, []string{"npm"},
			`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`,
			"NPM_TOKEN="+fake(hexLC, 8, "npm1")+"-"+fake(hexLC, 4, "npm2")+"-4"+fake(hexLC, 3, "npm3")+"-a"+fake(hexLC, 3, "npm4")+"-"+fake(hexLC, 12, "npm5")),
		{Name: "npmrc-auth", Description: ".npmrc _authToken / _auth / _password", Value: true,
			Keywords: []string{"_authtoken", "_auth", "_password"},
			Regex:    `(?i)(?:^|[:\s]|\\n)_(?:authToken|auth|password){s}*={s}*(?P<s>[^\s"'\\]{8,})`, Before: 3, After: 300,
			Near: "=", Within: 16,
			Example: "//registry.npmjs.org/:_authToken=" + fake(b64url, 36, "npmrc")},
		tok("pypi-token", "PyPI API token", "pypi-AgEIcHlwaS5vcmc", b64url, 50, 0),
		tok("rubygems-api-key", "RubyGems API key", "rubygems_", hexLC, 48, 48),
		tok("nuget-api-key", "NuGet API key", "oy2", lowerAZ+digits, 43, 43),
		{Name: "docker-config-auth", Description: "docker config.json auths.*.auth (base64 user:password)",
			Keywords: []string{"auth"}, Regex: `{q}auth{q}{s}*:{s}*{q}(?P<s>[A-Za-z0-9+/]{12,}={0,2}){q}`, Before: 4, After: 400,
			Near: `"'\\`, Within: 2,
			Example: `{"auths":{"registry.example.com":{"auth":"` + fake(b64, 40, "docker") + `"}}}`},
		tok("docker-hub-pat", "Docker Hub personal access token", "dckr_pat_", b64url, 27, 27),

		// Observability.
		kv("datadog-api-key", "Datadog API key after its key name", `(?:dd|datadog)[_-]?api[_-]?key`,
			[]string{"dd_api_key", "datadog_api_key", "dd-api-key", "ddapikey", "datadog-api-key"},
			`[a-f0-9]{32}`, "DD_API_KEY="+fake(hexLC, 32, "dd-api")),
		kv("datadog-app-key", "Datadog application key after its key name", `(?:dd|datadog)[_-]?app(?:lication)?[_-]?key`,
			[]string{"dd_app", "datadog_app", "dd-app", "ddapp"},
			`[a-f0-9]{40}`, "DD_APP_KEY="+fake(hexLC, 40, "dd-app")),
		tok("newrelic-user-key", "New Relic user API key", "NRAK-", upper+digits, 27, 27),
		{Name: "newrelic-license-key", Description: "New Relic ingest license key (…NRAL)", Keywords: []string{"nral"},
			Regex: `{b}(?P<s>[a-f0-9]{36})NRAL\b`, Before: 40, After: 6, Example: fake(hexLC, 36, "nral") + "NRAL"},
		tok("newrelic-insert-key", "New Relic insert key", "NRII-", b64url, 32, 32),
		tok("newrelic-browser-key", "New Relic browser key", "NRJS-", hexLC, 19, 19),
		{Name: "sentry-dsn", Description: "Sentry DSN key", Keywords: []string{"sentry"},
			Regex: `https?:\\*/\\*/(?P<s>[a-f0-9]{32})(?::[a-f0-9]{32})?@[a-z0-9.-]*sentry`, Before: 100, After: 40,
			Example: "SENTRY_DSN=https://" + fake(hexLC, 32, "sentry") + "@o123456.ingest.sentry.io/4505"},
		tok("sentry-org-token", "Sentry organisation auth token", "sntrys_", alnum+"+/=_", 60, 0),
		tok("sentry-user-token", "Sentry user auth token", "sntryu_", hexLC, 64, 64),
		tok("grafana-cloud-token", "Grafana Cloud API token", "glc_", alnum+"+/", 32, 0),
		{Name: "grafana-service-account-token", Description: "Grafana service account token", Keywords: []string{"glsa_"},
			Regex: `{b}glsa_(?P<s>[A-Za-z0-9]{32}_[a-f0-9]{8})`, Before: 3, After: 48,
			Example: "glsa_" + fake(alnum, 32, "glsa") + "_" + fake(hexLC, 8, "glsa2")},

		// Secret managers and identity.
		tok("vault-service-token", "HashiCorp Vault service token", "hvs.", b64url, 24, 0),
		tok("vault-batch-token", "HashiCorp Vault batch token", "hvb.", b64url, 24, 0),
		{Name: "doppler-token", Description: "Doppler token (dp.pt., dp.st., …)",
			Keywords: []string{"dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."},
			Regex:    `{b}dp\.(?:pt|st|sa|ct|scim|audit)\.(?:[a-z0-9_-]{1,40}\.)?(?P<s>[A-Za-z0-9]{40,44})`, Before: 3, After: 100,
			Example: "dp.st.prd." + fake(alnum, 43, "doppler")},
		tok("1password-service-account-token", "1Password service account token", "ops_eyJ", b64url+"+/=", 100, 0),
		{Name: "1password-secret-key", Description: "1Password account secret key (A3-…)", Keywords: []string{"a3-"},
			Regex: `{b}A3-(?P<s>[A-Z0-9]{6}-[A-Z0-9]{6}-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5})\b`, Before: 3, After: 44,
			Example: "A3-" + fake(upper+digits, 6, "op1") + "-" + fake(upper+digits, 6, "op2") + "-" + fake(upper+digits, 5, "op3") + "-" + fake(upper+digits, 5, "op4") + "-" + fake(upper+digits, 5, "op5") + "-" + fake(upper+digits, 5, "op6")},
		{Name: "discord-bot-authorization", Description: "Discord bot token after Authorization: Bot",
			Keywords: []string{"bot "},
			Regex:    `(?i){b}bot[ \t]+(?P<s>[MNOP][A-Za-z\d_-]{23,27}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,38})`, Before: 3, After: 90,
			Example: "Authorization: Bot MT" + fake(alnum, 24, "dba1") + "." + fake(b64url, 6, "dba2") + "." + fake(b64url, 38, "dba3")},
		kv("okta-api-token", "Okta API token after an okta key name", `okta`, []string{"okta"},
			`00[A-Za-z0-9_=-]{40}`, "OKTA_API_TOKEN=00"+fake(b64url, 40, "okta")),
		{Scan: true, Name: "okta-token-near", Description: "Okta API token (00 + 40) near the word okta", Keywords: []string{"okta"}, WordStart: true,
			Regex: `(?:^|[^A-Za-z0-9_-]|\\[nrt])(?P<s>00[A-Za-z0-9_=-]{40})(?:[^A-Za-z0-9_=-]|$)`, Before: 160, After: 240,
			Example: "okta org dev-1.okta.com, token 00" + fake(b64url, 40, "okta-near")},
		{Name: "okta-ssws-header", Description: "Okta SSWS authorization header", Keywords: []string{"ssws"},
			Regex: `SSWS{s}+(?P<s>00[A-Za-z0-9_-]{40})`, Before: 1, After: 60, Example: "Authorization: SSWS 00" + fake(b64url, 40, "ssws")},
		tok("linear-api-key", "Linear API key", "lin_api_", alnum, 40, 40),
		{Name: "postman-api-key", Description: "Postman API key (PMAK-)", Keywords: []string{"pmak-"},
			Regex: `{b}PMAK-(?P<s>[a-f0-9]{24}-[a-f0-9]{34})`, Before: 3, After: 70,
			Example: "PMAK-" + fake(hexLC, 24, "pm1") + "-" + fake(hexLC, 34, "pm2")},
		tok("supabase-access-token", "Supabase personal access token", "sbp_", hexLC, 40, 40),
		tok("supabase-secret-key", "Supabase secret API key", "sb_secret_", b64url, 31, 0),
		{Name: "airtable-pat", Description: "Airtable personal access token", Keywords: []string{"pat"},
			Regex: `{b}pat(?P<s>[A-Za-z0-9]{14}\.[a-f0-9]{64})\b`, Before: 3, After: 90,
			Near: ".", Within: 16,
			Example: "pat" + fake(alnum, 14, "at1") + "." + fake(hexLC, 64, "at2")},
		{Name: "tailscale-key", Description: "Tailscale auth/API/OAuth key (tskey-)", Keywords: []string{"tskey-"},
			Regex: `{b}tskey-(?:auth|api|client|webhook|scim)-(?P<s>[A-Za-z0-9]{8,}-[A-Za-z0-9]{16,})`, Before: 3, After: 120,
			Example: "tskey-auth-" + fake(alnum, 12, "ts1") + "CNTRL-" + fake(alnum, 33, "ts2")},
		{Name: "mapbox-secret-token", Description: "Mapbox secret token (sk.eyJ…)", Keywords: []string{"sk.eyj"},
			Regex: `{b}sk\.(?P<s>eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,})`, Before: 3, After: 300,
			Example: "sk.eyJ" + fake(b64url, 60, "mb1") + "." + fake(b64url, 22, "mb2")},
		tok("age-secret-key", "age encryption secret key", "AGE-SECRET-KEY-1", bech32, 58, 58),
		{Name: "jwt", Description: "JSON Web Token (the header stays, payload and signature go)", Keywords: []string{"eyj"},
			Regex: `{b}eyJ[A-Za-z0-9_-]{8,}\.(?P<s>eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})`, Before: 3, After: 4096,
			Near: ".", Within: 4096,
			Example: "eyJhbGciOiJIUzI1NiJ9.eyJ" + fake(b64url, 40, "jwt1") + "." + fake(b64url, 43, "jwt2")},

		// Private keys, however they are written.
		{Name: "private-key", Description: "PEM/OpenSSH/PGP private key block, raw, \\n-escaped, double-escaped, numbered or on one line",
			Keywords: []string{"private key"},
			Regex:    `-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?P<s>(?s:.*?))-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----`,
			End:      "-----END",
			Before:   40, After: 48 << 10, MinRun: 24,
			Example: "-----BEGIN RSA PRIVATE KEY-----\n" + fake(b64, 64, "pem1") + "\n" + fake(b64, 64, "pem2") + "\n-----END RSA PRIVATE KEY-----"},
		{Name: "private-key-truncated", Description: "the start of a private key block whose end was cut off",
			Keywords: []string{"private key"},
			Regex:    `-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?P<s>[A-Za-z0-9+/=\s\\:,.]{16,})`,
			Before:   40, After: 48 << 10, MinRun: 24,
			Example: "-----BEGIN OPENSSH PRIVATE KEY-----\n" + fake(b64, 70, "pemt1") + "\n" + fake(b64, 70, "pemt2")},
		{Name: "putty-private-key", Description: "PuTTY .ppk private lines", Keywords: []string{"private-lines:"},
			Regex: `Private-Lines:{s}*\d+(?P<s>(?s:.*?))Private-MAC`, Before: 1, After: 16 << 10,
			Example: "PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\n" + fake(b64, 44, "ppk") + "\nPrivate-MAC: " + fake(hexLC, 64, "ppk2")},

		// Passwords in URLs, connection strings, headers and command lines.
		{Name: "url-password", Description: "password in a URL or connection string (scheme://user:password@host)", Placeholders: true,
			Keywords: []string{"://", `:\/\/`, `:\\/\\/`},
			Regex:    `{b}[a-zA-Z][a-zA-Z0-9+.-]{1,30}:\\*/\\*/(?P<u>[^\s:@/"'\\<>]{0,128}):(?P<s>(?:[^\s@/"'\\<>]|{u})+)@`, Before: 36, After: 420,
			Near: "@", Within: 420,
			Example: "DATABASE_URL=postgres://app:" + fake(alnum, 16, "pgpw") + "@db.internal:5432/app"},
		{Name: "jdbc-oracle-password", Description: "password in an Oracle thin JDBC URL (user/password@)", Placeholders: true,
			Keywords: []string{"jdbc:oracle"}, Regex: `(?i)jdbc:oracle:thin:[^/\s"'\\@]{1,64}/(?P<s>[^@\s"'\\]{1,128})@`, Before: 1, After: 260,
			Example: "jdbc:oracle:thin:scott/" + fake(alnum, 12, "oracle") + "@db:1521:ORCL"},
		{Name: "bearer-token", Description: "Authorization: Bearer token", Placeholders: true, Entropy: 3,
			Keywords: []string{"bearer"}, Regex: `(?i){b}bearer{s}+(?P<s>[A-Za-z0-9._~+/-]{12,}=*)`, Before: 3, After: 4096,
			Near: " \t\\", Within: 1,
			Example: "Authorization: Bearer " + fake(b64url, 40, "bearer")},
		{Name: "basic-auth-header", Description: "Authorization: Basic credentials", Placeholders: true,
			Keywords: []string{"authorization"},
			Regex:    `(?i)authorization{q}?{s}*[:=]{s}*{q}?{s}*basic{s}+(?P<s>[A-Za-z0-9+/]{8,}={0,2})`, Before: 1, After: 300,
			Near: assign + `"'\\`, Within: 4,
			Example: "curl -H 'Authorization: Basic " + fake(b64, 24, "basic") + "=' https://api.example.com"},
		{Name: "api-key-header", Description: "X-Api-Key, Private-Token and similar headers", Placeholders: true, Entropy: 2.5,
			Keywords: []string{"api-key", "x-auth-token", "private-token", "x-access-token", "ocp-apim-subscription-key", "x-functions-key"},
			Regex:    `(?i){b}(?:x-api-key|api-key|x-auth-token|private-token|x-access-token|x-goog-api-key|ocp-apim-subscription-key|x-functions-key)\\*["']?{s}*:{s}*\\*["']?{s}*(?P<s>[A-Za-z0-9._~+/=-]{12,})`,
			Before:   8, After: 300, Near: assign + `"'\\`, Within: 4,
			Example: "X-Api-Key: " + fake(alnum, 32, "xapikey")},
		{Name: "kubeconfig-client-key", Description: "kubeconfig client-key-data", Keywords: []string{"client-key-data"},
			Regex: `(?i)client-key-data{q}?{s}*:{s}*{q}?(?P<s>[A-Za-z0-9+/=]{20,})`, Before: 1, After: 8192,
			Example: "    client-key-data: " + fake(b64, 120, "kubecfg")},
		{Name: "kubernetes-secret-data", Description: "the data block of a Secret printed by kubectl (YAML)",
			Keywords: []string{"data:"}, Requires: []string{"kind: secret"}, WordStart: true,
			Regex: `data:[ \t]*(?P<s>(?:(?:\\+n|\r?\n)(?:[ \t]*\d{1,7}(?:\t|\\+t))?[ \t]+[A-Za-z0-9._-]+:[ \t]+[A-Za-z0-9+/]+={0,2})+)`, Before: 1, After: 16 << 10,
			Example: "apiVersion: v1\ndata:\n  password: " + fake(b64, 24, "k8s1") + "\n  username: YWRtaW4=\nkind: Secret\n"},
		{Name: "kubernetes-secret-data-json", Description: "the data object of a Secret printed by kubectl -o json",
			Keywords: []string{"data"}, Requires: []string{"secret", "kind"}, WordStart: true,
			Regex: `{q}data{q}{s}*:{s}*\{(?P<s>[^{}]{8,})\}`, Before: 4, After: 8400,
			Near: `"'\\`, Within: 2,
			Example: `{"apiVersion": "v1", "data": {"token": "` + fake(b64, 32, "k8sj") + `="}, "kind": "Secret"}`},
		{Name: "netrc-password", Description: ".netrc machine/login/password", Keywords: []string{"machine"},
			Regex: `(?i){b}machine{ws}+\S+?{ws}+login{ws}+\S+?{ws}+password{ws}+(?P<s>[^\s\\"']+)`, Before: 3, After: 600,
			Near: " \t\n\\", Within: 1,
			Example: "machine api.github.com login dev password " + fake(alnum, 20, "netrc")},
		{Name: "cli-password-flag", Description: "--password / --token / --secret flags on a command line", Value: true,
			Keywords: []string{"--pass", "--token", "--secret", "--api-key", "--apikey", "--client-secret", "--db-pass", "--admin-pass", "--auth-token"},
			Regex:    `(?i)--(?P<k>(?:db-|admin-|client-|api-|auth-)?(?:password|passwd|pass|token|secret|api-key|apikey|client-secret))(?:=|[ \t]+)\\*["']?(?P<s>(?:[^\s"'\\]|{u}){4,})`,
			Before:   8, After: 260, Near: "= \t", Within: 40,
			Example: "vault login --token=" + fake(alnum, 24, "cliflag")},
		{Name: "mysql-password-flag", Description: "mysql -pPASSWORD", Placeholders: true, Keywords: []string{"mysql"},
			Regex: `{b}mysql(?:dump|admin)?\b[^\n|;&]{0,200}?[ \t]-p(?P<s>(?:[^\s"'\\-]|{u})(?:[^\s"'\\]|{u}){2,})`, Before: 3, After: 500,
			Example: "mysql -u root -p" + fake(alnum, 14, "mysql") + " shop"},
		{Name: "curl-user-password", Description: "curl -u user:password", Placeholders: true, Keywords: []string{"curl"},
			Regex: `{b}curl\b[^\n|;&]{0,300}?[ \t](?:-u|--user)[ \t]+\\*["']?[^\s:"'\\]+:(?P<s>(?:[^\s"'\\]|{u})+)`, Before: 3, After: 800,
			Example: "curl -u deploy:" + fake(alnum, 18, "curlu") + " https://ci.example.com/api"},
		{Name: "sshpass-password", Description: "sshpass -p password", Placeholders: true, Keywords: []string{"sshpass"},
			Regex: `{b}sshpass[ \t]+-p[ \t]*\\*["']?(?P<s>(?:[^\s"'\\]|{u})+)`, Before: 3, After: 260,
			Example: "sshpass -p " + fake(alnum, 14, "sshpass") + " ssh deploy@host"},

		// Secrets known only by their key name: .env, YAML, JSON, TOML, shell.
		{Name: "password-assignment", Description: "password = … (.env, YAML, JSON, TOML, export, connection strings)",
			Value: true, MinLen: 6, Entropy: 2, KeyAnchored: true,
			Keywords: []string{"password", "passwd", "pwd", "passphrase"},
			Regex:    `(?i)(?P<k>[a-z0-9_.-]{0,40}(?:password|passwd|pwd|passphrase)[a-z0-9_.-]{0,40}){eq}(?P<s>(?:[^\s"'` + "`" + `\\,;<>(){}\[\]]|{u})+)`,
			Before:   48, After: 320, Near: assign, Within: 48,
			Example: "DB_PASSWORD=" + fake(alnum, 10, "pwassign") + "!x"},
		{Name: "secret-assignment", Description: "secret / token / api_key / client_secret … = high-entropy value",
			Value: true, MinLen: 10, Entropy: 3, KeyAnchored: true,
			Keywords: []string{"secret", "token", "api_key", "api-key", "apikey", "access_key", "access-key", "auth_key",
				"private_key", "client_secret", "credential", "signing_key", "encryption_key", "master_key"},
			Regex:  `(?i)(?P<k>[a-z0-9_.-]{0,40}(?:secret|token|api[_-]?key|access[_-]?key|auth[_-]?key|private[_-]?key|credential|signing[_-]?key|encryption[_-]?key|master[_-]?key)[a-z0-9_.-]{0,40}){eq}(?P<s>(?:[^\s"'` + "`" + `\\,;<>(){}\[\]]|{u})+)`,
			Before: 48, After: 520, Near: assign, Within: 48,
			Example: "export SERVICE_API_KEY=\"" + fake(b64url, 32, "secassign") + "\""},
	}
	rules = append(rules, providerRules()...)
	return append(rules, syntaxRules()...)
}
