package mask

import "strings"

// escapeReach is how far around a \u00XX escape decoding looks: a secret
// hidden by an escape lies within it (the longest token bodies are shorter).
const escapeReach = 320

// findEscaped finds secrets whose characters are hidden behind \u00XX
// escapes of printable ASCII, however many backslashes precede the u (JSON
// escaped once or twice more): av-write decodes them back, so a rule must
// see "ghp_" where the text says "ghp\u005f". Only the neighbourhood of
// escapes is decoded and searched, and only when the keyword scan saw one
// (at lists where it saw \u00, so the text is not searched again), so
// ordinary text costs nothing more. The escapes of & < > that Go's
// encoders write everywhere are left to the rules, which read them as {u}
// where those characters matter. Findings are in text's offsets, covering
// the escaped form.
func (m *Masker) findEscaped(text string, at []int) []Finding {
	var esc []int // the u of each escape of printable ASCII
	for _, b := range at {
		if isEscape(text, b+1) {
			esc = append(esc, b+1)
		}
	}
	var found []Finding
	for k := 0; k < len(esc); {
		// One region: escapes closer than twice the reach go together.
		lo, hi := max(0, esc[k]-escapeReach), min(len(text), esc[k]+escapeReach)
		for k++; k < len(esc) && esc[k]-escapeReach <= hi; k++ {
			hi = min(len(text), esc[k]+escapeReach)
		}
		lo, hi = runeStart(text, lo), runeEnd(text, hi)
		d := decodeEscapes(text[lo:hi])
		more, _ := m.find(d.text)
		for _, f := range more {
			f.Start, f.End = lo+int(d.start[f.Start]), lo+int(d.end[f.End-1])
			found = append(found, f)
		}
	}
	return found
}

// nextEscape finds the next \u00XX escape of printable ASCII at or after
// from (the index of its u), or -1.
func nextEscape(text string, from int) int {
	for from < len(text) {
		j := strings.Index(text[max(0, from-1):], `\u00`) // the backslash is rarer than the u
		if j < 0 {
			return -1
		}
		i := max(0, from-1) + j + 1
		if isEscape(text, i) {
			return i
		}
		from = i + 3
	}
	return -1
}

// isEscape tells whether the u at i, after a backslash, begins a \u00XX
// escape of printable ASCII other than & < >.
func isEscape(text string, i int) bool {
	if i < 1 || i+5 > len(text) || text[i-1] != '\\' || text[i:i+3] != "u00" {
		return false
	}
	c, ok := unhex2(text[i+3], text[i+4])
	return ok && c >= 0x20 && c <= 0x7e && c != '&' && c != '<' && c != '>'
}

// decoded is a text with its escapes replaced by the characters they stand
// for, and where each decoded byte came from.
type decoded struct {
	text       string
	start, end []int32 // per decoded byte: its span [start, end) in the original
}

func decodeEscapes(text string) decoded {
	var d decoded
	var b strings.Builder
	b.Grow(len(text))
	d.start = make([]int32, 0, len(text))
	d.end = make([]int32, 0, len(text))
	at := 0
	for i := nextEscape(text, 0); i >= 0; i = nextEscape(text, i+5) {
		bs := i - 1
		for bs > at && text[bs-1] == '\\' {
			bs--
		}
		if bs < at {
			continue
		}
		c, _ := unhex2(text[i+3], text[i+4])
		for j := at; j < bs; j++ {
			d.start, d.end = append(d.start, int32(j)), append(d.end, int32(j+1))
		}
		b.WriteString(text[at:bs])
		b.WriteByte(c)
		d.start, d.end = append(d.start, int32(bs)), append(d.end, int32(i+5))
		at = i + 5
	}
	for j := at; j < len(text); j++ {
		d.start, d.end = append(d.start, int32(j)), append(d.end, int32(j+1))
	}
	b.WriteString(text[at:])
	d.text = b.String()
	return d
}

func unhex2(a, b byte) (byte, bool) {
	x, ok1 := unhex(a)
	y, ok2 := unhex(b)
	return x<<4 | y, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
