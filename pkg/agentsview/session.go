package agentsview

import (
	"context"
	"database/sql"
	"strings"

	"avsync/pkg/record"
	"avsync/pkg/watermark"
)

// examine reads one session in a read transaction of its own and sends it
// when it changed: whole (mode full) unless the rows the store already holds
// are proven unchanged by their content digest, then only the unsettled tail
// (mode append).
func (sn *snapshot) examine(ctx context.Context, id string) error {
	sn.st.Examined++
	entries, err := sn.state.Lookup(ctx, []string{id})
	if err != nil {
		return err
	}
	e, known := entries[id]
	purged := known && e.Purged
	known = known && !purged // purged rows are gone from the store: send whole
	// Masked by other rules than the stream will be: the store's rows go
	// whole, so no row masked by the old rules stays.
	force := sn.opt.Full || (known && sn.opt.Ruleset != "" && e.Ruleset != sn.opt.Ruleset)
	seq, err := sn.readSeq(ctx)
	if err != nil {
		return err
	}
	sn.opt.Decorator.Prefetch()
	return sn.readTx(ctx, "session "+id, func(tx *sql.Tx) error {
		var h record.Session
		path, marker, revision, err := sn.header(ctx, tx, id, &h)
		if err == sql.ErrNoRows {
			return nil // gone since it was found: its tombstone comes from the journal or a verification
		}
		if err != nil {
			return err
		}
		if purged && e.Tombstone == watermark.Deleted && h.DeletedAt != "" {
			sn.st.Unchanged++ // still in the trash: its rows stay purged
			return nil
		}
		// Purged as gone from the source and back (in the trash or not):
		// it goes whole, as it is now.
		// A session the store holds as gone from the source is back: it goes
		// (in whatever mode its digests allow), which lifts the tombstone.
		sameMarkers := known && e.Marker == marker && e.Revision == revision && e.Tombstone != watermark.Removed
		if sameMarkers && !force && !sn.st.Verified {
			sn.st.Unchanged++
			return nil
		}
		since := minOrdinal
		h.Mode = record.ModeFull
		var dg digests
		var digest string
		if known {
			// Prove what the store holds before the tail, then decide.
			if dg, err = sn.digestRows(ctx, tx, id, e.ResendFrom); err != nil {
				return err
			}
			digest = sessionDigest(sn.key, &h, dg.rows, sn.opt.Decorator.User())
			if sameMarkers && !force && digest == e.Digest {
				sn.st.Unchanged++
				return nil
			}
			if dg.oldPrefix == e.PrefixDigest {
				// The rows the store holds before the tail are the source's
				// rows, to the last column: only the tail goes. A full write
				// says it still holds them too, so a store a commit ahead of
				// the state takes appends built on them.
				h.BaseDigest = e.PrefixDigest
				if !force {
					h.Mode, since = record.ModeAppend, e.ResendFrom
					h.SinceOrdinal = &since
				}
			}
		}
		if !sn.opt.Decorator.Decorate(ctx, &h, path) {
			sn.st.Filtered++
			return nil
		}
		h.Machine, h.ReadSeq = sn.opt.Machine, seq
		if err := sn.write(&h); err != nil {
			return err
		}
		// A session the store lacks goes whole, digested as it streams:
		// one pass over its rows.
		var onePass *rowDigest
		if !known {
			onePass = sn.newRowDigest(minOrdinal)
		}
		var nm, nt int64
		if err := sn.scanRows(ctx, tx, id, since, rowFunc{
			message: func(m *record.Message) error {
				nm++
				if onePass != nil {
					onePass.message(m)
				}
				return sn.write(m)
			},
			toolCall: func(t *record.ToolCall) error {
				nt++
				if onePass != nil {
					onePass.toolCall(t)
				}
				return sn.write(t)
			},
		}); err != nil {
			return err
		}
		if onePass != nil {
			dg = onePass.result()
			digest = sessionDigest(sn.key, &h, dg.rows, sn.opt.Decorator.User())
		}
		if err := sn.write(&record.SessionEnd{
			Kind: record.KindSessionEnd, SessionID: id, FileHash: h.FileHash,
			LastOrdinal: dg.last, ResendFrom: dg.resendFrom, PrefixDigest: dg.prefix, Digest: digest,
			Marker: marker, Revision: revision, Messages: nm, ToolCalls: nt,
		}); err != nil {
			return err
		}
		if h.Mode == record.ModeFull {
			sn.st.Full++
		} else {
			sn.st.Append++
		}
		sn.st.Messages += nm
		sn.st.ToolCalls += nt
		return nil
	})
}

