package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The image's user (Containerfile: USER 65532:65532).
const imageUID = 65532

// TestContainerImage builds the image with deploy/build-image (or takes TILLIT_TEST_IMAGE, an
// image CI built already) and runs it as the README says: a named volume on /data, a directory
// on /keys. It checks that the image is the static binary on an empty base, that a start
// without /keys refuses to make the root key anywhere else, that the first start runs as uid
// 65532, prints the admin token and answers /healthz on the published port, that the data lands
// in the volume and the root key beside it on /keys, and that a new container on the same
// volume, with /keys read-only, serves the same data with the same token.
//
// Skips when no container engine answers (docker info, or TILLIT_CONTAINER_ENGINE's), unless
// TILLIT_REQUIRE_CONTAINER=1 (CI where one runs).
func TestContainerImage(t *testing.T) {
	if os.Getenv("TILLIT_TEST_STORE") == "postgres" {
		t.Skip("the image keeps its store in SQLite files in its volume; the SQLite pass runs this test")
	}
	e := findEngine(t)
	image := buildImage(t, e)
	checkImageConfig(t, e, image)
	checkImageFiles(t, e, image)

	volume := "tillit-test-" + randomHex(t)
	t.Cleanup(func() { e.try(context.Background(), "volume", "rm", "-f", volume) })
	keysDir := t.TempDir()
	if err := os.Chown(keysDir, imageUID, imageUID); err != nil {
		requireOrSkip(t, fmt.Sprintf("the key directory cannot be given to uid %d (the test needs root): %v", imageUID, err))
	}

	// Without /keys the root key has nowhere to go: the start fails rather than put it in the
	// data volume or in the container's own layer, which docker rm would take along.
	keyless := runDetached(t, e, "-v", volume+":/data", image)
	if log, listening := keyless.follow(t); listening || !strings.Contains(log, "/keys/root.key") {
		t.Fatalf("a start without /keys served (%v) and logged %q; want a failure naming /keys/root.key", listening, log)
	}
	if code := e.run(t, "wait", keyless.name); code != "1" {
		t.Errorf("a start without /keys exited %s; want 1", code)
	}

	first := startContainer(t, e, image, volume, keysDir+":/keys")
	token := adminToken(t, first.log)
	contactID := createContact(t, first.base, token)
	first.stop(t)
	checkVolume(t, e, first.name)
	checkRootKey(t, keysDir)

	second := startContainer(t, e, image, volume, keysDir+":/keys:ro")
	if strings.Contains(second.log, "One-time admin token") {
		t.Errorf("the second container printed a new admin token: it did not find the store in the volume\n%s", second.log)
	}
	var c struct {
		Email string `json:"email"`
	}
	if st := apiCall(t, second.base, token, "GET", "/api/v1/contacts/"+contactID, "", &c); st != http.StatusOK || c.Email != "cora.container@example.org" {
		t.Errorf("GET the contact after the restart: %d %+v; want 200 with cora.container@example.org", st, c)
	}
	second.stop(t)
}

// engine runs a container engine's command line (docker, or podman with the same arguments).
type engine struct{ name string }

// findEngine returns the engine TILLIT_CONTAINER_ENGINE names (default docker) when its info
// command succeeds, and skips (or fails, with TILLIT_REQUIRE_CONTAINER=1) when it does not.
func findEngine(t *testing.T) engine {
	e := engine{name: cmp.Or(os.Getenv("TILLIT_CONTAINER_ENGINE"), "docker")}
	if _, err := exec.LookPath(e.name); err != nil {
		requireOrSkip(t, fmt.Sprintf("no container engine: %v", err))
	}
	if out, err := e.try(t.Context(), "info"); err != nil {
		requireOrSkip(t, fmt.Sprintf("no container engine runs (%s info: %v: %s)", e.name, err, lastLine(out)))
	}
	return e
}

// requireOrSkip skips the test for why, or fails it when TILLIT_REQUIRE_CONTAINER=1.
func requireOrSkip(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("TILLIT_REQUIRE_CONTAINER") == "1" {
		t.Fatalf("%s; TILLIT_REQUIRE_CONTAINER=1 requires the container test to run", why)
	}
	t.Skip(why)
}

// try runs the engine with args and returns its output, stdout and stderr together.
func (e engine) try(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, e.name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// run is try that fails the test on an error.
func (e engine) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.try(t.Context(), args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", e.name, strings.Join(args, " "), err, out)
	}
	return out
}

// buildImage returns TILLIT_TEST_IMAGE, or builds the image under a tag of its own with
// deploy/build-image and removes it when the test ends.
func buildImage(t *testing.T, e engine) string {
	if image := os.Getenv("TILLIT_TEST_IMAGE"); image != "" {
		return image
	}
	tag := "tillit-test:" + randomHex(t)
	cmd := exec.CommandContext(t.Context(), "../../deploy/build-image", tag)
	cmd.Env = append(os.Environ(), "TILLIT_CONTAINER_ENGINE="+e.name)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deploy/build-image: %v\n%s", err, out)
	}
	t.Cleanup(func() { e.try(context.Background(), "rmi", "-f", tag) })
	return tag
}

// checkImageConfig checks the image's user, volume, port, entry point and settings.
func checkImageConfig(t *testing.T, e engine, image string) {
	var cfg struct {
		User         string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
		Entrypoint   []string
		Cmd          []string
		Env          []string
	}
	if err := json.Unmarshal([]byte(e.run(t, "image", "inspect", "--format", "{{json .Config}}", image)), &cfg); err != nil {
		t.Fatal(err)
	}
	_, port := cfg.ExposedPorts["8080/tcp"]
	_, volume := cfg.Volumes["/data"]
	if cfg.User != "65532:65532" || !port || !volume || !slices.Equal(cfg.Entrypoint, []string{"/tillit"}) || !slices.Equal(cfg.Cmd, []string{"serve"}) {
		t.Errorf("image config %+v; want user 65532:65532, port 8080/tcp, volume /data, [/tillit] [serve]", cfg)
	}
	for _, want := range []string{"TILLIT_DATA=/data", "TILLIT_LISTEN=0.0.0.0:8080", "TILLIT_ROOT_KEY_FILE=/keys/root.key"} {
		if !slices.Contains(cfg.Env, want) {
			t.Errorf("image env %q lacks %s", cfg.Env, want)
		}
	}
}
