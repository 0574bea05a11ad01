//go:build !unix

package agentsview

// fileID is 0 where the platform gives no cheap file identity; the database
// id, user_version and schema still name the database.
func fileID(string) uint64 { return 0 }
