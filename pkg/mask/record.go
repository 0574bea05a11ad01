package mask

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unsafe"
)

// TextFields are the wire format's free-text fields, masked in every record
// whatever its kind (a pin's note included) and whatever the case of their
// names (av-write decodes names case-insensitively, and refuses a name that
// differs from its field's only by case). Structural fields are the
// documented exception: ids, ordinals, timestamps, counts, modes, hashes.
var TextFields = []string{"first_message", "display_name", "content", "thinking", "input_json", "result_content", "note",
	"project", "model", "tool_name", "skill_name", "category", "token_usage", "tool_use_id"}

// Stamp is what a masked record carries as "masked".
type Stamp struct {
	Ruleset string         `json:"ruleset"`
	Secrets int            `json:"secrets"`
	Rules   map[string]int `json:"rules"`
}

// FieldFinding is a secret found in one field of a record. It never holds
// the value: only where it was and, with a report key, a keyed hash of it.
type FieldFinding struct {
	Field  string
	Rule   string
	Offset int // byte offset in the field's JSON-encoded value
	Length int
	Hash   string // HMAC-SHA256 under the report key, 16 hex digits; "" without a key
}

// Record is the outcome of masking one NDJSON line.
type Record struct {
	Line     []byte // the masked line, with its stamp
	Stamp    Stamp
	Findings []FieldFinding
	Kind     string
	Key      string // which record: kind and natural key, for reports
}

// keyFields are read from every record to name it in reports.
var keyFields = map[string]bool{"kind": true, "id": true, "session_id": true, "ordinal": true,
	"message_ordinal": true, "call_index": true}

// MaskRecord masks the free-text string fields of one JSON object line (and
// those named in extra), then stamps it. Masking works on each string's
// JSON-encoded bytes, so text is never unescaped and re-escaped; a masked
// span is widened so that it never splits an escape sequence, and the marker
// holds no quote or backslash, so the line stays valid JSON.
func (m *Masker) MaskRecord(line []byte, extra map[string]bool, dst []byte) (Record, error) {
	rec := Record{Stamp: Stamp{Ruleset: m.id, Rules: map[string]int{}}}
	members, object, ok := validObject(line)
	switch {
	case !ok:
		var v any
		err := json.Unmarshal(line, &v)
		return rec, fmt.Errorf("invalid json: %v", err)
	case !object:
		return rec, errors.New("invalid record: not a JSON object")
	}
	out := dst[:0]
	if need := len(line) + len(line)/16 + 1024; cap(out) < need {
		out = make([]byte, 0, need) // once, not grown (and copied) in steps: a line may be many MB
	}
	at := 0
	var stampAt []int // the existing "masked" members' values, replaced
	keys := map[string]string{}
	for _, mb := range members {
		if keyFields[mb.key] {
			keys[mb.key] = string(line[mb.vs:mb.ve])
		}
		if strings.EqualFold(mb.key, "masked") {
			stampAt = append(stampAt, len(out)+(mb.vs-at))
			out = append(out, line[at:mb.vs]...)
			at = mb.ve
			continue
		}
		if !mb.str || !(isTextField(mb.key) || extra[mb.key]) {
			continue
		}
		// Inside the quotes, without a copy: line is not changed while raw
		// is in use, and nothing keeps raw (findings hold offsets).
		raw := unsafe.String(unsafe.SliceData(line[mb.vs+1:]), mb.ve-1-(mb.vs+1))
		found := m.findRaw(raw)
		if len(found) == 0 {
			continue
		}
		for _, f := range found {
			rec.Stamp.Secrets++
			rec.Stamp.Rules[f.Rule]++
			rec.Findings = append(rec.Findings, FieldFinding{Field: mb.key, Rule: f.Rule,
				Offset: f.Start, Length: f.End - f.Start, Hash: m.keyedHash(raw[f.Start:f.End])})
		}
		out = append(out, line[at:mb.vs+1]...)
		out = appendReplaced(out, raw, found) // straight into the line: no copy of the field
		at = mb.ve - 1
	}
	out = append(out, line[at:]...)
	stamp := rec.Stamp.appendJSON(nil)
	if len(stampAt) > 0 {
		for i := len(stampAt) - 1; i >= 0; i-- { // from the end, so earlier offsets hold
			at := stampAt[i]
			out = append(out[:at], append(stamp, out[at:]...)...)
		}
	} else {
		end := bytes.LastIndexByte(out, '}')
		tail := append([]byte(nil), out[end:]...)
		out = out[:end]
		if len(members) > 0 {
			out = append(out, ',')
		}
		out = append(out, `"masked":`...)
		out = append(out, stamp...)
		out = append(out, tail...)
	}
	rec.Line = out
	rec.Kind, _ = strconv.Unquote(keys["kind"])
	rec.Key = recordKey(keys)
	return rec, nil
}

