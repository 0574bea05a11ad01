package mask

// secretWord is a key word that says a value is a secret, for the syntaxes
// below whose key is not followed by an assignment operator.
const secretWord = `(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey|credential|access[_-]?key|private[_-]?key|auth[_-]?key|connection[_-]?string)`

var secretKeywords = []string{"password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "api_key", "api-key",
	"credential", "access_key", "accesskey", "private_key", "auth_key", "connectionstring"}

// value is what a key-named secret may be made of: no white space, quotes,
// separators or brackets, but \u0026-style escapes.
const value = "(?:[^\\s\"'`\\\\,;<>(){}\\[\\]]|{u})"

// syntaxRules recognise secrets by how they are written rather than by their
// shape: XML elements and attributes, setter calls, short key names, chat
// and command-line flags of tools that take a password.
func syntaxRules() []*Rule {
	return []*Rule{
		{Name: "xml-secret-element", Description: "<password>…</password>, <apiToken>…</apiToken>", Value: true, MinLen: 6, Entropy: 2,
			Keywords: secretKeywords,
			Regex:    `(?:<|\\*u003c)(?P<k>[A-Za-z0-9_.:-]{0,40}(?i:` + secretWord + `)[A-Za-z0-9_.-]{0,40})(?:[ \t][^<>\\]*)?(?:>|\\*u003e)(?P<s>(?:[^<\s\\]|\\+u00(?:26|3e))+)(?:<|\\*u003c)/`,
			Before:   54, After: 640, Near: ">\\", Within: 48, Opener: []string{"<", "u003c"},
			Example: "<settings><apiToken>" + fake(alnum, 28, "xmlel") + "</apiToken></settings>"},
		{Name: "xml-key-value", Description: `<add key="ClearTextPassword" value="…"/> (NuGet, .NET appSettings)`, Value: true, MinLen: 4, Entropy: 1.5,
			Keywords: []string{"key="},
			Regex:    `(?i){b}key{s}*={s}*{q}(?P<k>[^"'\\<>]{0,60}?` + secretWord + `[^"'\\<>]{0,60}){q}{s}+value{s}*={s}*{q}(?P<s>(?:[^"'\\<>]|{u})+){q}`,
			Before:   3, After: 700, Near: `"'\\`, Within: 3,
			Example: `<packageSourceCredentials><feed><add key="Username" value="ci" /><add key="ClearTextPassword" value="` + fake(pwChars, 16, "nuget") + `" /></feed></packageSourceCredentials>`},
		{Name: "setter-call", Description: `System.setProperty("X_TOKEN", "…"), os.Setenv, putenv, map.put with a secret key`,
			Value: true, MinLen: 6, Entropy: 2,
			Keywords: []string{"setproperty(", "setenv(", "putenv(", "put(", "set(", "setdefault(", "setitem("},
			Regex:    `(?i)(?:setProperty|setenv|putenv|put|set|setdefault|setitem)\({s}*{q}(?P<k>[A-Za-z0-9_.-]{0,40}` + secretWord + `[A-Za-z0-9_.-]{0,40}){q}{s}*,{s}*{q}(?P<s>(?:[^\s"'` + "`" + `\\]|{u})+)`,
			Before:   16, After: 400,
			Example: `System.setProperty("STRIPE_API_TOKEN", "` + fake(alnum, 32, "setprop") + `");`},
		{Name: "pass-assignment", Description: "DB_PASS=…, SMTP_PASS: …, pass: … (a key ending in the word pass)",
			Value: true, MinLen: 4, Entropy: 1.5, KeyAnchored: true, WordStart: true,
			Keywords: []string{"pass"},
			Regex:    `(?i)(?P<k>[a-z0-9_.-]{0,40}?pass){eq}(?P<s>` + value + `+)`,
			Before:   48, After: 320, Near: assign, Within: 12,
			Example: "SMTP_PASS=" + fake(alnum, 12, "smtppass")},
		{Name: "chat-password", Description: `"my password is …", "the root password was …" in prose`,
			Value: true, MinLen: 4, Entropy: 1.5, KeyAnchored: true, Keywords: chatKeywords(), WordStart: true,
			Regex: `(?i)[a-z0-9_.-]{0,40}?(?:password|passphrase|passwd|pw|pass|pin)(?:[ \t]+for[ \t][^\n.]{1,40}?)?(?:'s|[ \t]+(?:is|was|will[ \t]+be|should[ \t]+be))` +
				`(?:[ \t]+(?:now|still|set[ \t]+to|just|actually|probably|simply))?[ \t]*:?[ \t]*{q}?(?P<s>` + value + `{4,})`,
			Before: 48, After: 160,
			Example: "fyi my password is " + fake(alnum, 10, "chatpw") + "!"},
		{Name: "login-password-flag", Description: "docker/podman/helm/az … login -p PASSWORD", Placeholders: true,
			Keywords: []string{"login"},
			Regex:    `(?i){b}login\b[^\n|;&]{0,200}?[ \t]-p[ \t]*{q}?(?P<s>(?:[^\s"'\\-]|{u})(?:[^\s"'\\]|{u})*)`, Before: 3, After: 500,
			Example: "docker login -u ci -p " + fake(alnum, 20, "dockerlogin") + " registry.example.com"},
		{Name: "redis-cli-password", Description: "redis-cli -a PASSWORD", Placeholders: true,
			Keywords: []string{"redis-cli"},
			Regex:    `{b}redis-cli\b[^\n|;&]{0,200}?[ \t](?:-a|--pass)[ \t]+{q}?(?P<s>(?:[^\s"'\\-]|{u})(?:[^\s"'\\]|{u})*)`, Before: 3, After: 500,
			Example: "redis-cli -h cache -a " + fake(alnum, 20, "rediscli") + " ping"},
		{Name: "ldap-bind-password", Description: "ldapsearch / ldapmodify … -w PASSWORD", Placeholders: true,
			Keywords: []string{"ldap"},
			Regex:    `{b}ldap(?:search|modify|add|delete|whoami|passwd|compare|modrdn|exop)\b[^\n|;&]{0,300}?[ \t]-w[ \t]*{q}?(?P<s>(?:[^\s"'\\-]|{u})(?:[^\s"'\\]|{u})*)`,
			Before:   3, After: 600,
			Example: "ldapsearch -x -D cn=admin,dc=acme -w " + fake(alnum, 14, "ldap") + " -b dc=acme"},
		{Name: "db-cli-password", Description: "sqlcmd -P, mongo/mongosh -p, smbclient -U user%password", Placeholders: true,
			Keywords: []string{"sqlcmd", "mongo", "smbclient", "bcp "},
			Regex:    `{b}(?:sqlcmd|bcp|mongo(?:sh|dump|restore|import|export)?|smbclient)\b[^\n|;&]{0,300}?[ \t](?:-P[ \t]*|-p[ \t]+|-U[ \t]*[^\s%"'\\]+%){q}?(?P<s>(?:[^\s"'\\-]|{u})(?:[^\s"'\\]|{u})*)`,
			Before:   3, After: 600,
			Example: "sqlcmd -S db -U sa -P " + fake(alnum, 16, "sqlcmd") + " -Q 'select 1'"},
		{Name: "openssl-pass-arg", Description: "openssl … -passin pass:…, -passout pass:…, -k …", Placeholders: true,
			Keywords: []string{"pass:"},
			Regex:    `-pass(?:in|out)?[ \t]+pass:(?P<s>(?:[^\s"'\\]|{u})+)`, Before: 12, After: 300,
			Example: "openssl pkcs12 -export -in c.pem -passout pass:" + fake(alnum, 14, "openssl")},
		{Name: "keytool-pass-flag", Description: "keytool -storepass / -keypass …", Placeholders: true,
			Keywords: []string{"storepass", "keypass"},
			Regex:    `-(?:src|dest|new)?(?:store|key)pass[ \t]+{q}?(?P<s>(?:[^\s"'\\-]|{u})(?:[^\s"'\\]|{u})*)`, Before: 8, After: 300,
			Example: "keytool -importkeystore -srcstorepass " + fake(alnum, 12, "keytool")},
		{Name: "authorization-header-token", Description: "Authorization: token …, Bot …, SSWS …, or a bare token", Placeholders: true, Entropy: 3,
			Keywords: []string{"authorization"},
			Regex:    `(?i)authorization{q}?{s}*[:=]{s}*{q}?{s}*(?:(?:token|bot|sso-key|apikey|api-key|key|digest)[ \t]+)?(?P<s>[A-Za-z0-9._~+/=:-]{20,})`,
			Before:   1, After: 400, Near: assign + `"'\\`, Within: 4,
			Example: "curl -H 'Authorization: token " + fake(alnum, 40, "authtoken") + "' https://api.example.com"},
	}
}

// pwChars are characters passwords are made of, for examples.
const pwChars = alnum + "!#%&*^~"

// chatKeywords are a password word and the word after it in prose.
func chatKeywords() []string {
	var kws []string
	for _, w := range []string{"password", "passphrase", "passwd", "pw", "pass", "pin"} {
		for _, next := range []string{" is", " was", "'s", " for", " will", " should", "\tis"} {
			kws = append(kws, w+next)
		}
	}
	return kws
}
