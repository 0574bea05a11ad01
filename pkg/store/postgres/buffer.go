package postgres

import (
	"fmt"
	"strings"

	"avsync/pkg/record"
	"avsync/pkg/store/sqlschema"
	"avsync/pkg/watermark"
)

// buffer holds a batch's groups column by column until they are sent, so
// each table's rows go in one set-based statement per pipeline, however
// many sessions they belong to. A session is in it at most once (touching
// it again sends the buffer first), so statements never meet a key twice
// across groups, and each group's rows are a range of every column: a
// group is sent alone by slicing (see queue).
type buffer struct {
	groups []span // in order; the open group, if any, is last
	ids    map[string]bool
	bytes  int

	sessions sessionCols
	clears   clearCols
	msgs     messageCols
	tools    toolCols
	links    linkCols
	marks    markCols
	tombs    tombCols
	untombs  []string

	// COPY's rows, kept for their memory; a pipeline holds both at once.
	msgStream, toolStream copyStream
}

// span is where a group's rows start in each column.
type span struct {
	id string
	at offsets
}

type offsets struct{ sessions, clears, msgs, tools, links, marks, tombs, untombs int }

func (u *buffer) offsets() offsets {
	return offsets{len(u.sessions.id), len(u.clears.id), len(u.msgs.sid), len(u.tools.sid), len(u.links.sid),
		len(u.marks.id), len(u.tombs.id), len(u.untombs)}
}

// open starts a group of session id.
func (u *buffer) open(id string) {
	if u.ids == nil {
		u.ids = map[string]bool{}
	}
	u.ids[id] = true
	u.groups = append(u.groups, span{id: id, at: u.offsets()})
}

// truncate drops the rows from o on (an aborted group's).
func (u *buffer) truncate(o offsets) {
	u.sessions.truncate(o.sessions)
	u.clears.id, u.clears.from = cut(u.clears.id, o.clears), u.clears.from[:o.clears]
	u.msgs.truncate(o.msgs)
	u.tools.truncate(o.tools)
	u.links.truncate(o.links)
	u.marks.truncate(o.marks)
	u.tombs.truncate(o.tombs)
	u.untombs = cut(u.untombs, o.untombs)
}

// cut shortens a column to n, dropping its hold on the rows cut: a buffer
// is reused, and the text of rows already sent would stay alive.
func cut[T any](col []T, n int) []T {
	clear(col[n:])
	return col[:n]
}

// reset empties the buffer, keeping its memory.
func (u *buffer) reset() {
	u.truncate(offsets{})
	u.groups = u.groups[:0]
	clear(u.ids)
	u.bytes = 0
}

// sessionCols are the sessions table's columns after org and machine.
type sessionCols struct {
	id, project, agent, firstMessage, displayName, startedAt, endedAt                 []string
	parent, relationship, createdAt, fileHash, deletedAt, userID, userName, projectID []string
	projectName                                                                       []string
	messageCount, userMessageCount, outputTokens, peakContext                         []int64
}

const sessionInsert = `INSERT INTO sessions (org_id, machine, id, project, agent, first_message, display_name,
	started_at, ended_at, parent_session_id, relationship_type, created_at, file_hash, deleted_at, user_id,
	user_name, project_id, project_name, message_count, user_message_count, total_output_tokens, peak_context_tokens)
	SELECT $1, $2, u.* FROM unnest($3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) AS u
	ON CONFLICT (org_id, machine, id) DO UPDATE SET `

func (c *sessionCols) add(s *record.Session) {
	for _, p := range []struct {
		col *[]string
		v   string
	}{{&c.id, s.ID}, {&c.project, s.Project}, {&c.agent, s.Agent}, {&c.firstMessage, s.FirstMessage},
		{&c.displayName, s.DisplayName}, {&c.startedAt, s.StartedAt}, {&c.endedAt, s.EndedAt},
		{&c.parent, s.ParentSessionID}, {&c.relationship, s.RelationshipType}, {&c.createdAt, s.CreatedAt},
		{&c.fileHash, s.FileHash}, {&c.deletedAt, s.DeletedAt}, {&c.userID, s.UserID}, {&c.userName, s.UserName},
		{&c.projectID, s.ProjectID}, {&c.projectName, s.ProjectName}} {
		*p.col = append(*p.col, clean(p.v))
	}
	c.messageCount = append(c.messageCount, s.MessageCount)
	c.userMessageCount = append(c.userMessageCount, s.UserMessageCount)
	c.outputTokens = append(c.outputTokens, s.TotalOutputTokens)
	c.peakContext = append(c.peakContext, s.PeakContextTokens)
}

