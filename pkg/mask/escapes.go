package mask

import "strings"

// decoded is a text with its \u00XX escapes of printable ASCII replaced by
// the characters they stand for, and where each decoded byte came from.
type decoded struct {
	text       string
	start, end []int // per decoded byte: its span [start, end) in the original
}

// decodeEscapes undoes \u00XX escapes of printable ASCII, however many
// backslashes precede the u (JSON escaped once or twice more): av-write
// decodes them back, so a rule must see "ghp_" where the text says
// "ghp\u005f". ok is false when there is nothing to decode, which is what
// ordinary text costs: one substring search.
func decodeEscapes(text string) (decoded, bool) {
	i := strings.Index(text, `u00`)
	if i < 0 {
		return decoded{}, false
	}
	var d decoded
	var b strings.Builder
	at := 0 // original bytes before at are decoded or copied
	for ; i >= 0; i = nextU00(text, i+3) {
		// A run of backslashes, then u00XX with XX printable ASCII.
		bs := i
		for bs > at && text[bs-1] == '\\' {
			bs--
		}
		if bs == i || i+5 > len(text) {
			continue
		}
		c, ok := unhex2(text[i+3], text[i+4])
		if !ok || c < 0x20 || c > 0x7e {
			continue
		}
		if d.start == nil {
			b.Grow(len(text))
			d.start = make([]int, 0, len(text))
			d.end = make([]int, 0, len(text))
		}
		for j := at; j < bs; j++ {
			d.start, d.end = append(d.start, j), append(d.end, j+1)
		}
		b.WriteString(text[at:bs])
		b.WriteByte(c)
		d.start, d.end = append(d.start, bs), append(d.end, i+5)
		at = i + 5
	}
	if d.start == nil {
		return decoded{}, false
	}
	for j := at; j < len(text); j++ {
		d.start, d.end = append(d.start, j), append(d.end, j+1)
	}
	b.WriteString(text[at:])
	d.text = b.String()
	return d, true
}

func nextU00(text string, from int) int {
	if from >= len(text) {
		return -1
	}
	j := strings.Index(text[from:], `u00`)
	if j < 0 {
		return -1
	}
	return from + j
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
