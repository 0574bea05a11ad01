package corpus

import (
	"fmt"
	"strings"
)

// more secret families: every provider family of the common scanners'
// default lists, and the assignment syntaxes issue 12 lists. Each value is
// made up here from the seed; the text around it is how people write it.
var more = []template{
	pre("settlemint", "sm_pat_", alnum, 16, "SETTLEMINT_ACCESS_TOKEN=%s"),
	pre("settlemint-app", "sm_aat_", alnum, 16, `settlemintToken: "%s"`),
	pre("typeform", "tfp_", b64url, 59, "const typeformToken = '%s';"),
	pre("sourcegraph", "sgp_", hexLC, 40, "export SRC_ACCESS_TOKEN=%s"),
	pre("intra42", "s-s4t2ud-", hexLC, 64, "INTRA_CLIENT_SECRET=%s"),
	pre("databricks", "dapi", hexLC, 32, "databricks configure --token <<< %s"),
	pre("prefect", "pnu_", alnum, 36, "prefect cloud login -k %s"),
	pre("pulumi", "pul-", hexLC, 40, "PULUMI_ACCESS_TOKEN=%s pulumi up"),
	pre("readme", "rdme_", lower+digits, 70, "README_API_KEY: %s"),
	pre("scalingo", "tk-us-", b64url, 48, "scalingo login --api-token %s"),
	pre("shippo", "shippo_live_", hexLC, 40, "shippo.api_key = '%s'"),
	pre("easypost", "EZAK", alnum, 54, "client = EasyPost::Client.new(api_key: '%s')"),
	pre("infracost", "ico-", alnum, 32, "infracost configure set api_key %s"),
	pre("frameio", "fio-u-", b64url, 64, "FRAMEIO_TOKEN=%s"),
	pre("clojars", "CLOJARS_", lower+digits, 60, ":password \"%s\""),
	pre("duffel", "duffel_live_", b64url, 43, "Authorization: Bearer %s"),
	pre("planetscale", "pscale_pw_", b64url, 43, "DATABASE_URL=mysql://u1:%s@aws.connect.psdb.cloud/app"),
	pre("openshift", "sha256~", b64url, 43, "oc login --token=%s --server=https://api.c1:6443"),
	pre("sonarqube", "squ_", hexLC, 40, "sonar-scanner -Dsonar.token=%s"),
	pre("artifactory", "AKCp", alnum, 69, "X-JFrog-Art-Api: %s"),
	pre("alibaba-id", "LTAI", alnum, 20, "access_key_id: %s"),
	pre("adobe-secret", "p8e-", alnum, 32, "ADOBE_CLIENT_SECRET=%s"),
	pre("gitlab-agent", "glagent-", b64url, 50, "--set config.token=%s"),
	pre("linear", "lin_api_", alnum, 40, "LINEAR_API_KEY=%s"),
	pre("sentry-user", "sntryu_", hexLC, 64, "SENTRY_AUTH_TOKEN=%s"),
	pre("flyio", "fo1_", b64url, 43, "FLY_API_TOKEN=%s"),
	pre("yandex", "AQVN", b64url, 37, "yc config set token %s"),
	pre("mailgun", "key-", hexLC, 32, "auth=('api', 'key-%s')"),
	pre("facebook-page", "EAAM", alnum, 150, "page_access_token = \"%s\""),
	pre("heroku-v2", "HRKU-AA", b64url, 58, "HEROKU_API_KEY=%s"),
	pre("newrelic", "NRAK-", upper+digits, 27, "NEW_RELIC_API_KEY=%s"),
	pre("huggingface-org", "api_org_", upper+lower, 34, "token=%s"),
	pre("sendinblue", "xkeysib-", hexLC, 64, "BREVO_KEY=%s-"+"Ab3De5Gh7Jk9Mn2P"),
	pre("github-oauth", "gho_", alnum, 36, "oauth_token: %s"),
	pre("gitlab-runner", "glrt-", b64url, 20, "--token %s"),
	pre("doppler", "dp.st.prd.", alnum, 43, "DOPPLER_TOKEN=%s"),
	pre("stripe-restricted", "rk_live_", alnum, 40, "STRIPE_KEY=%s"),
	pre("notion-legacy", "secret_", alnum, 43, "NOTION_KEY=%s"),
	{"notion", func(g gen) (string, string) {
		s := g.s(digits, 11) + g.s(alnum, 35)
		return "notion = Client(auth=\"ntn_" + s + "\")", s
	}},
	{"dynatrace", func(g gen) (string, string) {
		s := g.s(upper+digits, 24) + "." + g.s(upper+digits, 64)
		return "curl -H \"Authorization: Api-Token dt0c01." + s + "\" https://abc.live.dynatrace.com/api/v2/metrics", s
	}},
	{"terraform", func(g gen) (string, string) {
		s := g.s(alnum, 14) + ".atlasv1." + g.s(b64url, 67)
		return "credentials \"app.terraform.io\" {\n  token = \"" + s + "\"\n}", s
	}},
	{"asana", func(g gen) (string, string) {
		s := g.s(alnum, 32)
		return "ASANA_CLIENT_SECRET=" + s, s
	}},
	{"discord-client-secret", func(g gen) (string, string) {
		s := g.s(b64url, 32)
		return "discord:\n  client_id: " + g.s(digits, 18) + "\n  client_secret: " + s, s
	}},
	{"discord-bot", func(g gen) (string, string) {
		s := "MT" + g.s(alnum, 24) + "." + g.s(b64url, 6) + "." + g.s(b64url, 38)
		return "import discord\n\nintents = discord.Intents.default()\nclient = discord.Client(intents=intents)\n\n@client.event\nasync def on_ready():\n    print('ready')\n\nclient.run('" + s + "')", s
	}},
	{"teams-webhook", func(g gen) (string, string) {
		u := func() string {
			return g.s(hexLC, 8) + "-" + g.s(hexLC, 4) + "-" + g.s(hexLC, 4) + "-" + g.s(hexLC, 4) + "-" + g.s(hexLC, 12)
		}
		s := u() + "@" + u() + "/IncomingWebhook/" + g.s(hexLC, 32) + "/" + u()
		return "TEAMS_WEBHOOK_URL=https://acme.webhook.office.com/webhookb2/" + s, s
	}},
	{"nuget", func(g gen) (string, string) {
		s := g.s(pwchar, 18)
		return "<packageSourceCredentials>\n  <github>\n    <add key=\"Username\" value=\"ci-bot\" />\n    <add key=\"ClearTextPassword\" value=\"" + s + "\" />\n  </github>\n</packageSourceCredentials>", s
	}},
	{"okta", func(g gen) (string, string) {
		s := g.s(b64url, 40)
		return "okta:\n  client:\n    orgUrl: https://dev-1.okta.com\n    token: 00" + s, s
	}},
	{"mailgun-new", func(g gen) (string, string) {
		s := g.s(hexLC, 32) + "-" + g.s(hexLC, 8) + "-" + g.s(hexLC, 8)
		return "MAILGUN_API_KEY=" + s, s
	}},
	{"bootstrap-token", func(g gen) (string, string) {
		s := g.s(lower+digits, 6) + "." + g.s(lower+digits, 16)
		return "kubeadm join 10.0.0.5:6443 --token " + s + " --discovery-token-ca-cert-hash sha256:" + g.s(hexLC, 64), s
	}},
	{"npm-legacy", func(g gen) (string, string) {
		s := g.s(hexLC, 8) + "-" + g.s(hexLC, 4) + "-4" + g.s(hexLC, 3) + "-a" + g.s(hexLC, 3) + "-" + g.s(hexLC, 12)
		return "//registry.npmjs.org/:_authToken=" + s, s
	}},
	{"django", func(g gen) (string, string) {
		s := g.s(lower+digits+"!@#$%^&*(-_=+)", 50)
		return "SECRET_KEY = 'django-insecure-" + s + "'", s
	}},
	{"airtable-pat", func(g gen) (string, string) {
		s := g.s(alnum, 14) + "." + g.s(hexLC, 64)
		return "AIRTABLE_API_KEY=pat" + s, s
	}},
	{"aws-session-token", func(g gen) (string, string) {
		s := "IQoJb3JpZ2luX2Vj" + g.s(b64, 400)
		return `{"Credentials": {"AccessKeyId": "ASIA` + g.s(upper+"234567", 16) + `", "SessionToken": "` + s + `"}}`, s
	}},
	{"telegram-whole", func(g gen) (string, string) {
		s := g.s(digits, 10) + ":AA" + g.s(b64url, 33)
		return "TELEGRAM_BOT_TOKEN=" + s, s
	}},
	{"langsmith", func(g gen) (string, string) {
		s := g.s(hexLC, 32) + "_" + g.s(hexLC, 10)
		return "LANGSMITH_API_KEY=lsv2_pt_" + s, s
	}},
	{"harness", func(g gen) (string, string) {
		s := g.s(b64url, 22) + "." + g.s(alnum, 24) + "." + g.s(alnum, 20)
		return "x-api-key: pat." + s, s
	}},
	{"ansible-vault", func(g gen) (string, string) {
		s := g.s(hexLC, 80) + "\n" + g.s(hexLC, 80)
		return "db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  " + strings.ReplaceAll(s, "\n", "\n  "), s[:80]
	}},
	{"sidekiq", func(g gen) (string, string) {
		s := g.s(hexLC, 8) + ":" + g.s(hexLC, 8)
		return "bundle config --local enterprise.contribsys.com " + s + "\nBUNDLE_ENTERPRISE__CONTRIBSYS__COM=" + s, s
	}},
	{"maxmind", func(g gen) (string, string) {
		s := g.s(alnum, 6) + "_" + g.s(alnum, 29)
		return "MAXMIND_LICENSE_KEY=" + s + "_mmk", s
	}},
	{"provider-named", func(g gen) (string, string) {
		words := []string{"ALGOLIA_ADMIN_KEY", "CODECOV_TOKEN", "FASTLY_API_TOKEN", "NETLIFY_AUTH_TOKEN", "MATTERMOST_TOKEN", "ZENDESK_API_TOKEN", "TRAVIS_TOKEN", "TWITCH_CLIENT_SECRET", "FLICKR_KEY", "ETSY_KEY"}
		lens := []int{32, 32, 32, 43, 26, 40, 22, 30, 32, 24}
		i := g.r.IntN(len(words))
		s := g.s(alnum, lens[i])
		return words[i] + "=" + s, s
	}},

	// Assignment syntaxes.
	{"php-append", func(g gen) (string, string) {
		s := g.s(alnum, 32)
		return "<?php\n$xToken = '';\n$xToken .= \"" + s + "\";\n", s
	}},
	{"make-assign", func(g gen) (string, string) {
		s := g.s(alnum, 32)
		op := []string{":=", "::=", ":::=", "?="}[g.r.IntN(4)]
		return "DEPLOY_TOKEN " + op + " " + s + "\n\ndeploy:\n\t./deploy.sh", s
	}},
	{"xml-element", func(g gen) (string, string) {
		s := g.s(alnum, 28)
		return "<configuration>\n  <xToken>" + s + "</xToken>\n</configuration>", s
	}},
	{"xml-password", func(g gen) (string, string) {
		s := g.s(pwchar, 14)
		return "<server>\n  <id>nexus</id>\n  <username>deploy</username>\n  <password>" + s + "</password>\n</server>", s
	}},
	{"xml-attribute", func(g gen) (string, string) {
		s := g.s(alnum, 32)
		return "<appSettings>\n  <add key=\"PaymentApiToken\" value=\"" + s + "\" />\n</appSettings>", s
	}},
	{"java-setproperty", func(g gen) (string, string) {
		s := g.s(alnum, 32)
		return "System.setProperty(\"X_TOKEN\", \"" + s + "\");", s
	}},
	{"go-var", func(g gen) (string, string) {
		s := g.s(alnum, 32)
		return "var xToken string = \"" + s + "\"", s
	}},
	{"pass-key", func(g gen) (string, string) {
		s := g.s(pwchar, 14)
		key := []string{"DB_PASS=", "SMTP_PASS=", "  pass: ", "REDIS_PASS: "}[g.r.IntN(4)]
		return key + s, s
	}},
	{"chat-password", func(g gen) (string, string) {
		s := g.s(alnum, 10) + "#7"
		return "ok, my password is " + s + " if you need to log in", s
	}},
	{"docker-login", func(g gen) (string, string) {
		s := g.s(alnum, 20)
		return "docker login -u ci -p " + s + " registry.acme.io", s
	}},
	{"redis-cli", func(g gen) (string, string) {
		s := g.s(alnum, 20)
		return "redis-cli -h cache -a " + s + " INFO keyspace", s
	}},
	{"az-login", func(g gen) (string, string) {
		s := g.s(pwchar, 16)
		return "az login -u ops@acme.io -p " + s, s
	}},
	{"ldapsearch", func(g gen) (string, string) {
		s := g.s(alnum, 14)
		return "ldapsearch -x -D \"cn=admin,dc=acme,dc=io\" -w " + s + " -b dc=acme,dc=io", s
	}},
	{"python-environ", func(g gen) (string, string) {
		s := g.s(alnum, 32)
		return "os.environ[\"OPENAI_TOKEN\"] = \"" + s + "\"", s
	}},
}