// SetReportKey makes findings carry an HMAC-SHA256 of each secret under
// key: the same secret gives the same hash within one installation, yet a
// word list cannot confirm a weak password without the key. Without a key
// findings carry no hash. Call it before masking starts.
func (m *Masker) SetReportKey(key []byte) { m.reportKey = append([]byte(nil), key...) }

func (m *Masker) keyedHash(v string) string {
	if len(m.reportKey) == 0 {
		return ""
	}
	h := hmac.New(sha256.New, m.reportKey)
	h.Write([]byte(v))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// findRaw finds the secrets in the JSON-encoded content of a string
// (without its quotes), widened to whole escapes.
func (m *Masker) findRaw(raw string) []Finding {
	found := m.Find(raw)
	if len(found) == 0 {
		return nil
	}
	return wholeEscapes(raw, found)
}

// maskRaw masks the JSON-encoded content of a string (without its quotes).
func (m *Masker) maskRaw(raw string) (string, []Finding) {
	found := m.findRaw(raw)
	if len(found) == 0 {
		return raw, nil
	}
	return Replace(raw, found), found
}

// MaskJSONString masks s exactly as MaskRecord masks a field holding s
// (avsync's encoder: no HTML escaping), and returns the decoded result.
func (m *Masker) MaskJSONString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	encoded := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	masked, found := m.maskRaw(string(encoded[1 : len(encoded)-1]))
	if len(found) == 0 {
		return s
	}
	var out string
	json.Unmarshal([]byte(`"`+masked+`"`), &out)
	return out
}

func isTextField(k string) bool {
	for _, f := range TextFields {
		if strings.EqualFold(f, k) {
			return true
		}
	}
	return false
}

func recordKey(k map[string]string) string {
	unq := func(s string) string {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
		return s
	}
	kind := unq(k["kind"])
	switch kind {
	case "session":
		return "session:" + unq(k["id"])
	case "message":
		return "message:" + unq(k["session_id"]) + "#" + k["ordinal"]
	case "tool_call":
		return "tool_call:" + unq(k["session_id"]) + "#" + k["message_ordinal"] + "." + k["call_index"]
	}
	if id, ok := k["id"]; ok {
		return kind + ":" + unq(id)
	}
	return kind
}

// appendJSON writes the stamp with its rules in a stable order.
func (s Stamp) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"ruleset":`...)
	dst = strconv.AppendQuote(dst, s.Ruleset)
	dst = append(dst, `,"secrets":`...)
	dst = strconv.AppendInt(dst, int64(s.Secrets), 10)
	dst = append(dst, `,"rules":{`...)
	names := make([]string, 0, len(s.Rules))
	for n := range s.Rules {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, n)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(s.Rules[n]), 10)
	}
	return append(dst, "}}"...)
}

// wholeEscapes widens findings in JSON-encoded text so none starts or ends
// inside an escape sequence (\n, \", \\, \u00e9), then re-merges them.
func wholeEscapes(raw string, found []Finding) []Finding {
	for i := range found {
		f := &found[i]
		// Start: if an odd run of backslashes ends just before it, the
		// start is the escaped character: take the backslash too; inside
		// a \uXXXX, go back to its backslash.
		for back := 1; back <= 5 && f.Start-back >= 0; back++ {
			if escapeStartsAt(raw, f.Start-back) && f.Start-back+escapeLen(raw, f.Start-back) > f.Start {
				f.Start -= back
				break
			}
		}
		// End: the same for the last character kept out.
		for back := 1; back <= 5 && f.End-back >= 0; back++ {
			if escapeStartsAt(raw, f.End-back) {
				if e := f.End - back + escapeLen(raw, f.End-back); e > f.End {
					f.End = min(e, len(raw))
				}
				break
			}
		}
	}
	return merge(found)
}

// escapeStartsAt tells whether raw[i] is a backslash that begins an escape
// (preceded by an even number of backslashes).
func escapeStartsAt(raw string, i int) bool {
	if raw[i] != '\\' {
		return false
	}
	n := 0
	for j := i - 1; j >= 0 && raw[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}

func escapeLen(raw string, i int) int {
	if i+1 < len(raw) && raw[i+1] == 'u' {
		return 6
	}
	return 2
}

// member is one top-level member of a JSON object line (see validObject).
type member struct {
	key    string
	vs, ve int  // value bytes [vs, ve), quotes included for strings
	str    bool // the value is a string
}