// header reads a session's header, the working directory (August) or its
// project when that is a path, and its change markers: sync_marker, and a
// revision condensing transcript_revision, data_version, local_modified_at
// and every header field, so that equal markers mean an unchanged session.
func (sn *snapshot) header(ctx context.Context, tx *sql.Tx, id string, h *record.Session) (path, marker, revision string, err error) {
	return sn.scanHeader(tx.QueryRowContext(ctx, sn.headerQuery("id = ?"), id), h)
}

// headerQuery selects what scanHeader reads, from the sessions where holds.
func (sn *snapshot) headerQuery(where string) string {
	sc := sn.src.schema
	c := func(name, fallback string) string { return sc.col("", "sessions", name, fallback) }
	return "SELECT id, " + strings.Join([]string{
		c("project", "''"), c("agent", "''"),
		c("first_message", "''"), c("display_name", "''"),
		c("started_at", "''"), c("ended_at", "''"),
		c("message_count", "0"), c("user_message_count", "0"),
		c("parent_session_id", "''"), c("relationship_type", "''"),
		c("created_at", "''"), c("file_hash", "''"),
		c("total_output_tokens", "0"), c("peak_context_tokens", "0"),
		c("deleted_at", "''"), c("cwd", "''"),
		c("sync_marker", "''"), asText(c("transcript_revision", "''")),
		asText(c("data_version", "''")), c("local_modified_at", "''"),
	}, ", ") + " FROM sessions WHERE " + where
}

func (sn *snapshot) scanHeader(row interface{ Scan(...any) error }, h *record.Session) (path, marker, revision string, err error) {
	*h = record.Session{Kind: record.KindSession}
	var rev [3]string
	err = row.Scan(&h.ID, &h.Project, &h.Agent, &h.FirstMessage, &h.DisplayName,
		&h.StartedAt, &h.EndedAt, &h.MessageCount, &h.UserMessageCount,
		&h.ParentSessionID, &h.RelationshipType, &h.CreatedAt, &h.FileHash,
		&h.TotalOutputTokens, &h.PeakContextTokens, &h.DeletedAt, &path, &marker, &rev[0], &rev[1], &rev[2])
	if err != nil {
		return "", "", "", err
	}
	if path == "" && strings.HasPrefix(h.Project, "/") {
		path = h.Project
	}
	// Keyed: the header holds unmasked text (first_message), and the store
	// keeps the revision.
	d := watermark.NewKeyedDigest(sn.key)
	for _, r := range rev {
		d.String(r)
	}
	d.String(headerDigest(h))
	return path, marker, d.Sum(), nil
}

// unmoved returns the sessions among ids whose change markers are those the
// state holds for them, stored whole by the rules this stream is masked
// with: unchanged, found in one read of the state and one of the source
// before any session is read on its own. Most sessions in the overlap
// window are; setting them aside first also means a cycle that finds
// nothing new takes no read sequence, so it writes nothing.
func (sn *snapshot) unmoved(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if sn.opt.Full || len(ids) == 0 {
		return out, nil
	}
	entries, err := sn.state.Lookup(ctx, ids)
	if err != nil || len(entries) == 0 {
		return out, err
	}
	var known []string
	for id, e := range entries {
		if !e.Purged && e.Tombstone != watermark.Removed && (sn.opt.Ruleset == "" || e.Ruleset == sn.opt.Ruleset) {
			known = append(known, id)
		}
	}
	err = sn.readTx(ctx, "find changes", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, sn.headerQuery("id IN (SELECT value FROM json_each(?))"), jsonArray(known))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h record.Session
			_, marker, revision, err := sn.scanHeader(rows, &h)
			if err != nil {
				return err
			}
			e := entries[h.ID]
			out[h.ID] = e.Marker == marker && e.Revision == revision
		}
		return rows.Err()
	})
	return out, err
}

func asText(expr string) string { return "CAST(" + expr + " AS TEXT)" }

// headerDigest condenses the header fields read from the source (not the
// ones av-read adds: machine, user, project, sync fields).
func headerDigest(h *record.Session) string {
	d := watermark.NewDigest()
	for _, f := range []string{h.ID, h.Project, h.Agent, h.FirstMessage, h.DisplayName,
		h.StartedAt, h.EndedAt, h.ParentSessionID, h.RelationshipType, h.CreatedAt, h.FileHash, h.DeletedAt} {
		d.String(f)
	}
	for _, n := range []int64{h.MessageCount, h.UserMessageCount, h.TotalOutputTokens, h.PeakContextTokens} {
		d.Int(n)
	}
	return d.Sum()
}

// sessionDigest proves a whole session: its header, every row, and who it
// is stored for (a new user id re-sends it at the next verification).
func sessionDigest(key []byte, h *record.Session, rows string, user []string) string {
	d := watermark.NewKeyedDigest(key)
	d.String(headerDigest(h))
	d.String(rows)
	for _, u := range user {
		d.String(u)
	}
	return d.Sum()
}
