package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The meshc binary is built at most once per test process, into buildDir.
var (
	buildOnce sync.Once
	buildDir  string
	meshcPath string
	buildErr  error
)

// Meshc returns the path of a meshc binary built from this module, building it
// the first time a test of the process asks. MESHC_E2E_RACE set (e.g. =1) builds it with
// -race, so the processes the tests start run under the race detector. A test
// binary calling Meshc must call CleanupBuilds from its TestMain after m.Run.
func Meshc(t testing.TB) string {
	t.Helper()
	if _, err := BuildMeshc(); err != nil {
		t.Fatal(err)
	}
	return meshcPath
}

// BuildMeshc is Meshc for a TestMain that builds before any test runs.
func BuildMeshc() (string, error) {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "meshc-test-build-")
		if buildErr != nil {
			return
		}
		meshcPath = filepath.Join(buildDir, "meshc")
		args := []string{"build", "-o", meshcPath}
		if os.Getenv("MESHC_E2E_RACE") != "" {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cli/meshc")...)
		cmd.Dir = ModuleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build meshc: %v\n%s", err, out)
		}
	})
	return meshcPath, buildErr
}

// CleanupBuilds removes the binaries Meshc built; TestMain calls it after m.Run.
func CleanupBuilds() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}
