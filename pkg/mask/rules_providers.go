package mask

import "strings"

// uuidRe is a UUID in any case: many providers issue keys shaped so.
const uuidRe = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`

func fakeUUID(seed string) string {
	return fake(hexLC, 8, seed+"1") + "-" + fake(hexLC, 4, seed+"2") + "-4" + fake(hexLC, 3, seed+"3") + "-a" +
		fake(hexLC, 3, seed+"4") + "-" + fake(hexLC, 12, seed+"5")
}

// named is a provider's secret known by a key name holding the provider's
// word (ASANA_CLIENT_SECRET, "typeformToken", <add key="TwilioToken" …>):
// the word starts an identifier part, the value has the provider's shape.
func named(name, desc, word string, value, example string) *Rule {
	var kws []string
	for _, w := range strings.Split(word, "|") {
		kws = append(kws, expand(w)...)
	}
	key := strings.ToUpper(strings.Trim(kws[0], "_-"))
	return kv(name, desc, word, kws, value, key+"_SECRET="+example)
}

// expand lists the literal spellings of a key word written with the
// separators [_-] and [_-]? (new[_-]?relic: newrelic, new_relic, new-relic).
func expand(w string) []string {
	for _, sep := range []struct {
		re   string
		alts []string
	}{{`[_-]?`, []string{"", "_", "-"}}, {`[_-]`, []string{"_", "-"}}} {
		if i := strings.Index(w, sep.re); i >= 0 {
			var out []string
			for _, a := range sep.alts {
				out = append(out, expand(w[:i]+a+w[i+len(sep.re):])...)
			}
			return out
		}
	}
	return []string{w}
}

// pre is a token with a fixed public prefix whose body has a known shape;
// the body is the secret part.
func pre(name, desc string, keywords []string, regex, example string) *Rule {
	return &Rule{Name: name, Description: desc, Keywords: keywords, Regex: regex, Before: 3, After: 512, Example: example}
}

// before lets a rule's match start further before its keyword.
func before(n int, r *Rule) *Rule {
	r.Before = n
	return r
}

// providerRules covers the provider families of the common public scanners'
// default lists, written from the providers' documented token formats.
func providerRules() []*Rule {
	return []*Rule{
		// Tokens that name themselves by a prefix.
		tok("adobe-client-secret", "Adobe OAuth client secret (p8e-)", "p8e-", alnum, 32, 32),
		tok("alibaba-access-key-id", "Alibaba Cloud AccessKey ID (LTAI…)", "LTAI", alnum, 20, 20),
		tok("artifactory-api-key", "JFrog Artifactory API key (AKCp…)", "AKCp", alnum, 69, 69),
		tok("artifactory-reference-token", "JFrog Artifactory reference token (cmVmd…)", "cmVmd", alnum, 59, 59),
		tok("clickhouse-cloud-secret", "ClickHouse Cloud API secret key (4b1d…)", "4b1d", alnum, 38, 38),
		tok("clojars-api-token", "Clojars deploy token", "CLOJARS_", alnum, 60, 60),
		tok("databricks-token", "Databricks personal access token (dapi…)", "dapi", hexLC, 32, 34),
		tok("databricks-oauth-secret", "Databricks OAuth secret (dose…)", "dose", hexLC, 32, 32),
		pre("defined-networking-api-token", "Defined Networking API token (dnkey-)", []string{"dnkey-"},
			`{b}dnkey-(?P<s>[A-Za-z0-9=_-]{26}-[A-Za-z0-9=_-]{52})`, "dnkey-"+fake(b64url, 26, "dn1")+"-"+fake(b64url, 52, "dn2")),
		pre("duffel-api-token", "Duffel API token", []string{"duffel_test_", "duffel_live_"},
			`{b}duffel_(?:test|live)_(?P<s>[A-Za-z0-9_=-]{43})`, "duffel_live_"+fake(b64url, 43, "duffel")),
		pre("dynatrace-api-token", "Dynatrace API token (dt0c01.…), both parts", []string{"dt0c01."},
			`{b}dt0c01\.(?P<s>[A-Za-z0-9]{24}\.[A-Za-z0-9]{64})`, "dt0c01."+fake(upper+digits, 24, "dt1")+"."+fake(upper+digits, 64, "dt2")),
		tok("easypost-api-key", "EasyPost production API key", "EZAK", alnum, 54, 54),
		tok("easypost-test-api-key", "EasyPost test API key", "EZTK", alnum, 54, 54),
		pre("facebook-page-access-token", "Facebook / Meta access token (EAAB…, EAAC…, EAAM…)",
			[]string{"eaab", "eaac", "eaad", "eaag", "eaai", "eaaj", "eaam", "eaan", "eaau"},
			`{b}EAA[BCDGIJMNU](?P<s>[A-Za-z0-9]{90,})`, "EAAM"+fake(alnum, 180, "fbpage")),
		pre("flutterwave-key", "Flutterwave secret, public or encryption key", []string{"flwseck", "flwpubk"},
			`{b}FLW(?:SECK|PUBK)(?:_TEST)?-(?P<s>[a-hA-H0-9]{32}-X|[a-hA-H0-9]{12})`, "FLWSECK_TEST-"+fake("abcdef0123456789", 32, "flw")+"-X"),
		pre("flyio-access-token", "Fly.io token (fo1_, fm1a_, fm1r_, fm2_)", []string{"fo1_", "fm1a_", "fm1r_", "fm2_"},
			`{b}(?:fo1_(?P<s>[A-Za-z0-9_-]{43})|fm[12][ar]?_[A-Za-z0-9+/]{100,}={0,3})`, "fo1_"+fake(b64url, 43, "fly")),
		tok("frameio-api-token", "Frame.io API token", "fio-u-", b64url+"=", 64, 64),
		pre("gitlab-misc-token", "GitLab incoming-mail, agent, SCIM and feature-flag tokens",
			[]string{"glimt-", "glagent-", "glsoat-", "glffct-", "glsa-"},
			`{b}gl(?:imt|agent|soat|ffct)-(?P<s>[A-Za-z0-9_-]{20,})`, "glagent-"+fake(b64url, 50, "glagent")),
		tok("gitlab-runner-registration-token", "GitLab runner registration token (GR1348941…)", "GR1348941", b64url, 20, 20),
		pre("gitlab-session-cookie", "GitLab session cookie", []string{"_gitlab_session="},
			`_gitlab_session=(?P<s>[0-9a-z]{32})`, "_gitlab_session="+fake(lowerAZ+digits, 32, "glsess")),
		pre("grafana-api-key", "Grafana API key (eyJrIjoi…)", []string{"eyjrijoi"},
			`{b}eyJrIjoi(?P<s>[A-Za-z0-9]{70,400}={0,3})`, "eyJrIjoi"+fake(alnum, 80, "grafana")),
		pre("harness-access-token", "Harness personal or service account token (pat./sat.)", []string{"pat.", "sat."},
			`{b}(?:pat|sat)\.(?P<s>[A-Za-z0-9_-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20})`,
			"pat."+fake(b64url, 22, "hr1")+"."+fake(alnum, 24, "hr2")+"."+fake(alnum, 20, "hr3")),
		{Name: "terraform-cloud-token", Description: "HashiCorp Terraform Cloud API token (….atlasv1.…), masked whole",
			Keywords: []string{"atlasv1"}, Regex: `(?:^|[^A-Za-z0-9]|\\[nrt])(?P<s>[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})`,
			Before: 20, After: 90, Example: fake(alnum, 14, "tf1") + ".atlasv1." + fake(b64url, 67, "tf2")},
		tok("heroku-api-key-v2-aa", "Heroku platform key (HRKU-AA…)", "HRKU-AA", b64url, 58, 58),
		tok("infracost-api-token", "Infracost API token", "ico-", alnum, 32, 32),
		pre("intra42-client-secret", "Intra 42 (42 School) OAuth client secret", []string{"s-s4t2ud-", "s-s4t2af-"},
			`{b}s-s4t2(?:ud|af)-(?P<s>[a-fA-F0-9]{64})`, "s-s4t2ud-"+fake(hexLC, 64, "intra42")),
		pre("jwt-base64", "a JSON Web Token encoded once more in base64 (ZXlK…)", []string{"zxlk"},
			`{b}(?P<s>ZXlK[A-Za-z0-9+/]{60,}={0,2})`, "ZXlKaGJHY2lPaUpJVXpJMU5pSjk"+fake(b64, 80, "jwtb64")),
		pre("langsmith-api-key", "LangSmith API key (lsv2_pt_, lsv2_sk_)", []string{"lsv2_"},
			`{b}lsv2_(?:pt|sk)_(?P<s>[a-f0-9]{32}_[a-f0-9]{10})`, "lsv2_pt_"+fake(hexLC, 32, "ls1")+"_"+fake(hexLC, 10, "ls2")),
		{Name: "maxmind-license-key", Description: "MaxMind license key (…_mmk)", Keywords: []string{"_mmk"},
			Regex: `{b}(?P<s>[A-Za-z0-9]{6}_[A-Za-z0-9]{29})_mmk\b`, Before: 40, After: 8,
			Example: fake(alnum, 6, "mm1") + "_" + fake(alnum, 29, "mm2") + "_mmk"},
		pre("microsoft-teams-webhook", "Microsoft Teams incoming webhook URL", []string{"webhook.office.com", "webhookb2", "incomingwebhook"},
			`(?i)webhookb2\\*/(?P<s>`+uuidRe+`@`+uuidRe+`\\*/IncomingWebhook\\*/[a-z0-9]{32}\\*/`+uuidRe+`)`,
			"https://acme.webhook.office.com/webhookb2/"+fakeUUID("t1")+"@"+fakeUUID("t2")+"/IncomingWebhook/"+fake(hexLC, 32, "t3")+"/"+fakeUUID("t4")),
		{Scan: true, Name: "microsoft-teams-workflow-url", Description: "Teams / Power Automate workflow trigger URL signature (sig=)",
			Keywords: []string{"logic.azure.com", "powerautomate"}, Regex: `(?:[?&]|{u})(?:amp;)?sig=(?P<s>[A-Za-z0-9_-]{30,})`, Before: 8, After: 600,
			Example: "https://prod-12.westeurope.logic.azure.com:443/workflows/" + fake(hexLC, 32, "wf1") + "/triggers/manual/paths/invoke?api-version=2016-06-01&sig=" + fake(b64url, 43, "wf2")},
		pre("notion-api-token", "Notion integration token (ntn_)", []string{"ntn_"},
			`{b}ntn_(?P<s>[0-9]{11}[A-Za-z0-9]{35})`, "ntn_"+fake(digits, 11, "ntn1")+fake(alnum, 35, "ntn2")),
		pre("notion-legacy-secret", "Notion legacy integration secret (secret_ + 43)", []string{"secret_"},
			`{b}secret_(?P<s>[A-Za-z0-9]{43})(?:[^A-Za-z0-9_]|$)`, "secret_"+fake(alnum, 43, "notion")),
		pre("octopus-deploy-api-key", "Octopus Deploy API key (API-…)", []string{"api-"},
			`(?:^|[^A-Za-z0-9_-]|\\[nrt])API-(?P<s>[A-Z0-9]{26})\b`, "API-"+fake(upper+digits, 26, "octo")),
		pre("openshift-user-token", "OpenShift user token (sha256~)", []string{"sha256~"},
			`{b}sha256~(?P<s>[A-Za-z0-9_-]{43})`, "sha256~"+fake(b64url, 43, "ocp")),
		pre("plaid-access-token", "Plaid access token", []string{"access-sandbox-", "access-development-", "access-production-"},
			`{b}access-(?:sandbox|development|production)-(?P<s>`+uuidRe+`)`, "access-production-"+fakeUUID("plaid")),
		pre("planetscale-token", "PlanetScale password or token (pscale_pw_, pscale_tkn_, pscale_oauth_)",
			[]string{"pscale_pw_", "pscale_tkn_", "pscale_oauth_"},
			`{b}pscale_(?:pw|tkn|oauth)_(?P<s>[A-Za-z0-9_=.-]{32,64})`, "pscale_pw_"+fake(b64url, 43, "pscale")),
		tok("prefect-api-token", "Prefect API key", "pnu_", alnum, 36, 36),
		tok("pulumi-access-token", "Pulumi access token", "pul-", hexLC, 40, 40),
		tok("readme-api-key", "ReadMe API key", "rdme_", lowerAZ+digits, 70, 70),
		tok("scalingo-api-token", "Scalingo API token", "tk-us-", b64url, 48, 48),
		pre("sendinblue-api-key", "Brevo (Sendinblue) API key (xkeysib-)", []string{"xkeysib-", "xsmtpsib-"},
			`{b}x(?:key|smtp)sib-(?P<s>[a-f0-9]{64}-[A-Za-z0-9]{16})`, "xkeysib-"+fake(hexLC, 64, "sib1")+"-"+fake(alnum, 16, "sib2")),
		pre("settlemint-token", "SettleMint personal, application or service access token", []string{"sm_pat_", "sm_aat_", "sm_sat_"},
			`{b}sm_(?:pat|aat|sat)_(?P<s>[A-Za-z0-9]{16})`, "sm_pat_"+fake(alnum, 16, "settlemint")),
		pre("shippo-api-token", "Shippo API token", []string{"shippo_live_", "shippo_test_"},
			`{b}shippo_(?:live|test)_(?P<s>[a-fA-F0-9]{40})`, "shippo_live_"+fake(hexLC, 40, "shippo")),
		before(40, pre("sidekiq-secret", "Sidekiq Pro/Enterprise gem credentials (user:pass@…contribsys.com or BUNDLE_… key)",
			[]string{"contribsys"}, `(?i)(?:contribsys__com{eq}|contribsys\.com[ \t]+|://)(?P<s>[a-f0-9]{8}:[a-f0-9]{8})`, "BUNDLE_ENTERPRISE__CONTRIBSYS__COM="+fake(hexLC, 8, "sq1")+":"+fake(hexLC, 8, "sq2"))),
		pre("slack-config-refresh-token", "Slack configuration refresh token (xoxe-1-…)", []string{"xoxe-"},
			`{b}xoxe-\d-(?P<s>[A-Za-z0-9]{140,})`, "xoxe-1-"+fake(upper+digits, 146, "slackref")),
		pre("slack-legacy-bot-token", "Slack legacy bot token (xoxb-id-secret)", []string{"xoxb-", "xoxo-"},
			`{b}xox[bo]-(?P<s>[0-9]{8,14}-[A-Za-z0-9]{18,26})\b`, "xoxb-"+fake(digits, 11, "slb1")+"-"+fake(alnum, 24, "slb2")),
		pre("sonarqube-token", "SonarQube / SonarCloud token (squ_, sqp_, sqa_)", []string{"squ_", "sqp_", "sqa_"},
			`{b}sq[upa]_(?P<s>[a-f0-9]{40})`, "squ_"+fake(hexLC, 40, "sonar")),
		pre("sourcegraph-access-token", "Sourcegraph access token (sgp_…)", []string{"sgp_"},
			`{b}sgp_(?:(?:[a-fA-F0-9]{16}|local)_)?(?P<s>[a-fA-F0-9]{40})`, "sgp_"+fake(hexLC, 16, "sg1")+"_"+fake(hexLC, 40, "sg2")),
		pre("stripe-prod-key", "Stripe key with a prod_ mode (sk_prod_, rk_prod_)", []string{"sk_prod_", "rk_prod_"},
			`{b}[sr]k_prod_(?P<s>[A-Za-z0-9]{10,99})`, "sk_prod_"+fake(alnum, 40, "stripeprod")),
		pre("typeform-api-token", "Typeform personal access token (tfp_)", []string{"tfp_"},
			`{b}tfp_(?P<s>[A-Za-z0-9_=.-]{40,70})`, "tfp_"+fake(b64url, 59, "typeform")),
		tok("yandex-api-key", "Yandex Cloud API key (AQVN…)", "AQVN", b64url, 35, 38),
		pre("yandex-iam-token", "Yandex IAM / OAuth token (t1.…)", []string{"t1."},
			`{b}t1\.(?P<s>[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]{86}={0,2})`, "t1."+fake(b64url, 20, "ya1")+"."+fake(b64url, 86, "ya2")),
		pre("django-secret-key", "Django secret key with its insecure- prefix", []string{"django-insecure-"},
			`django-insecure-(?P<s>[A-Za-z0-9!@#$%^&*(=+)_-]{30,})`, "SECRET_KEY = 'django-insecure-"+fake(alnum+"!@#$%^&*(-_=+)", 50, "django")+"'"),
		{Name: "ansible-vault", Description: "Ansible Vault encrypted body ($ANSIBLE_VAULT;…)", Keywords: []string{"$ansible_vault;"},
			Regex:  `\$ANSIBLE_VAULT;[0-9.]+;[A-Z0-9]+(?:;[A-Za-z0-9_-]+)?(?P<s>(?:(?:\\+n|\r?\n)[ \t]*[0-9a-f]{20,})+)`,
			Before: 1, After: 64 << 10, Example: "$ANSIBLE_VAULT;1.1;AES256\n" + fake(hexLC, 80, "av1") + "\n" + fake(hexLC, 80, "av2")},
		{Name: "azure-data-factory-ir-key", Description: "Azure Data Factory self-hosted integration runtime key (IR@…)", Keywords: []string{"ir@"},
			Regex: `{b}IR@(?P<s>` + uuidRe + `@[A-Za-z0-9-]{1,80}@[A-Za-z0-9-]{1,40}@[A-Za-z0-9+/=]{44})`, Before: 3, After: 220,
			Example: "IR@" + fakeUUID("adf") + "@acme-adf@eu@" + fake(b64, 43, "adf2") + "="},
		{Name: "kubernetes-bootstrap-token", Description: "kubeadm bootstrap token (id.secret) after --token or token:, masked whole",
			Keywords: []string{"--token", "token:", "token=", `token":`, `token\":`, "token-id"},
			Regex:    `(?i)(?:--token|token(?:-id)?\\*["']?)[ \t]*[:= ]?[ \t]*\\*["']?(?P<s>[a-z0-9]{6}\.[a-z0-9]{16})(?:[^A-Za-z0-9_.-]|$)`,
			Before:   2, After: 48, Entropy: 2.5, Near: ".", Within: 40,
			Example: "kubeadm join 10.0.0.5:6443 --token " + fake(lowerAZ+digits, 6, "kb1") + "." + fake(lowerAZ+digits, 16, "kb2")},
		{Scan: true, Name: "kubernetes-bootstrap-token-near", Description: "kubeadm bootstrap token (id.secret) near kubeadm or bootstrap",
			Keywords: []string{"bootstrap", "kubeadm"},
			Regex:    `(?:^|[^A-Za-z0-9_.-]|\\[nrt])(?P<s>[a-z0-9]{6}\.[a-z0-9]{16})(?:[^A-Za-z0-9_.-]|$)`, Before: 8, After: 300,
			Entropy: 2.5, Example: "bootstrapTokens:\n- token: " + fake(lowerAZ+digits, 6, "kb3") + "." + fake(lowerAZ+digits, 16, "kb4")},
		{Scan: true, Name: "vault-legacy-token", Description: "HashiCorp Vault legacy token (s. + 24) near a vault key name", Keywords: []string{"vault"}, WordStart: true,
			Regex: `(?:^|[^A-Za-z0-9_.-]|\\[nrt])s\.(?P<s>[A-Za-z0-9]{24})\b`, Before: 8, After: 120, Entropy: 3.5,
			Example: "VAULT_TOKEN=s." + fake(alnum, 24, "vaultlegacy")},
		{Name: "launchdarkly-key", Description: "LaunchDarkly SDK or API key (sdk-/api-/mob- + UUID)", Keywords: []string{"sdk-", "mob-"},
			Regex: `{b}(?:sdk|mob)-(?P<s>` + uuidRe + `)`, Before: 3, After: 48, Example: "LD_SDK_KEY=sdk-" + fakeUUID("ld")},
		{Name: "facebook-access-token", Description: "Facebook app access token (app id|secret)", Keywords: []string{"|", "%7c"},
			Regex: `(?i)(?:^|[^0-9])\d{15,16}(?:\||%7c)(?P<s>[0-9a-z_-]{27,40})`, Before: 20, After: 48, Entropy: 3,
			Near: digits + lowerAZ + upper, Within: 1,
			Example: "access_token=" + fake(digits, 15, "fbid") + "|" + fake(b64url, 32, "fbsec")},

		// Secrets known by the provider's word in their key name.
		named("adafruit-api-key", "Adafruit IO key", `adafruit`, `[A-Za-z0-9_-]{32}`, fake(b64url, 32, "adafruit")),
		named("adobe-client-id", "Adobe client id", `adobe`, `[a-f0-9]{32}`, fake(hexLC, 32, "adobe")),
		named("airtable-api-key", "Airtable legacy API key", `airtable`, `key[A-Za-z0-9]{14}|[A-Za-z0-9]{17}`, "key"+fake(alnum, 14, "airtable")),
		named("algolia-api-key", "Algolia admin/API key", `algolia`, `[A-Za-z0-9]{32}`, fake(alnum, 32, "algolia")),
		named("alibaba-secret-key", "Alibaba Cloud secret key", `alibaba|aliyun`, `[A-Za-z0-9]{30}`, fake(alnum, 30, "aliyun")),
		named("asana-secret", "Asana client id, client secret or PAT", `asana`, `[0-9]/[0-9]{16}:[A-Za-z0-9]{32}|[0-9]{16}|[A-Za-z0-9]{32}`, fake(alnum, 32, "asana")),
		named("atlassian-legacy-token", "Atlassian / Jira / Confluence API token", `atlassian|jira|confluence`, `[A-Za-z0-9]{24}`, fake(alnum, 24, "jira")),
		named("beamer-api-token", "Beamer API key", `beamer`, `b_[A-Za-z0-9=_-]{44}`, "b_"+fake(b64url, 44, "beamer")),
		named("bitbucket-client-secret", "Bitbucket OAuth client id or secret", `bitbucket`, `[A-Za-z0-9=_-]{32,64}`, fake(b64url, 64, "bitbucket")),
		named("bittrex-key", "Bittrex access or secret key", `bittrex`, `[A-Za-z0-9]{32}`, fake(alnum, 32, "bittrex")),
		named("cisco-meraki-api-key", "Cisco Meraki API key", `meraki`, `[0-9a-f]{40}`, fake(hexLC, 40, "meraki")),
		named("codecov-token", "Codecov upload or access token", `codecov`, `[A-Za-z0-9-]{32,36}`, fakeUUID("codecov")),
		named("coinbase-key", "Coinbase API key or secret", `coinbase`, `[A-Za-z0-9_-]{64}|[A-Za-z0-9]{16}`, fake(b64url, 64, "coinbase")),
		named("confluent-key", "Confluent Cloud API key or secret", `confluent`, `[A-Za-z0-9+/]{64}|[A-Za-z0-9]{16}`, fake(alnum, 64, "confluent")),
		named("contentful-token", "Contentful delivery or management token", `contentful`, `(?:CFPAT-)?[A-Za-z0-9=_-]{43}`, fake(b64url, 43, "contentful")),
		named("datadog-access-token", "Datadog key after a datadog key name", `datadog|dd[_-]`, `[a-z0-9]{32,40}`, fake(lowerAZ+digits, 40, "ddall")),
		named("discord-client-secret", "Discord client secret, API key or client id", `discord`, `[a-f0-9]{64}|[A-Za-z0-9=_-]{32}|[0-9]{17,19}`, fake(b64url, 32, "discord")),
		named("droneci-token", "Drone CI access token", `drone`, `[A-Za-z0-9]{32}`, fake(alnum, 32, "drone")),
		named("dropbox-token", "Dropbox API token", `dropbox`, `sl\.[A-Za-z0-9_=.-]{100,}|[A-Za-z0-9]{11}AAAAAAAAAA[A-Za-z0-9_=-]{43}|[A-Za-z0-9]{15}`, fake(alnum, 11, "dbx1")+"AAAAAAAAAA"+fake(b64url, 43, "dbx2")),
		named("etsy-token", "Etsy API key", `etsy`, `[A-Za-z0-9]{24}`, fake(alnum, 24, "etsy")),
		named("facebook-secret", "Facebook app secret", `facebook|fb[_-]app`, `[a-f0-9]{32}`, fake(hexLC, 32, "fbapp")),
		named("fastly-api-token", "Fastly API token", `fastly`, `[A-Za-z0-9=_-]{32}`, fake(b64url, 32, "fastly")),
		named("finicity-secret", "Finicity client secret or app key", `finicity`, `[a-f0-9]{32}|[A-Za-z0-9]{20}`, fake(hexLC, 32, "finicity")),
		named("finnhub-token", "Finnhub API token", `finnhub`, `[A-Za-z0-9]{20}`, fake(alnum, 20, "finnhub")),
		named("flickr-token", "Flickr API key", `flickr`, `[A-Za-z0-9]{32}`, fake(alnum, 32, "flickr")),
		named("freshbooks-token", "FreshBooks access token", `freshbooks`, `[A-Za-z0-9]{64}`, fake(alnum, 64, "freshbooks")),
		named("gitter-token", "Gitter access token", `gitter`, `[A-Za-z0-9_-]{40}`, fake(b64url, 40, "gitter")),
		named("gocardless-token", "GoCardless access token", `gocardless`, `(?:live|sandbox)_[A-Za-z0-9_=-]{40}`, "live_"+fake(b64url, 40, "gocardless")),
		named("hubspot-key", "HubSpot API key or private app token", `hubspot`, uuidRe+`|pat-[a-z0-9]{2,4}-`+uuidRe, fakeUUID("hubspot")),
		named("intercom-token", "Intercom access token", `intercom`, `[A-Za-z0-9=_-]{60}`, fake(b64url, 60, "intercom")),
		named("intra42-secret", "Intra 42 client secret after an intra key name", `intra42|intra[_-]`, `[a-f0-9]{64}`, fake(hexLC, 64, "intra")),
		named("jfrog-token", "JFrog / Artifactory API key or identity token", `jfrog|artifactory|bintray|xray`, `[A-Za-z0-9]{64,73}`, fake(alnum, 73, "jfrog")),
		named("kraken-key", "Kraken API key or private key", `kraken`, `[A-Za-z0-9/=_+-]{56,90}`, fake(b64, 88, "kraken")),
		named("kucoin-key", "KuCoin API key, secret or passphrase", `kucoin`, uuidRe+`|[a-f0-9]{24}`, fake(hexLC, 24, "kucoin")),
		named("launchdarkly-token", "LaunchDarkly access token", `launchdarkly|launch[_-]darkly|ld[_-]sdk`, `(?:api-|sdk-)?[A-Za-z0-9=_-]{36,40}`, fake(b64url, 40, "ldark")),
		named("linear-client-secret", "Linear OAuth client secret", `linear`, `[a-f0-9]{32}`, fake(hexLC, 32, "linear")),
		named("linkedin-secret", "LinkedIn client id or secret", `linkedin|linked[_-]in`, `[A-Za-z0-9]{16}|[A-Za-z0-9]{14}`, fake(alnum, 16, "linkedin")),
		named("lob-api-key", "Lob API key", `lob`, `(?:live|test)_(?:pub_)?[a-f0-9]{31,35}`, "live_"+fake(hexLC, 35, "lob")),
		named("looker-secret", "Looker client id or secret", `looker`, `[A-Za-z0-9]{20,24}`, fake(alnum, 24, "looker")),
		named("mailchimp-key", "Mailchimp API key after a mailchimp key name", `mailchimp`, `[a-f0-9]{32}-us\d{1,2}`, fake(hexLC, 32, "mailchimpkv")+"-us12"),
		named("mattermost-token", "Mattermost access token", `mattermost`, `[A-Za-z0-9]{26}`, fake(alnum, 26, "mattermost")),
		named("messagebird-key", "MessageBird access key or client id", `messagebird|message[_-]bird`, uuidRe+`|[A-Za-z0-9]{25}`, fake(alnum, 25, "msgbird")),
		named("netlify-token", "Netlify access token", `netlify`, `(?:nfp_)?[A-Za-z0-9=_-]{40,46}`, fake(b64url, 43, "netlify")),
		named("newrelic-key", "New Relic key after a new relic key name", `new[_-]?relic`, `[A-Za-z0-9]{64}|[a-f0-9]{40}`, fake(hexLC, 40, "newrelickv")),
		named("nytimes-token", "New York Times API key", `nytimes|new[_-]?york[_-]?times`, `[A-Za-z0-9=_-]{32}`, fake(b64url, 32, "nyt")),
		named("plaid-secret", "Plaid client id or secret", `plaid`, `[a-z0-9]{30}|[a-z0-9]{24}`, fake(lowerAZ+digits, 30, "plaid")),
		named("privateai-token", "Private AI API key", `private[_-]?ai`, `[A-Za-z0-9]{32}`, fake(alnum, 32, "privateai")),
		named("rapidapi-key", "RapidAPI key", `rapidapi|x[_-]rapidapi`, `[A-Za-z0-9_-]{50}`, fake(b64url, 50, "rapidapi")),
		named("sendbird-token", "Sendbird API token or app id", `sendbird`, `[a-f0-9]{40}|`+uuidRe, fake(hexLC, 40, "sendbird")),
		named("sentry-access-token", "Sentry legacy auth token", `sentry`, `[a-f0-9]{64}`, fake(hexLC, 64, "sentrykv")),
		named("snyk-token", "Snyk API token", `snyk`, uuidRe, fakeUUID("snyk")),
		named("sonar-token", "Sonar token after a sonar key name", `sonar`, `(?:sq[upa]_)?[A-Za-z0-9=_-]{40}`, fake(hexLC, 40, "sonarkv")),
		named("sourcegraph-token", "Sourcegraph token after a sourcegraph key name", `sourcegraph|src[_-]access`, `[a-f0-9]{40}`, fake(hexLC, 40, "srcgraph")),
		named("squarespace-token", "Squarespace API key", `squarespace`, uuidRe, fakeUUID("squarespace")),
		named("sumologic-key", "Sumo Logic access id or key", `sumo`, `su[A-Za-z0-9]{12}|[A-Za-z0-9]{64}`, fake(alnum, 64, "sumo")),
		named("telegram-token", "Telegram bot token after a telegram key name", `telegram|tg[_-]bot`, `[0-9]{5,16}:A[A-Za-z0-9_-]{34}`, fake(digits, 10, "tgkv")+":AA"+fake(b64url, 33, "tgkv2")),
		named("travisci-token", "Travis CI access token", `travis`, `[A-Za-z0-9]{22}`, fake(alnum, 22, "travis")),
		named("trello-key", "Trello API key or token", `trello`, `[A-Za-z0-9]{64}|[A-Za-z0-9]{32}`, fake(alnum, 32, "trello")),
		named("twitch-token", "Twitch API token", `twitch`, `[A-Za-z0-9]{30}`, fake(lowerAZ+digits, 30, "twitch")),
		named("twitter-secret", "Twitter / X API key, secret or access token", `twitter|x[_-]api`,
			`A{22}[A-Za-z0-9%]{80,100}|[0-9]{15,25}-[A-Za-z0-9]{20,40}|[A-Za-z0-9]{50}|[A-Za-z0-9]{45}|[A-Za-z0-9]{25}`, fake(alnum, 50, "twitter")),
		named("typeform-token", "Typeform token after a typeform key name", `typeform`, `(?:tfp_)?[A-Za-z0-9_=.-]{40,70}`, "tfp_"+fake(b64url, 59, "typeformkv")),
		named("yandex-token", "Yandex key after a yandex key name", `yandex|yc[_-]`, `YC[A-Za-z0-9_-]{38}|AQVN[A-Za-z0-9_-]{35,38}|t1\.[A-Za-z0-9_.=-]{80,}`, "YC"+fake(b64url, 38, "yandexkv")),
		named("zendesk-token", "Zendesk API token", `zendesk`, `[A-Za-z0-9]{40}`, fake(alnum, 40, "zendesk")),
		named("discord-bot-token-named", "Discord bot token after a discord key name", `discord`, `[MNOP][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}`,
			"MT"+fake(alnum, 24, "dcn1")+"."+fake(b64url, 6, "dcn2")+"."+fake(b64url, 38, "dcn3")),
	}
}