func (c *sessionCols) truncate(n int) {
	for _, col := range []*[]string{&c.id, &c.project, &c.agent, &c.firstMessage, &c.displayName, &c.startedAt,
		&c.endedAt, &c.parent, &c.relationship, &c.createdAt, &c.fileHash, &c.deletedAt, &c.userID, &c.userName,
		&c.projectID, &c.projectName} {
		*col = cut(*col, n)
	}
	c.messageCount, c.userMessageCount = c.messageCount[:n], c.userMessageCount[:n]
	c.outputTokens, c.peakContext = c.outputTokens[:n], c.peakContext[:n]
}

func (c *sessionCols) args(lo, hi int) []any {
	return []any{c.id[lo:hi], c.project[lo:hi], c.agent[lo:hi], c.firstMessage[lo:hi], c.displayName[lo:hi],
		c.startedAt[lo:hi], c.endedAt[lo:hi], c.parent[lo:hi], c.relationship[lo:hi], c.createdAt[lo:hi],
		c.fileHash[lo:hi], c.deletedAt[lo:hi], c.userID[lo:hi], c.userName[lo:hi], c.projectID[lo:hi],
		c.projectName[lo:hi], c.messageCount[lo:hi], c.userMessageCount[lo:hi], c.outputTokens[lo:hi], c.peakContext[lo:hi]}
}

// clearCols are the groups that replace their rows from an ordinal on.
type clearCols struct {
	id   []string
	from []int64
}

type messageCols struct {
	sid, role, content, thinking, timestamp, model, tokenUsage []string
	ordinal, contentLength, contextTokens, outputTokens        []int64
	hasThinking, hasToolUse, isSystem                          []bool
}

const messageInsert = `INSERT INTO messages (org_id, machine, session_id, role, content, thinking, "timestamp",
	model, token_usage, ordinal, content_length, context_tokens, output_tokens, has_thinking, has_tool_use, is_system)
	SELECT $1, $2, u.* FROM unnest($3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) AS u
	ON CONFLICT (org_id, machine, session_id, ordinal) DO UPDATE SET role=excluded.role, content=excluded.content,
	thinking=excluded.thinking, "timestamp"=excluded."timestamp", has_thinking=excluded.has_thinking,
	has_tool_use=excluded.has_tool_use, content_length=excluded.content_length, model=excluded.model,
	token_usage=excluded.token_usage, context_tokens=excluded.context_tokens,
	output_tokens=excluded.output_tokens, is_system=excluded.is_system`

func (c *messageCols) add(m *record.Message) {
	c.sid = append(c.sid, m.SessionID)
	c.role = append(c.role, clean(m.Role))
	c.content = append(c.content, clean(m.Content))
	c.thinking = append(c.thinking, clean(m.Thinking))
	c.timestamp = append(c.timestamp, clean(m.Timestamp))
	c.model = append(c.model, clean(m.Model))
	c.tokenUsage = append(c.tokenUsage, clean(m.TokenUsage))
	c.ordinal = append(c.ordinal, m.Ordinal)
	c.contentLength = append(c.contentLength, m.ContentLength)
	c.contextTokens = append(c.contextTokens, m.ContextTokens)
	c.outputTokens = append(c.outputTokens, m.OutputTokens)
	c.hasThinking = append(c.hasThinking, m.HasThinking)
	c.hasToolUse = append(c.hasToolUse, m.HasToolUse)
	c.isSystem = append(c.isSystem, m.IsSystem)
}

