package agentsview

import (
	"context"

	"avsync/pkg/record"
	"avsync/pkg/watermark"
)

// marks sends the user's stars, pins and deletions as one snapshot, when
// the build keeps any of them and the snapshot differs from the last one
// stored. Snapshots are small (what a person starred or pinned), so they are
// read whole.
func (sn *snapshot) marks(ctx context.Context, state *watermark.State, out *record.Writer) (bool, error) {
	sc := sn.src.schema
	hasStars, hasPins, hasDeletes := len(sc["starred_sessions"]) > 0, len(sc["pinned_messages"]) > 0, sc.has("sessions", "deleted_at")
	if !hasStars && !hasPins && !hasDeletes {
		return false, nil // the March build keeps none: not an error
	}
	var stars []record.Star
	var pins []record.Pin
	var deletes []record.Delete
	d := watermark.NewDigest()
	query := func(q string, scan func(func(...any) error) error) error {
		rows, err := sn.conn.QueryContext(ctx, q)
		if err != nil {
			return sourceErrorf("%s: read marks: %v", sn.src.path, sqliteReason(err))
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows.Scan); err != nil {
				return sourceErrorf("%s: read marks: %v", sn.src.path, sqliteReason(err))
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
			return nil
		}); err != nil {
			return false, err
		}
	}
	if hasPins {
		if err := query(`SELECT session_id, ordinal, `+sc.col("", "pinned_messages", "note", "''")+", "+
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
				return nil
			}); err != nil {
			return false, err
		}
	}
	if hasDeletes {
		if err := query(`SELECT id, deleted_at, `+sc.col("", "sessions", "machine", "''")+
			` FROM sessions WHERE deleted_at IS NOT NULL AND deleted_at != '' ORDER BY id`,
			func(scan func(...any) error) error {
				del := record.Delete{Kind: record.KindDelete}
				if err := scan(&del.SessionID, &del.DeletedAt, &del.Machine); err != nil {
					return err
				}
				if del.Machine == "" || del.Machine == "local" {
					del.Machine = sn.machine
				}
				deletes = append(deletes, del)
				d.String("delete")
				d.String(del.SessionID)
				return nil
			}); err != nil {
			return false, err
		}
	}
	digest := d.Sum()
	if digest == state.MarksDigest {
		return false, nil
	}
	write := func(v any) error {
		if err := out.Write(v); err != nil {
			return &sendError{err}
		}
		return nil
	}
	if err := write(&record.Marks{Kind: record.KindMarks, Machine: sn.machine, UserID: sn.user().ID}); err != nil {
		return false, err
	}
	for i := range stars {
		if err := write(&stars[i]); err != nil {
			return false, err
		}
	}
	for i := range pins {
		if err := write(&pins[i]); err != nil {
			return false, err
		}
	}
	for i := range deletes {
		if err := write(&deletes[i]); err != nil {
			return false, err
		}
	}
	return true, write(&record.MarksEnd{Kind: record.KindMarksEnd, Digest: digest,
		Stars: int64(len(stars)), Pins: int64(len(pins)), Deletes: int64(len(deletes))})
}
