// Package cmdtest runs the meshc binary as a user would — a real process,
// real files — and checks what it prints and how it exits. The binary is
// built once per test binary (testenv.Meshc); other command tests can share
// it through run.
package cmdtest

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"testing"

	"github.com/meshc/meshc/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	testenv.CleanupBuilds()
	os.Exit(code)
}

// result is what one meshc run printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// run executes meshc with args in dir and returns its output and exit code.
func run(t testing.TB, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(testenv.Meshc(t), args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("run meshc %v: %v", args, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// root is the module root; examples/ and testdata/ live there.
func root() string { return testenv.ModuleRoot() }

// golden compares got with the file at path, or rewrites it under -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s (run with -update to create it): %v", path, err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