func (c *messageCols) truncate(n int) {
	c.sid, c.role, c.content, c.thinking = cut(c.sid, n), cut(c.role, n), cut(c.content, n), cut(c.thinking, n)
	c.timestamp, c.model, c.tokenUsage = cut(c.timestamp, n), cut(c.model, n), cut(c.tokenUsage, n)
	c.ordinal, c.contentLength, c.contextTokens, c.outputTokens = c.ordinal[:n], c.contentLength[:n], c.contextTokens[:n], c.outputTokens[:n]
	c.hasThinking, c.hasToolUse, c.isSystem = c.hasThinking[:n], c.hasToolUse[:n], c.isSystem[:n]
}

func (c *messageCols) args(lo, hi int) []any {
	return []any{c.sid[lo:hi], c.role[lo:hi], c.content[lo:hi], c.thinking[lo:hi], c.timestamp[lo:hi], c.model[lo:hi],
		c.tokenUsage[lo:hi], c.ordinal[lo:hi], c.contentLength[lo:hi], c.contextTokens[lo:hi], c.outputTokens[lo:hi],
		c.hasThinking[lo:hi], c.hasToolUse[lo:hi], c.isSystem[lo:hi]}
}

type toolCols struct {
	sid, toolUseID, toolName, category, inputJSON, skillName, subagent []string
	ordinal, callIndex                                                 []int64
	result                                                             []*string
	resultLength                                                       []*int64
}

const toolInsert = `INSERT INTO tool_calls (org_id, machine, session_id, tool_use_id, tool_name, category,
	input_json, skill_name, subagent_session_id, message_ordinal, call_index, result_content, result_content_length)
	SELECT $1, $2, u.* FROM unnest($3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) AS u
	ON CONFLICT (org_id, machine, session_id, message_ordinal, call_index) DO UPDATE SET
	tool_use_id=excluded.tool_use_id, tool_name=excluded.tool_name, category=excluded.category,
	input_json=excluded.input_json, skill_name=excluded.skill_name, result_content=excluded.result_content,
	result_content_length=excluded.result_content_length, subagent_session_id=excluded.subagent_session_id`

func (c *toolCols) add(t *record.ToolCall) {
	c.sid = append(c.sid, t.SessionID)
	c.toolUseID = append(c.toolUseID, clean(t.ToolUseID))
	c.toolName = append(c.toolName, clean(t.ToolName))
	c.category = append(c.category, clean(t.Category))
	c.inputJSON = append(c.inputJSON, clean(t.InputJSON))
	c.skillName = append(c.skillName, clean(t.SkillName))
	c.subagent = append(c.subagent, clean(t.SubagentSessionID))
	c.ordinal = append(c.ordinal, t.MessageOrdinal)
	c.callIndex = append(c.callIndex, t.CallIndex)
	var result *string
	if t.ResultContent != nil {
		s := clean(*t.ResultContent)
		result = &s
	}
	c.result = append(c.result, result)
	c.resultLength = append(c.resultLength, t.ResultContentLength)
}

func (c *toolCols) truncate(n int) {
	c.sid, c.toolUseID, c.toolName, c.category = cut(c.sid, n), cut(c.toolUseID, n), cut(c.toolName, n), cut(c.category, n)
	c.inputJSON, c.skillName, c.subagent = cut(c.inputJSON, n), cut(c.skillName, n), cut(c.subagent, n)
	c.ordinal, c.callIndex, c.result, c.resultLength = c.ordinal[:n], c.callIndex[:n], cut(c.result, n), cut(c.resultLength, n)
}

func (c *toolCols) args(lo, hi int) []any {
	return []any{c.sid[lo:hi], c.toolUseID[lo:hi], c.toolName[lo:hi], c.category[lo:hi], c.inputJSON[lo:hi],
		c.skillName[lo:hi], c.subagent[lo:hi], c.ordinal[lo:hi], c.callIndex[lo:hi], c.result[lo:hi], c.resultLength[lo:hi]}
}

// linkCols are git links; a link found twice in a group is kept once (the
// last), as the per-row upserts did: one statement may not update a row
// twice.
type linkCols struct {
	sid, sha, url, linkType, confidence []string
	ordinal                             []int64
	seen                                map[[2]string]int // the open group's links: (sha, url) → row
}