// moreDecoys are look-alikes issue 12 found damaged, and common text near
// the new rules' keywords.
var moreDecoys = []func(g gen) string{
	func(g gen) string {
		return "-----BEGIN RSA PRIVATE KEY-----\n<your private key here>\n-----END RSA PRIVATE KEY-----"
	},
	func(g gen) string {
		return "-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----"
	},
	func(g gen) string {
		return "-----BEGIN PRIVATE KEY-----\n(contents of ~/.ssh/id_rsa)\n-----END PRIVATE KEY-----"
	},
	func(g gen) string {
		return `"SecretArn": "arn:aws:secretsmanager:eu-west-1:` + g.s(digits, 12) + `:secret:prod/db-` + g.s(alnum, 6) + `"`
	},
	func(g gen) string { return "role_arn = arn:aws:iam::" + g.s(digits, 12) + ":role/deploy-token-rotator" },
	func(g gen) string { return "password: [PASSWORD]" },
	func(g gen) string { return "postgres://app:[PASSWORD]@db.internal:5432/app" },
	func(g gen) string { return "Slack user tokens look like xoxp-1234567890" },
	func(g gen) string {
		return "withCredentials([usernamePassword(credentialsId: '" + g.s(hexLC, 8) + "-" + g.s(hexLC, 4) + "-4" + g.s(hexLC, 3) + "-a" + g.s(hexLC, 3) + "-" + g.s(hexLC, 12) + "', passwordVariable: 'PASS', usernameVariable: 'USER')])"
	},
	func(g gen) string { return "amqp://guest:guest@localhost:5672/" },
	func(g gen) string { return "metadata:\n  name: web-" + g.s(lower, 5) + "\n  labels:\n    app: web" },
	func(g gen) string { return `rookTable: "00` + g.s(b64url, 40) + `"` },
	func(g gen) string { return "implementation 'io.jsonwebtoken:jjwt-api:0.11.5'" },
	func(g gen) string { return "self_hf_" + g.s(upper+lower, 34) + " = None" },
	func(g gen) string { return `"max_tokens": 4096, "input_tokens": ` + fmt.Sprint(g.r.IntN(9000)) },
	func(g gen) string { return `<add key="ClearTextPassword" value="%NUGET_PASSWORD%" />` },
	func(g gen) string { return "psql -h db -p 5432 -U app -d shop" },
	func(g gen) string { return "the password is required and must be rotated every 90 days" },
	func(g gen) string { return "export DB_PASS=$(vault kv get -field=password secret/db)" },
	func(g gen) string { return "<tokenType>Bearer</tokenType>" },
	func(g gen) string { return "API-VERSION: 2024-06-01" },
	func(g gen) string { return "docker login -u ci --password-stdin < ~/.docker-pass" },
	func(g gen) string { return "redis-cli -h cache -a $REDIS_PASSWORD ping" },
}
