package postgres

import "avsync/pkg/store/sqlschema"

// queue adds the statements writing groups [lo, hi) of the buffer to p:
// one per table, whatever the number of groups, in the order a group's own
// writes would go (clear its replaced rows, then upsert), which is safe
// because no session is in the buffer twice. Messages and tool calls go by
// COPY when none can meet a stored row (see copy.go).
func queue(p *pipeline, u *buffer, org, machine string, lo, hi int) {
	from, to := u.groups[lo].at, u.offsets()
	if hi < len(u.groups) {
		to = u.groups[hi].at
	}
	copied := u.copyable(lo, hi)
	if to.clears > from.clears {
		ids, starts := u.clears.id[from.clears:to.clears], u.clears.from[from.clears:to.clears]
		for _, t := range []struct{ table, ordinal string }{
			{"tool_calls", "message_ordinal"}, {"git_links", "message_ordinal"}, {"messages", "ordinal"},
		} {
			// The rows are found per session by a subquery planned alone
			// (OFFSET 0), so its index scan takes all four key columns. A
			// join lets a table not analyzed yet (a first sync) be read whole
			// for every flush: without statistics the planner takes
			// org_id and machine for selective.
			p.add(`DELETE FROM `+t.table+` WHERE ctid = ANY(ARRAY(SELECT r.ctid
				FROM unnest($3::text[], $4::bigint[]) AS c(session_id, from_ordinal),
				LATERAL (SELECT ctid FROM `+t.table+` t WHERE t.org_id = $1 AND t.machine = $2
					AND t.session_id = c.session_id AND t.`+t.ordinal+` >= c.from_ordinal OFFSET 0) r))`,
				org, machine, ids, starts)
		}
	}
	add := func(sql string, n int, args []any) {
		if n > 0 {
			p.add(sql, append([]any{org, machine}, args...)...)
		}
	}
	add(sessionInsert+sqlschema.SessionUpdate, to.sessions-from.sessions, u.sessions.args(from.sessions, to.sessions))
	if !copied {
		add(messageInsert, to.msgs-from.msgs, u.msgs.args(from.msgs, to.msgs))
		add(toolInsert, to.tools-from.tools, u.tools.args(from.tools, to.tools))
	} else {
		if to.msgs > from.msgs {
			u.msgStream.messages(&u.msgs, org, machine, from.msgs, to.msgs)
			p.copyIn(messageCopy, u.msgStream.b)
		}
		if to.tools > from.tools {
			u.toolStream.tools(&u.tools, org, machine, from.tools, to.tools)
			p.copyIn(toolCopy, u.toolStream.b)
		}
	}
	add(linkInsert, to.links-from.links, u.links.args(from.links, to.links))
	add(markInsert, to.marks-from.marks, u.marks.args(from.marks, to.marks))
	add(`INSERT INTO session_deletes (org_id, machine, session_id, reason, deleted_at)
		SELECT $1, $2, u.* FROM unnest($3::text[], $4::text[], $5::text[]) AS u `+sqlschema.TombstoneConflict,
		to.tombs-from.tombs, []any{u.tombs.id[from.tombs:to.tombs], u.tombs.reason[from.tombs:to.tombs], u.tombs.deletedAt[from.tombs:to.tombs]})
	add(`DELETE FROM session_deletes WHERE org_id = $1 AND machine = $2 AND session_id = ANY($3::text[])`,
		to.untombs-from.untombs, []any{u.untombs[from.untombs:to.untombs]})
}
