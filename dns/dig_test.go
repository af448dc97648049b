package dns

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/meshc/meshc/internal/testenv"
)

// TestDig asks the server with BIND's dig, over UDP and TCP, for every name form.
func TestDig(t *testing.T) {
	dig := testenv.Binary(t, "dig", "bind9-dnsutils")
	table, vips := fixture(t)
	s := startServer(t, Config{MeshAddrs: map[string]string{"default": "127.0.0.1:0"}}, table)
	host, port, _ := net.SplitHostPort(s.MeshAddr("default"))
	d := vips["default"]
	for _, tc := range []struct{ name, qtype, want string }{
		{"backend.mesh", "A", d.Services["backend"].String()},
		{"echo-server_echo-example_svc_1010.mesh", "A", d.Services["echo-server_echo-example_svc_1010"].String()},
		{"echo-server.echo-example.svc.1010.mesh", "A", d.Services["echo-server_echo-example_svc_1010"].String()},
		{"backend.8080.mesh", "A", d.Hosts["backend.8080.mesh"].String()},
		{"backend.mesh", "AAAA", "status: NOERROR"},
		{"nope.mesh", "A", "status: NXDOMAIN"},
		{"example.com", "A", "status: REFUSED"},
	} {
		for _, proto := range []string{"+notcp", "+tcp"} {
			out, err := exec.Command(dig, "@"+host, "-p", port, proto, "+time=5", "+tries=1", tc.name, tc.qtype).CombinedOutput()
			if err != nil {
				t.Fatalf("dig %s %s %s: %v\n%s", proto, tc.name, tc.qtype, err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("dig %s %s %s: want %q in\n%s", proto, tc.name, tc.qtype, tc.want, out)
			}
			if tc.qtype == "AAAA" && strings.Contains(string(out), "ANSWER: 1") {
				t.Errorf("AAAA without a v6 range answered:\n%s", out)
			}
		}
	}
}
