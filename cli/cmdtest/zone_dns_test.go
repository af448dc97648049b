package cmdtest

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
)

// TestZoneDNSFlagErrors: bad DNS/VIP flags stop `meshc zone` before it binds
// anything, with exit code 2 and a message naming the flag.
func TestZoneDNSFlagErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--dns-vip-cidr", "nope"}, `--dns-vip-cidr: VIP range "nope" is not a CIDR`},
		{[]string{"--dns-vip-cidr", "240.0.0.1/4"}, "has host bits set; did you mean 240.0.0.0/4?"},
		{[]string{"--dns-mesh-addr", "default"}, `--dns-mesh-addr "default": want MESH=host:port`},
		{[]string{"--dns-upstream", "a:b:c:d:e:1:2:3:4"}, "--dns-upstream"},
		{[]string{"--dns-ttl", "10ms"}, "--dns-ttl 10ms: want at least 1s"},
	} {
		args := append([]string{"zone", "--name", "z", "--standalone", "--dir", dir, "--dev", "--state-dir", dir,
			"--api-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0"}, tc.flags...)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a zone that starts would run forever
		cmd := exec.CommandContext(ctx, testenv.Meshc(t), args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("meshc zone %v: %v, stderr %q; want exit 2 and %q", tc.flags, err, stderr.String(), tc.want)
		}
	}
}