const linkInsert = `INSERT INTO git_links (org_id, machine, session_id, commit_sha, pr_url, link_type, confidence, message_ordinal)
	SELECT $1, $2, u.* FROM unnest($3, $4, $5, $6, $7, $8) AS u
	ON CONFLICT (org_id, machine, session_id, commit_sha, pr_url) DO UPDATE SET
	message_ordinal=excluded.message_ordinal, link_type=excluded.link_type, confidence=excluded.confidence`

func (c *linkCols) add(sid, sha, url, linkType, confidence string, ordinal int64) {
	if c.seen == nil {
		c.seen = map[[2]string]int{}
	}
	key := [2]string{sha, url}
	if i, ok := c.seen[key]; ok {
		c.linkType[i], c.confidence[i], c.ordinal[i] = linkType, confidence, ordinal
		return
	}
	c.seen[key] = len(c.sid)
	c.sid, c.sha, c.url = append(c.sid, sid), append(c.sha, sha), append(c.url, url)
	c.linkType, c.confidence, c.ordinal = append(c.linkType, linkType), append(c.confidence, confidence), append(c.ordinal, ordinal)
}

func (c *linkCols) truncate(n int) {
	c.sid, c.sha, c.url, c.linkType, c.confidence = cut(c.sid, n), cut(c.sha, n), cut(c.url, n), cut(c.linkType, n), cut(c.confidence, n)
	c.ordinal = c.ordinal[:n]
	clear(c.seen)
}

func (c *linkCols) args(lo, hi int) []any {
	return []any{c.sid[lo:hi], c.sha[lo:hi], c.url[lo:hi], c.linkType[lo:hi], c.confidence[lo:hi], c.ordinal[lo:hi]}
}

// markCols are watermarks, one column per watermark.Values entry, typed by
// its Go type, so a column added to watermark.Columns needs nothing here.
type markCols struct {
	id   []string
	cols []any // each a []string, []int64 or []bool
}

var markInsert = func() string {
	n := len(watermark.Values(watermark.Entry{}))
	params := make([]string, n+1)
	for i := range params {
		params[i] = fmt.Sprintf("$%d", i+3)
	}
	return `INSERT INTO sync_watermarks (org_id, machine, session_id, ` + watermark.Columns + `)
		SELECT $1, $2, u.* FROM unnest(` + strings.Join(params, ", ") + `) AS u
		ON CONFLICT (org_id, machine, session_id) DO UPDATE SET ` + sqlschema.UpdateAll(watermark.Columns)
}()

func (c *markCols) add(id string, e watermark.Entry) {
	vals := watermark.Values(e)
	if c.cols == nil {
		c.cols = make([]any, len(vals))
		for i, v := range vals {
			switch v.(type) {
			case string:
				c.cols[i] = []string(nil)
			case int64:
				c.cols[i] = []int64(nil)
			case bool:
				c.cols[i] = []bool(nil)
			default:
				panic(fmt.Sprintf("postgres: watermark column of type %T", v))
			}
		}
	}
	c.id = append(c.id, id)
	for i, v := range vals {
		switch col := c.cols[i].(type) {
		case []string:
			c.cols[i] = append(col, clean(v.(string)))
		case []int64:
			c.cols[i] = append(col, v.(int64))
		case []bool:
			c.cols[i] = append(col, v.(bool))
		}
	}
}

func (c *markCols) truncate(n int) {
	c.id = cut(c.id, n)
	for i, col := range c.cols {
		switch col := col.(type) {
		case []string:
			c.cols[i] = cut(col, n)
		case []int64:
			c.cols[i] = col[:n]
		case []bool:
			c.cols[i] = col[:n]
		}
	}
}

func (c *markCols) args(lo, hi int) []any {
	out := []any{c.id[lo:hi]}
	for _, col := range c.cols {
		switch col := col.(type) {
		case []string:
			out = append(out, col[lo:hi])
		case []int64:
			out = append(out, col[lo:hi])
		case []bool:
			out = append(out, col[lo:hi])
		}
	}
	return out
}

// tombCols are tombstones to record.
type tombCols struct{ id, reason, deletedAt []string }

func (c *tombCols) truncate(n int) {
	c.id, c.reason, c.deletedAt = cut(c.id, n), cut(c.reason, n), cut(c.deletedAt, n)
}
