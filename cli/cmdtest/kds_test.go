package cmdtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshc/meshc/internal/testenv"
)

type proc = testenv.Proc

// startMeshc runs meshc with args; a process still running when the test ends is killed.
func startMeshc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := testenv.Start(t, "meshc "+strings.Join(args[:min(3, len(args))], " "), testenv.Meshc(t), args...)
	t.Cleanup(func() { _ = p.Stop(syscall.SIGKILL) }) // runs before Start's SIGTERM (cleanups run last-first)
	return p
}

// addr waits for the log line `msg="<what> listening" addr=HOST:PORT`.
func addr(t *testing.T, p *proc, what string) string {
	t.Helper()
	return p.WaitLog(t, `msg="`+what+` listening" .*?addr=(\S+)`, 30*time.Second)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Until(t, 30*time.Second, what, cond)
}

func freePort(t *testing.T) string { return testenv.FreeAddr(t) }

func httpJSON(t *testing.T, method, url string, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/yaml")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

func git(t *testing.T, dir string, args ...string) { t.Helper(); testenv.Git(t, dir, args...) }

type zoneView struct {
	Online        bool   `json:"online"`
	Enabled       bool   `json:"enabled"`
	BundleVersion string `json:"bundleVersion"`
	InSync        bool   `json:"inSync"`
}

type linkView struct {
	Connected       bool   `json:"connected"`
	BundleVersion   string `json:"bundleVersion"`
	RemoteIngresses []struct {
		Name              string `json:"name"`
		Zone              string `json:"zone"`
		AvailableServices []struct {
			Tags      map[string]string `json:"tags"`
			Instances int               `json:"instances"`
		} `json:"availableServices"`
	} `json:"remoteIngresses"`
}

func (l linkView) services() []string {
	var out []string
	for _, r := range l.RemoteIngresses {
		for _, a := range r.AvailableServices {
			out = append(out, fmt.Sprintf("%s/%s=%d", r.Zone, a.Tags["kuma.io/service"], a.Instances))
		}
	}
	return out
}

// TestKDSGlobalAndZonesProcesses runs a global (Git remote) and two zone
// agents as real processes: both zones sync; a push reaches both; zone-b's
// service shows in zone-a's view of zone-b's ingress; with the global killed
// zones keep registering dataplanes and a restarted zone serves its persisted
// bundle; changes made while apart (a removed policy, a removed ingress)
// converge on reconnect; deleting a connected zone is refused, then allowed.
func TestKDSGlobalAndZonesProcesses(t *testing.T) {
	t.Parallel()
	testenv.Binary(t, "git", "git")
	tmp := t.TempDir()
	bare, work, gstate := filepath.Join(tmp, "remote.git"), filepath.Join(tmp, "work"), filepath.Join(tmp, "global")
	git(t, tmp, "init", "-q", "--bare", "-b", "main", bare)
	git(t, tmp, "clone", "-q", bare, work)
	if out, err := exec.Command("cp", "-r", filepath.Join(root(), "examples", "meshes"), filepath.Join(root(), "examples", "default"), work).CombinedOutput(); err != nil {
		t.Fatalf("copy examples: %v %s", err, out)
	}
	git(t, work, "add", "-A")
	git(t, work, "commit", "-qm", "mesh")
	git(t, work, "push", "-q", "origin", "main")

	kdsAddr := freePort(t)
	startGlobal := func() (*proc, string) {
		g := startMeshc(t, "global", "--git", bare, "--ref", "main", "--poll", "200ms", "--state-dir", gstate,
			"--api-addr", "127.0.0.1:0", "--kds-addr", kdsAddr)
		addr(t, g, "kds")
		return g, "http://" + addr(t, g, "api")
	}
	global, gapi := startGlobal()
	bundleVersion := func() string {
		var b struct {
			Version string `json:"version"`
			Bundle  *struct {
				Version string `json:"version"`
			} `json:"bundle"`
		}
		if httpJSON(t, "GET", gapi+"/bundle", "", &b) != 200 {
			return ""
		}
		if b.Bundle != nil {
			return b.Bundle.Version
		}
		return b.Version
	}
	var v1 string
	waitFor(t, "the global's first bundle", func() bool { v1 = bundleVersion(); return v1 != "" })

	zoneArgs := func(name string) []string {
		tok := filepath.Join(tmp, name+".token")
		if r := run(t, tmp, "token", "zone", "--name", name, "--state-dir", gstate, "-o", tok); r.code != 0 {
			t.Fatalf("meshc token zone: %d %s", r.code, r.stderr)
		}
		return []string{"zone", "--name", name, "--global", "grpcs://" + kdsAddr, "--token-file", tok,
			"--ca-cert", filepath.Join(gstate, "kds-server.crt"), "--state-dir", filepath.Join(tmp, name),
			"--api-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0", "--dev"}
	}
	startZone := func(name string) (*proc, string) {
		z := startMeshc(t, zoneArgs(name)...)
		return z, "http://" + addr(t, z, "api")
	}
	za, aapi := startZone("zone-a")
	zb, bapi := startZone("zone-b")
	zones := func() map[string]zoneView {
		var zs []struct {
			Name string `json:"name"`
			zoneView
		}
		r := run(t, tmp, "get", "zones", "-o", "json", "--cp", gapi)
		if r.code != 0 {
			t.Fatalf("meshc get zones: %d %s", r.code, r.stderr)
		}
		if err := json.Unmarshal([]byte(r.stdout), &zs); err != nil {
			t.Fatalf("meshc get zones -o json: %v\n%s", err, r.stdout)
		}
		out := map[string]zoneView{}
		for _, z := range zs {
			out[z.Name] = z.zoneView
		}
		return out
	}
	link := func(api string) linkView {
		var l linkView
		httpJSON(t, "GET", api+"/global", "", &l)
		return l
	}
	bothAt := func(v string) func() bool {
		return func() bool {
			zs := zones()
			return zs["zone-a"].Online && zs["zone-b"].Online && zs["zone-a"].BundleVersion == v && zs["zone-b"].BundleVersion == v &&
				link(aapi).BundleVersion == v && link(bapi).BundleVersion == v
		}
	}
	waitFor(t, "both zones online with the first bundle", bothAt(v1))
	if r := run(t, tmp, "get", "zones", "--cp", gapi); !regexp.MustCompile(`zone-a\s+online\s+` + v1).MatchString(r.stdout) {
		t.Fatalf("meshc get zones table:\n%s", r.stdout)
	}

	// zone-b's ingress and a backend instance reach zone-a.
	if c := httpJSON(t, "PUT", bapi+"/zone-ingresses/ingress-b", "type: ZoneIngress\nname: ingress-b\nnetworking:\n  address: 127.0.0.1\n  port: 10001\n  advertisedAddress: 127.0.0.1\n  advertisedPort: 10001\n", nil); c >= 300 {
		t.Fatalf("PUT zone ingress at zone-b: %d", c)
	}
	dp := func(name, svc string) string {
		return fmt.Sprintf("type: Dataplane\nmesh: default\nname: %s\nnetworking:\n  address: 127.0.0.1\n  inbound:\n    - port: 9000\n      tags:\n        kuma.io/service: %s\n", name, svc)
	}
	if c := httpJSON(t, "PUT", bapi+"/meshes/default/dataplanes/backend-1", dp("backend-1", "backend"), nil); c >= 300 {
		t.Fatalf("PUT dataplane at zone-b: %d", c)
	}
	waitFor(t, "zone-a sees backend in zone-b's ingress", func() bool {
		return strings.Join(link(aapi).services(), ",") == "zone-b/backend=1"
	})
	if r := run(t, tmp, "get", "zone-ingresses", "--cp", gapi); !strings.Contains(r.stdout, "zone-b") || !strings.Contains(r.stdout, "default/backend=1") {
		t.Fatalf("meshc get zone-ingresses:\n%s%s", r.stdout, r.stderr)
	}

	// A Git push reaches both zones.
	edit := func(from, to string) {
		p := filepath.Join(work, "default", "timeouts.yaml")
		b, _ := os.ReadFile(p)
		if !bytes.Contains(b, []byte(from)) {
			t.Fatalf("timeouts.yaml has no %q", from)
		}
		os.WriteFile(p, bytes.Replace(b, []byte(from), []byte(to), 1), 0o644)
		git(t, work, "commit", "-qam", "edit")
		git(t, work, "push", "-q", "origin", "main")
	}
	edit("connectionTimeout: 5s", "connectionTimeout: 6s")
	var v2 string
	waitFor(t, "a new bundle after the push", func() bool { v2 = bundleVersion(); return v2 != "" && v2 != v1 })
	waitFor(t, "both zones apply the pushed bundle", bothAt(v2))

	// Global killed: zones keep working and registering.
	global.Stop(syscall.SIGKILL)
	waitFor(t, "zone-a sees the global gone", func() bool { return !link(aapi).Connected })
	if c := httpJSON(t, "PUT", aapi+"/meshes/default/dataplanes/web-1", dp("web-1", "web"), nil); c >= 300 {
		t.Fatalf("PUT dataplane at zone-a with the global down: %d", c)
	}
	var dps struct {
		Items []json.RawMessage `json:"items"`
	}
	httpJSON(t, "GET", aapi+"/meshes/default/dataplanes", "", &dps)
	if len(dps.Items) != 1 {
		t.Fatalf("zone-a's dataplanes with the global down: %d", len(dps.Items))
	}
	// zone-a restarted while the global is down serves the persisted bundle.
	za.Stop(syscall.SIGTERM)
	za, aapi = startZone("zone-a")
	waitFor(t, "restarted zone-a serves v2 from its state dir", func() bool {
		l := link(aapi)
		return l.BundleVersion == v2 && !l.Connected && strings.Join(l.services(), ",") == "zone-b/backend=1"
	})
	if !strings.Contains(za.Output(), "serving the persisted global state") {
		t.Fatal("restarted zone-a did not say it serves its persisted state")
	}
	var mesh map[string]any
	if c := httpJSON(t, "GET", aapi+"/meshes/default", "", &mesh); c != 200 {
		t.Fatalf("restarted zone-a without the global: GET /meshes/default = %d", c)
	}

	// Changes while apart: a policy removed in Git, zone-b's ingress removed.
	git(t, work, "rm", "-q", "default/timeouts.yaml")
	git(t, work, "commit", "-qm", "drop timeouts")
	git(t, work, "push", "-q", "origin", "main")
	if c := httpJSON(t, "DELETE", bapi+"/zone-ingresses/ingress-b", "", nil); c >= 300 {
		t.Fatalf("DELETE zone ingress at zone-b: %d", c)
	}
	global, gapi = startGlobal()
	var v3 string
	waitFor(t, "the global compiles the commit made while it was down", func() bool { v3 = bundleVersion(); return v3 != "" && v3 != v2 })
	waitFor(t, "both zones converge to v3", bothAt(v3))
	waitFor(t, "zone-a no longer sees zone-b's ingress", func() bool { return len(link(aapi).services()) == 0 })

	// Delete: refused while connected, allowed once zone-b is down.
	r := run(t, tmp, "delete", "zone", "zone-b", "--cp", gapi)
	if r.code == 0 || !strings.Contains(r.stderr, "zone: unable to delete Zone, Zone CP is still connected, please shut it down first") {
		t.Fatalf("meshc delete zone (connected): %d %s", r.code, r.stderr)
	}
	zb.Stop(syscall.SIGTERM)
	waitFor(t, "zone-b offline", func() bool { return !zones()["zone-b"].Online })
	if r := run(t, tmp, "delete", "zone", "zone-b", "--cp", gapi); r.code != 0 {
		t.Fatalf("meshc delete zone (disconnected): %d %s", r.code, r.stderr)
	}
	if _, ok := zones()["zone-b"]; ok {
		t.Fatal("zone-b still listed after delete")
	}

	// Zone{enabled: false} in Git: the global stops syncing zone-a and lists it disabled.
	os.WriteFile(filepath.Join(work, "meshes", "zone-a.yaml"), []byte("type: Zone\nname: zone-a\nenabled: false\n"), 0o644)
	git(t, work, "add", "-A")
	git(t, work, "commit", "-qm", "disable zone-a")
	git(t, work, "push", "-q", "origin", "main")
	waitFor(t, "zone-a listed disabled and offline", func() bool { z := zones()["zone-a"]; return !z.Enabled && !z.Online })
	if r := run(t, tmp, "get", "zones", "--cp", gapi); !regexp.MustCompile(`zone-a\s+disabled`).MatchString(r.stdout) {
		t.Fatalf("meshc get zones after disabling zone-a:\n%s", r.stdout)
	}
	waitFor(t, "zone-a told why", func() bool { return strings.Contains(za.Output(), `zone \"zone-a\" is disabled`) })
}
