package postgres

import (
	"context"

	"avsync/pkg/store"
	"avsync/pkg/store/sqlschema"
)

// ReplaceMarks replaces a user's stars and pins in one round trip (after
// the buffer in flight, whose outcome it returns).
func (b *batch) ReplaceMarks(ctx context.Context, m *store.Marks) error {
	lost := b.wait(ctx)
	if !isLost(lost) {
		return lost
	}
	var p pipeline
	for _, table := range []string{"session_stars", "message_pins"} {
		p.add("DELETE FROM "+table+" WHERE org_id = $1 AND reporter = $2 AND user_id = $3", b.s.org, m.Reporter, m.UserID)
	}
	var stars struct{ id, at []string }
	for _, st := range m.Stars {
		stars.id, stars.at = append(stars.id, clean(st.SessionID)), append(stars.at, clean(st.CreatedAt))
	}
	var pins struct {
		id, note, at []string
		ordinal      []int64
	}
	for _, pin := range m.Pins {
		pins.id, pins.note, pins.at = append(pins.id, clean(pin.SessionID)), append(pins.note, clean(pin.Note)), append(pins.at, clean(pin.CreatedAt))
		pins.ordinal = append(pins.ordinal, pin.Ordinal)
	}
	if len(stars.id) > 0 {
		p.add(`INSERT INTO session_stars (org_id, reporter, user_id, session_id, created_at)
			SELECT $1, $2, $3, u.* FROM unnest($4::text[], $5::text[]) AS u ON CONFLICT DO NOTHING`,
			b.s.org, m.Reporter, m.UserID, stars.id, stars.at)
	}
	if len(pins.id) > 0 {
		p.add(`INSERT INTO message_pins (org_id, reporter, user_id, session_id, ordinal, note, created_at)
			SELECT $1, $2, $3, u.* FROM unnest($4::text[], $5::bigint[], $6::text[], $7::text[]) AS u ON CONFLICT DO NOTHING`,
			b.s.org, m.Reporter, m.UserID, pins.id, pins.ordinal, pins.note, pins.at)
	}
	if _, err := p.run(ctx, b.conn); err != nil {
		return b.classify(err)
	}
	return lost
}

// PurgeDeleted sends the buffered groups first (their tombstones count),
// then purges in one statement.
func (b *batch) PurgeDeleted(ctx context.Context) ([]string, error) {
	lost := b.sync(ctx, nil)
	if !isLost(lost) {
		return nil, lost
	}
	// Watermarks stay, marked purged: a session that comes back is sent whole.
	q := `WITH purged AS (UPDATE sync_watermarks w SET purged = TRUE, seq = $3 FROM session_deletes d
		WHERE w.org_id = $1 AND w.machine = $2 AND NOT w.purged
		AND d.org_id = w.org_id AND d.machine = w.machine AND d.session_id = w.session_id
		RETURNING w.session_id)`
	for i, st := range sqlschema.SessionTables {
		q += `, d` + string(rune('0'+i)) + ` AS (DELETE FROM ` + st.Table + ` WHERE org_id = $1 AND machine = $2 AND ` +
			st.IDColumn + ` IN (SELECT session_id FROM purged))`
	}
	var p pipeline
	p.add(q+` SELECT session_id FROM purged`, b.s.org, b.machine, b.seq)
	results, err := p.run(ctx, b.conn)
	if err != nil {
		return nil, b.classify(err)
	}
	var ids []string
	for i := range results[0].Rows {
		ids = append(ids, textAt(results[0], i, 0))
	}
	return ids, lost
}
