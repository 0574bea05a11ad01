package store

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestOpenRefusesASplitPassword: a password with an unencoded '@' then '/'
// parses as a URL whose host is part of the password; it is refused as a
// usage error before anything is dialled, and no part of it is printed.
func TestOpenRefusesASplitPassword(t *testing.T) {
	Register("splittest", func(context.Context, *url.URL, Options) (Store, error) {
		t.Fatal("the store was opened")
		return nil, nil
	})
	for _, raw := range []string{
		"splittest://u:Zq7x@K9/Wv3@127.0.0.1:1/avsync",
		"splittest://u:Zq7x@K9/Wv3@127.0.0.1:1/avsync?secure=1",
	} {
		_, err := Open(context.Background(), raw, Options{})
		if !errors.Is(err, ErrUsage) {
			t.Fatalf("Open(%q): %v, want a usage error", raw, err)
		}
		for _, part := range []string{"Zq7x", "K9", "Wv3"} {
			if strings.Contains(err.Error(), part) {
				t.Fatalf("Open(%q): %q shows %q of the password", raw, err, part)
			}
		}
	}
}
