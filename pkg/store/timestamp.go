package store

import (
	"context"
	"strings"
	"time"

	"avsync/pkg/record"
)

// TimeLayout is how every store keeps a timestamp: RFC 3339 in UTC with
// exactly three fractional digits, so text order is time order (agentsview
// writes varying precision, e.g. "…:55.66Z" beside "…:55.123Z").
const TimeLayout = "2006-01-02T15:04:05.000Z"

// the layouts agentsview and the agents it indexes are known to write.
var inLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999"}

// Timestamp normalises a source timestamp to TimeLayout. One without a
// zone is taken as UTC; empty and unparseable text is kept as it is
// (never lose what the source said).
func Timestamp(s string) string {
	if s == "" {
		return s
	}
	for _, l := range inLayouts {
		if t, err := time.Parse(l, strings.TrimSpace(s)); err == nil {
			return t.UTC().Format(TimeLayout)
		}
	}
	return s
}

// normalizing gives every backend its timestamps in TimeLayout: the one
// place they are normalised, so the stores agree with each other.
type normalizing struct{ Store }

// BatchLimits passes store.Batcher on (zeros: the writer's defaults), as
// the embedded Store hides the methods beyond its interface.
func (n normalizing) BatchLimits() (int, int64) {
	if b, ok := n.Store.(Batcher); ok {
		return b.BatchLimits()
	}
	return 0, 0
}

func (n normalizing) Begin(ctx context.Context, w Writer) (Batch, error) {
	b, err := n.Store.Begin(ctx, w)
	if err != nil {
		return nil, err
	}
	return normalizingBatch{b}, nil
}

type normalizingBatch struct{ Batch }

func (b normalizingBatch) BeginGroup(ctx context.Context, s *record.Session) error {
	c := *s // the caller's record stays as read
	c.StartedAt, c.EndedAt, c.CreatedAt, c.DeletedAt = Timestamp(c.StartedAt), Timestamp(c.EndedAt), Timestamp(c.CreatedAt), Timestamp(c.DeletedAt)
	return b.Batch.BeginGroup(ctx, &c)
}

func (b normalizingBatch) PutMessage(ctx context.Context, m *record.Message) error {
	c := *m
	c.Timestamp = Timestamp(c.Timestamp)
	return b.Batch.PutMessage(ctx, &c)
}

func (b normalizingBatch) ReplaceMarks(ctx context.Context, m *Marks) error {
	c := *m
	c.Stars = make([]record.Star, len(m.Stars))
	for i, s := range m.Stars {
		s.CreatedAt = Timestamp(s.CreatedAt)
		c.Stars[i] = s
	}
	c.Pins = make([]record.Pin, len(m.Pins))
	for i, p := range m.Pins {
		p.CreatedAt = Timestamp(p.CreatedAt)
		c.Pins[i] = p
	}
	return b.Batch.ReplaceMarks(ctx, &c)
}

// Settle passes store.Settler on, for the batches that implement it.
func (b normalizingBatch) Settle(ctx context.Context, sessionID string) error {
	if s, ok := b.Batch.(Settler); ok {
		return s.Settle(ctx, sessionID)
	}
	return nil
}
