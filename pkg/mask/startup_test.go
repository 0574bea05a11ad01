package mask

import "testing"

func BenchmarkBuiltin(b *testing.B) {
	for b.Loop() {
		Builtin()
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrefilterBuild(b *testing.B) {
	rules := Builtin()
	for b.Loop() {
		newPrefilter(rules)
	}
}

func BenchmarkRulesetID(b *testing.B) {
	rules := Builtin()
	for b.Loop() {
		rulesetID(EngineVersion, rules, nil)
	}
}

// TestBuiltinRuleset: the written-down id of the built-in rules is the one
// they hash to (see builtinRuleset), and New and RulesetOf give it.
func TestBuiltinRuleset(t *testing.T) {
	if got := rulesetID(EngineVersion, Builtin(), nil); got != builtinRuleset {
		t.Fatalf("the built-in rules hash to %s, builtinRuleset says %s: a rule or the engine changed; "+
			"set builtinRuleset to the new id (every store will re-mask with it)", got, builtinRuleset)
	}
	m, err := New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := RulesetOf(nil, nil)
	if err != nil || m.Ruleset() != builtinRuleset || id != builtinRuleset {
		t.Fatalf("New: %s, RulesetOf: %s %v; want %s", m.Ruleset(), id, err, builtinRuleset)
	}
	// Anything more is hashed.
	withAllow, _ := RulesetOf(nil, []string{"x"})
	extra, _ := RulesetOf([]*Rule{{Name: "mine", Keywords: []string{"zz"}, Regex: `zz(?P<s>[a-z]{9})`}}, nil)
	if withAllow == builtinRuleset || extra == builtinRuleset || withAllow == extra {
		t.Fatalf("other settings share an id: allow %s, extra rule %s", withAllow, extra)
	}
}
