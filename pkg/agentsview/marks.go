package agentsview

import (
	"context"
	"database/sql"

	"avsync/pkg/record"
	"avsync/pkg/watermark"
)

// marks sends the user's stars and pins as one snapshot, when the build
// keeps any and the snapshot differs from the last one stored. Snapshots
// are small (what a person starred or pinned), so they are read whole.
// Deletions are not marks: they travel with the session (its deleted_at)
// or as a tombstone, so no snapshot can erase one.
func (sn *snapshot) marks(ctx context.Context) error {
	sc := sn.src.schema
	hasStars, hasPins := len(sc["starred_sessions"]) > 0, len(sc["pinned_messages"]) > 0
	if !hasStars && !hasPins {
		return nil // the March build keeps none: not an error
	}
	var stars []record.Star
	var pins []record.Pin
	d := watermark.NewDigest()
	err := sn.readTx(ctx, "read stars and pins", func(tx *sql.Tx) error {
		query := func(q string, scan func(func(...any) error) error) error {
			rows, err := tx.QueryContext(ctx, q)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := scan(rows.Scan); err != nil {
					return err
				}
			}
			return rows.Err()
		}
		if hasStars {
			if err := query(`SELECT session_id, `+sc.col("", "starred_sessions", "created_at", "''")+
				` FROM starred_sessions ORDER BY session_id`, func(scan func(...any) error) error {
				s := record.Star{Kind: record.KindStar}
				if err := scan(&s.SessionID, &s.CreatedAt); err != nil {
					return err
				}
				stars = append(stars, s)
				d.String("star")
				d.String(s.SessionID)
				d.String(s.CreatedAt)
				return nil
			}); err != nil {
				return err
			}
		}
		if hasPins {
			return query(`SELECT session_id, ordinal, `+sc.col("", "pinned_messages", "note", "''")+", "+
				sc.col("", "pinned_messages", "created_at", "''")+` FROM pinned_messages ORDER BY session_id, ordinal`,
				func(scan func(...any) error) error {
					p := record.Pin{Kind: record.KindPin}
					if err := scan(&p.SessionID, &p.Ordinal, &p.Note, &p.CreatedAt); err != nil {
						return err
					}
					pins = append(pins, p)
					d.String("pin")
					d.String(p.SessionID)
					d.Int(p.Ordinal)
					d.String(p.Note)
					d.String(p.CreatedAt)
					return nil
				})
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The snapshot belongs to a machine and a user: another one is news.
	// (The user's settings, not the user git names: resolving that runs git,
	// which a no-change cycle must not pay for.)
	d.String(sn.opt.Machine)
	d.String(sn.opt.Decorator.Settings())
	// Pin notes are masked text: new rules re-send them.
	d.String(sn.ruleset)
	digest := d.Sum()
	if digest == sn.state.Meta.MarksDigest {
		return nil
	}
	if err := sn.write(&record.Marks{Kind: record.KindMarks, Machine: sn.opt.Machine, UserID: sn.opt.Decorator.UserID()}); err != nil {
		return err
	}
	for i := range stars {
		if err := sn.write(&stars[i]); err != nil {
			return err
		}
	}
	for i := range pins {
		if err := sn.write(&pins[i]); err != nil {
			return err
		}
	}
	sn.st.Marks = true
	return sn.write(&record.MarksEnd{Kind: record.KindMarksEnd, Digest: digest, Stars: int64(len(stars)), Pins: int64(len(pins))})
}
