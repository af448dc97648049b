package zone_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// TestE2EZoneDNS runs `meshc zone --dns-addr` as a process: a dataplane
// registered over the API gets a VIP from the mesh's vipCIDR, the zone's DNS
// answers backend.mesh with it (and REFUSED outside .mesh with
// --dns-upstream none), GET /meshes/default/vips lists VIP:80 and VIP:8080,
// and after a restart on the same state dir the service gets the same VIP.
func TestE2EZoneDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: not with -short")
	}
	t.Parallel()
	root := t.TempDir()
	meshDir, state := filepath.Join(root, "mesh"), filepath.Join(root, "state")
	if err := os.MkdirAll(meshDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cidr := netip.MustParsePrefix(fmt.Sprintf("240.%d.%d.0/28", 100+os.Getpid()%100, os.Getpid()/100%250+1))
	writeFile(t, filepath.Join(meshDir, "mesh.yaml"), "type: Mesh\nname: default\nnetworking:\n  vipCIDR: "+cidr.String()+"\n")
	dp := []byte("type: Dataplane\nmesh: default\nname: backend-1\nnetworking:\n  address: 127.0.0.1\n  inbound:\n    - port: 8080\n      tags: {kuma.io/service: backend}\n")

	runZone := func() (*proc, string, string) {
		z := start(t, "zone", "zone", "--name", "zone-1", "--standalone", "--dir", meshDir, "--dev", "--state-dir", state,
			"--api-addr", "127.0.0.1:0", "--xds-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0", "--dns-upstream", "none")
		api := z.waitFor(t, `msg="api listening".*? addr=(\S+)`, 30*time.Second)
		dnsAddr := z.waitFor(t, `msg="dns listening".*? addr=(\S+)`, 30*time.Second)
		z.waitFor(t, `msg="bundle applied"`, 30*time.Second)
		req, _ := http.NewRequest(http.MethodPut, "http://"+api+"/meshes/default/dataplanes/backend-1", bytes.NewReader(dp))
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("register backend-1: %v %v", resp, err)
		}
		resp.Body.Close()
		return z, api, dnsAddr
	}
	lookup := func(dnsAddr, name string) (*mdns.Msg, error) {
		m := new(mdns.Msg)
		m.SetQuestion(name, mdns.TypeA)
		r, err := mdns.Exchange(m, dnsAddr)
		return r, err
	}
	waitVIP := func(dnsAddr string) netip.Addr {
		var vip netip.Addr
		eventually(t, 10*time.Second, "backend.mesh resolves", func() error {
			r, err := lookup(dnsAddr, "backend.mesh.")
			if err != nil {
				return err
			}
			if len(r.Answer) != 1 {
				return fmt.Errorf("rcode %s, %d answers", mdns.RcodeToString[r.Rcode], len(r.Answer))
			}
			vip, _ = netip.AddrFromSlice(r.Answer[0].(*mdns.A).A.To4())
			return nil
		})
		return vip
	}

	z, api, dnsAddr := runZone()
	vip := waitVIP(dnsAddr)
	if !cidr.Contains(vip) {
		t.Fatalf("backend.mesh → %s, outside the mesh's vipCIDR %s", vip, cidr)
	}
	if r, err := lookup(dnsAddr, "example.com."); err != nil || r.Rcode != mdns.RcodeRefused {
		t.Errorf("example.com with --dns-upstream none: %v %v, want REFUSED", r, err)
	}
	if r, err := lookup(dnsAddr, "nope.mesh."); err != nil || r.Rcode != mdns.RcodeNameError {
		t.Errorf("nope.mesh: %v %v, want NXDOMAIN", r, err)
	}
	var vips struct {
		Items []struct {
			Address string `json:"address"`
			Port    int    `json:"port"`
			Service string `json:"service"`
		} `json:"items"`
	}
	_, body, err := get(context.Background(), http.DefaultClient, "http://"+api+"/meshes/default/vips")
	if err != nil || json.Unmarshal([]byte(body), &vips) != nil {
		t.Fatalf("GET /meshes/default/vips: %v %s", err, body)
	}
	var got []string
	for _, v := range vips.Items {
		got = append(got, fmt.Sprintf("%s:%d %s", v.Address, v.Port, v.Service))
	}
	if want := fmt.Sprintf("%s:80 backend,%s:8080 backend", vip, vip); strings.Join(got, ",") != want {
		t.Errorf("VIP listeners %v, want %s", got, want)
	}
	if data, err := os.ReadFile(filepath.Join(state, "vips.json")); err != nil || !strings.Contains(string(data), `"`+vip.String()+`"`) {
		t.Errorf("state dir vips.json does not hold %s: %v %s", vip, err, data)
	}

	// restart on the same state dir: the same VIP
	z.stop(t)
	_, _, dnsAddr = runZone()
	if again := waitVIP(dnsAddr); again != vip {
		t.Errorf("after a restart backend.mesh → %s, was %s", again, vip)
	}
}
