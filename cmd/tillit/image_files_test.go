package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// checkImageFiles reads a container's file system (create, export) and checks that the image
// holds tillit (root's, 0755, static, built for the image), /data (65532's, 0700) and /tmp
// (1777), and no other file with content: the engine adds only empty placeholders (/.dockerenv,
// /etc/hosts, …).
func checkImageFiles(t *testing.T, e engine, image string) {
	name := e.run(t, "create", image)
	defer e.try(context.Background(), "rm", "-f", "-v", name)
	files := readTar(t, e, "export", name)
	want := map[string]struct {
		uid  int
		mode fs.FileMode
	}{
		"tillit": {0, 0o755},
		"data/":  {imageUID, fs.ModeDir | 0o700},
		"tmp/":   {0, fs.ModeDir | fs.ModeSticky | 0o777},
	}
	for path, w := range want {
		h, ok := files[path]
		if !ok {
			t.Errorf("the image has no %s", path)
			continue
		}
		if h.Uid != w.uid || h.FileInfo().Mode() != w.mode {
			t.Errorf("%s: uid %d mode %v; want uid %d mode %v", path, h.Uid, h.FileInfo().Mode(), w.uid, w.mode)
		}
	}
	for path, h := range files {
		if _, ok := want[path]; !ok && h.Typeflag == tar.TypeReg && h.Size > 0 {
			t.Errorf("the image holds %s (%d bytes): the base is not empty", path, h.Size)
		}
	}
	checkBinary(t, e, name)
}

// checkBinary copies /tillit out of the container name and checks its build: no cgo (it runs
// on a base without libc), -trimpath, the tag tillit_image, and so the fallback TLS roots.
func checkBinary(t *testing.T, e engine, name string) {
	bin := filepath.Join(t.TempDir(), "tillit")
	e.run(t, "cp", name+":/tillit", bin)
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" || !strings.Contains(settings["-tags"], "tillit_image") {
		t.Errorf("/tillit was built with %v; want CGO_ENABLED=0, -trimpath, -tags tillit_image", settings)
	}
	if !slices.ContainsFunc(info.Deps, func(m *debug.Module) bool { return m.Path == "golang.org/x/crypto/x509roots/fallback" }) {
		t.Error("/tillit does not carry golang.org/x/crypto/x509roots/fallback: TLS would trust no server on the empty base")
	}
}

// tarEntry is a file of a tar stream: its header and a regular file's first 16 bytes.
type tarEntry struct {
	*tar.Header
	head []byte
}

// readTar runs the engine with args (export, cp … -) and returns the files of the tar it
// writes, by path without a leading "./" or "/".
func readTar(t *testing.T, e engine, args ...string) map[string]tarEntry {
	cmd := exec.CommandContext(t.Context(), e.name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	files := map[string]tarEntry{}
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s %v: %v", e.name, args, err)
		}
		f := tarEntry{Header: h}
		if h.Typeflag == tar.TypeReg {
			f.head = make([]byte, min(h.Size, 16))
			if _, err := io.ReadFull(tr, f.head); err != nil {
				t.Fatalf("%s %v: %s: %v", e.name, args, h.Name, err)
			}
		}
		files[strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")] = f
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s %v: %v\n%s", e.name, args, err, stderr.String())
	}
	return files
}
