package record

import (
	"encoding/json"
	"errors"
	"fmt"

	"avsync/pkg/lazyregexp"
)

// rulesetID is the form of av-mask's ruleset id ("avmask-" and 12 hex
// digits); it changes whenever the rules, the allow-list or the engine do.
var rulesetID = lazyregexp.New(`^avmask-[0-9a-f]{12}$`)

// IsRulesetID tells whether s has the form of an av-mask ruleset id.
func IsRulesetID(s string) bool { return rulesetID().MatchString(s) }

// UnmarshalJSON remembers whether the stamp said how many secrets it masked,
// so Check can refuse a stamp without a count ("masked":{}).
func (s *Stamp) UnmarshalJSON(b []byte) error {
	var raw struct {
		Ruleset string         `json:"ruleset"`
		Secrets *int           `json:"secrets"`
		Rules   map[string]int `json:"rules"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = Stamp{Ruleset: raw.Ruleset, Rules: raw.Rules, counted: raw.Secrets != nil}
	if raw.Secrets != nil {
		s.Secrets = *raw.Secrets
	}
	return nil
}

// Check tells whether a stamp is one av-mask writes: a well-formed ruleset
// id and a count of secrets that agrees with the per-rule counts.
func (s *Stamp) Check() error {
	switch {
	case s == nil:
		return errors.New("record is not masked")
	case !rulesetID().MatchString(s.Ruleset):
		return fmt.Errorf(`masked stamp: ruleset %q is not an av-mask ruleset id (want "avmask-" and 12 hex digits)`, s.Ruleset)
	case !s.counted || s.Secrets < 0:
		return errors.New(`masked stamp: no count of secrets ("secrets": N)`)
	}
	sum := 0
	for name, n := range s.Rules {
		if n < 0 {
			return fmt.Errorf("masked stamp: rule %q has a negative count", name)
		}
		sum += n
	}
	if s.Rules != nil && sum != s.Secrets {
		return fmt.Errorf("masked stamp: %d secrets, but its rules count %d", s.Secrets, sum)
	}
	return nil
}
