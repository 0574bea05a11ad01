package corpus

import (
	"fmt"
	"strings"
)

// Score is how a masker did on samples.
type Score struct {
	Planted, Caught, StrictCaught int // secrets; not left whole; no 8 characters left
	Decoys, Intact                int
	Misses                        []string // family/context of each strict miss and damaged decoy
}

// Recall is the share of secrets not left whole in the output.
func (s Score) Recall() float64 { return ratio(s.Caught, s.Planted) }

// StrictRecall is the share of secrets of which no 8 consecutive characters
// survive.
func (s Score) StrictRecall() float64 { return ratio(s.StrictCaught, s.Planted) }

// DecoysIntact is the share of decoys that come through untouched.
func (s Score) DecoysIntact() float64 { return ratio(s.Intact, s.Decoys) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// Measure masks each sample with mask and scores the outcome.
func Measure(samples []Sample, mask func(string) string) Score {
	var sc Score
	for _, s := range samples {
		out := mask(s.Text)
		if s.Secret != "" {
			sc.Planted++
			if !strings.Contains(out, s.Secret) {
				sc.Caught++
			}
			if !Survives(s.Secret, out) {
				sc.StrictCaught++
			} else {
				sc.Misses = append(sc.Misses, fmt.Sprintf("%s/%s: %.160q", s.Family, s.Context, out))
			}
			continue
		}
		sc.Decoys++
		if out == s.Text {
			sc.Intact++
		} else {
			sc.Misses = append(sc.Misses, fmt.Sprintf("decoy/%s: %.160q", s.Context, out))
		}
	}
	return sc
}

// Survives tells whether 8 consecutive characters of secret are in text.
func Survives(secret, text string) bool {
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

// Dense makes about size bytes of session-like text with one planted secret
// per about 1.5 KB among decoys: the worst case for masking speed.
func Dense(size int, seed uint64) string {
	var b strings.Builder
	filler := Filler(size, seed)
	samples := Generate(size/1500+1, seed+1)
	at := 0
	for _, s := range samples {
		if b.Len() >= size {
			break
		}
		n := min(len(filler)-at, 1000-len(s.Text)) // two samples in three are secrets
		if n > 0 {
			b.WriteString(filler[at : at+n])
			at += n
		}
		b.WriteString("\n" + s.Text + "\n")
		if at >= len(filler) {
			at = 0
		}
	}
	return b.String()
}
