package e2e

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServiceUnitIsHardenedAndValid: the shipped systemd unit keeps
// avsync's files private (UMask), lets a running sync finish on stop
// (KillMode=mixed), is sandboxed, and passes systemd-analyze verify with
// no warning (it only warns about a misspelt value, so any output fails).
func TestServiceUnitIsHardenedAndValid(t *testing.T) {
	root := repoRoot(t)
	unit, err := os.ReadFile(filepath.Join(root, "scripts", "avsync.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"UMask=0077", "KillMode=mixed", "NoNewPrivileges=yes", "PrivateTmp=yes",
		"ProtectSystem=strict", "ReadWritePaths=-%h/.local/state/avsync -%h/.local/share/avsync"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want)).Match(unit) {
			t.Errorf("avsync.service lacks %s", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is missing: .ci/run installs systemd")
		}
		t.Skip("SKIPPED: systemd-analyze is not installed, the unit is not verified (apt-get install systemd)")
	}
	// As installed: ExecStart edited to this checkout.
	dir := t.TempDir()
	installed := regexp.MustCompile(`(?m)^ExecStart=.*$`).ReplaceAll(unit, []byte("ExecStart="+filepath.Join(root, "scripts", "av-daemon")))
	path := filepath.Join(dir, "avsync.service")
	os.WriteFile(path, installed, 0o600)
	var out bytes.Buffer
	cmd := exec.Command(analyze, "verify", "--man=no", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out.String())
	}
}

// TestLaunchdPlistIsComplete: the launchd agent is well-formed XML and
// every path in it is one the README tells the user to replace.
func TestLaunchdPlistIsComplete(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts", "io.avsync.daemon.plist"))
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = false
	for {
		if _, err := dec.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("plist: %v", err)
			}
			break
		}
	}
	for _, want := range []string{"<key>Umask</key>", "<key>PATH</key>", "<key>AV_DB</key>"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("plist lacks %s", want)
		}
	}
	// Every absolute path is under /Users/you, the one string to replace.
	for _, m := range regexp.MustCompile(`<string>(/[^<]*)</string>`).FindAllSubmatch(data, -1) {
		if !bytes.HasPrefix(m[1], []byte("/Users/you/")) && !bytes.HasPrefix(m[1], []byte("/usr/")) && !bytes.HasPrefix(m[1], []byte("/bin")) {
			t.Errorf("plist path %s is not under /Users/you", m[1])
		}
	}
}
