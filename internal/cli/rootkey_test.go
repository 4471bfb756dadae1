package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeWarnsOfRootKeyInDataDirectory: found by a reliability trial (D14). The default root
// key sits in the data directory, so a copy of the directory decrypts on its own, while the
// README says to keep it apart. serve now says so at every start, on one line of stderr naming
// the file (never its content); a key kept elsewhere (TILLIT_ROOT_KEY_FILE) gets no warning.
func TestServeWarnsOfRootKeyInDataDirectory(t *testing.T) {
	dir := t.TempDir()
	p := startProgram(t, dir)
	p.stop()
	var warnings []string
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, "root key") && strings.Contains(line, "inside the data directory") {
			warnings = append(warnings, line)
		}
	}
	key, err := os.ReadFile(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], filepath.Join(dir, "root.key")) || !strings.Contains(warnings[0], "TILLIT_ROOT_KEY_FILE") ||
		strings.Contains(warnings[0], strings.TrimSpace(string(key))) {
		t.Errorf("warnings %q; want one line naming %s and TILLIT_ROOT_KEY_FILE", warnings, filepath.Join(dir, "root.key"))
	}

	apart := filepath.Join(t.TempDir(), "root.key")
	q := startProgramEnv(t, t.TempDir(), map[string]string{"TILLIT_ROOT_KEY_FILE": apart})
	q.stop()
	if strings.Contains(q.stderr.String(), "inside the data directory") {
		t.Errorf("a root key kept apart was warned about:\n%s", q.stderr.String())
	}
	if _, err := os.Stat(apart); err != nil {
		t.Errorf("the root key was not created at TILLIT_ROOT_KEY_FILE: %v", err)
	}
}

// TestRootKeyWarningSeesThroughLinks: found by a trial. A data directory that is a symbolic link
// to the folder holding the key got no warning.
func TestRootKeyWarningSeesThroughLinks(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	p := startProgramEnv(t, link, map[string]string{"TILLIT_ROOT_KEY_FILE": filepath.Join(real, "root.key")})
	p.stop()
	if !strings.Contains(p.stderr.String(), "inside the data directory") {
		t.Errorf("no warning for a key inside the linked data directory:\n%s", p.stderr.String())
	}
}
