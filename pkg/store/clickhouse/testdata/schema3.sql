-- The ClickHouse tables of avsync's schema 3 (before store v2), as its
-- av-write created them: the migration test replays them.
CREATE TABLE IF NOT EXISTS store_meta (key String, value String, _version UInt64)
    ENGINE = MergeTree ORDER BY (key, _version);
CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, applied_at String)
    ENGINE = MergeTree ORDER BY version;
CREATE TABLE IF NOT EXISTS sessions (org_id String, machine String, id String, _gen UInt64,
    project String, agent String, first_message String, display_name String, started_at String, ended_at String,
    message_count Int64, user_message_count Int64, parent_session_id String, relationship_type String,
    created_at String, file_hash String, total_output_tokens Int64, peak_context_tokens Int64, deleted_at String,
    user_id String, user_name String, project_id String, project_name String, _version UInt64)
    ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, id);
CREATE TABLE IF NOT EXISTS store_machines (org_id String, machine String, seq Int64, read_seq Int64,
    hostname String, writer String) ENGINE = ReplacingMergeTree(seq) ORDER BY (org_id, machine);
CREATE TABLE IF NOT EXISTS messages (org_id String, machine String, session_id String, _gen UInt64, ordinal Int64,
    role String, content String, thinking String, timestamp String, has_thinking UInt8, has_tool_use UInt8,
    content_length Int64, model String, token_usage String, context_tokens Int64, output_tokens Int64,
    is_system UInt8, _version UInt64)
    ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, session_id, _gen, ordinal);
CREATE TABLE IF NOT EXISTS tool_calls (org_id String, machine String, session_id String, _gen UInt64,
    message_ordinal Int64, call_index Int64, tool_use_id String, tool_name String, category String,
    input_json String, skill_name String, result_content Nullable(String), result_content_length Nullable(Int64),
    subagent_session_id String, _version UInt64)
    ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, session_id, _gen, message_ordinal, call_index);
CREATE TABLE IF NOT EXISTS git_links (org_id String, machine String, session_id String, _gen UInt64,
    commit_sha String, pr_url String, message_ordinal Int64, link_type String, confidence String, _version UInt64)
    ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, session_id, _gen, commit_sha, pr_url);
CREATE TABLE IF NOT EXISTS sync_watermarks (org_id String, machine String, session_id String,
    file_hash String, last_ordinal Int64, resend_from Int64, fingerprint String, base_fingerprint String,
    header_digest String, read_at String, synced_at String, _version UInt64)
    ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, session_id);
CREATE TABLE IF NOT EXISTS marks_snapshots (org_id String, reporter String, user_id String, _gen UInt64,
    _version UInt64) ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, reporter, user_id);
CREATE TABLE IF NOT EXISTS session_stars (org_id String, reporter String, user_id String, _gen UInt64,
    session_id String, created_at String, _version UInt64)
    ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, reporter, user_id, _gen, session_id);
CREATE TABLE IF NOT EXISTS message_pins (org_id String, reporter String, user_id String, _gen UInt64,
    session_id String, ordinal Int64, note String, created_at String, _version UInt64)
    ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, reporter, user_id, _gen, session_id, ordinal);
CREATE TABLE IF NOT EXISTS session_deletes (org_id String, machine String, session_id String,
    reason String, deleted_at String, _deleted UInt8, _version UInt64)
    ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, session_id);
ALTER TABLE sync_watermarks ADD COLUMN prefix_digest String DEFAULT '';
ALTER TABLE sync_watermarks ADD COLUMN digest String DEFAULT '';
ALTER TABLE sync_watermarks ADD COLUMN base_digest String DEFAULT '';
ALTER TABLE sync_watermarks ADD COLUMN marker String DEFAULT '';
ALTER TABLE sync_watermarks ADD COLUMN revision String DEFAULT '';
ALTER TABLE sync_watermarks ADD COLUMN read_seq Int64 DEFAULT 0;
ALTER TABLE sync_watermarks ADD COLUMN seq Int64 DEFAULT 0;
ALTER TABLE sync_watermarks ADD COLUMN tombstone String DEFAULT '';
ALTER TABLE sync_watermarks ADD COLUMN purged UInt8 DEFAULT 0;
