package agentsview

import (
	"context"
	"strings"
)

// Missing returns those of ids that name no session in the database, so a
// mistyped --session is reported instead of silently sending nothing.
func (s *Source) Missing(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM sessions WHERE id IN (?"+strings.Repeat(",?", len(ids)-1)+")", args...)
	if err != nil {
		return nil, sourceErrorf("%s: read sessions: %v", s.path, err)
	}
	defer rows.Close()
	found := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, sourceErrorf("%s: read sessions: %v", s.path, err)
		}
		found[id] = true
	}
	var missing []string
	for _, id := range ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	return missing, rows.Err()
}
