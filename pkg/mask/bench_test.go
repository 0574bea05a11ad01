package mask

import (
	"strings"
	"testing"

	"avsync/pkg/mask/corpus"
)

// BenchmarkMask measures the masking itself on session-like text (MB/s).
func BenchmarkMask(b *testing.B) {
	m := newMasker(b)
	text := corpus.Filler(4<<20, 1)
	for _, s := range corpus.Generate(200, 2) {
		text += "\n" + s.Text
	}
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Find(text)
	}
}

// BenchmarkMaskDense: secret-dense text, one secret per ~1.5 KB among decoys.
func BenchmarkMaskDense(b *testing.B) {
	m := newMasker(b)
	text := corpus.Dense(4<<20, 1)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Find(text)
	}
}

// adversarial inputs: every rule must stay linear in the input size.
func adversarial(n int) map[string]string {
	rep := func(s string) string { return strings.Repeat(s, n/len(s)+1)[:n] }
	return map[string]string{
		"key-like-run":        rep("A"),
		"base64-run":          rep("aB3+/xY9"),
		"equals-signs":        rep("="),
		"password-equals":     rep("password="),
		"token-colon":         rep("token: "),
		"url-scheme":          rep("a://b:c"),
		"pem-headers-no-end":  rep("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n"),
		"ghp-prefixes":        rep("ghp_"),
		"jwt-dots":            rep("eyJ.eyJ."),
		"escaped-backslashes": rep(`\\\\n`),
		"sk-words":            rep("ask task desk "),
		"private-key-words":   rep("the private key "), // a 48 KB window at every hit
	}
}

func BenchmarkAdversarial(b *testing.B) {
	m := newMasker(b)
	for name, text := range adversarial(1 << 20) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for i := 0; i < b.N; i++ {
				m.Find(text)
			}
		})
	}
}
