package record

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func benchMessage() *Message {
	text := strings.Repeat("Some ordinary session text, with a path /src/main.go and \"quotes\".\n", 16)
	return &Message{Kind: KindMessage, SessionID: "bench-000001-a7bf852e", Ordinal: 42, Role: "assistant", Content: text,
		Timestamp: "2026-08-01T09:00:00Z", ContentLength: int64(len(text)), Model: "claude", TokenUsage: `{"in":1}`}
}

func BenchmarkEncodeMessage(b *testing.B) {
	m := benchMessage()
	b.Run("json", func(b *testing.B) {
		enc := json.NewEncoder(io.Discard)
		enc.SetEscapeHTML(false)
		b.SetBytes(int64(len(m.Content)))
		for range b.N {
			enc.Encode(m)
		}
	})
	b.Run("fast", func(b *testing.B) {
		w := NewWriter(io.Discard)
		b.SetBytes(int64(len(m.Content)))
		for range b.N {
			w.Write(m)
		}
	})
}

func BenchmarkDecodeMessage(b *testing.B) {
	m := benchMessage()
	m.Masked = &Stamp{Ruleset: "avmask-0123456789ab", Secrets: 0}
	line, _ := json.Marshal(m)
	b.SetBytes(int64(len(m.Content)))
	for range b.N {
		var got Message
		if err := Decode(line, &got); err != nil {
			b.Fatal(err)
		}
	}
}
