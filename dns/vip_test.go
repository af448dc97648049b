package dns

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshc/meshc/compiler"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func svcs(mesh string, names ...string) compiler.MeshServices {
	ms := compiler.MeshServices{Mesh: mesh}
	for _, n := range names {
		ms.Services = append(ms.Services, compiler.ServiceEntry{Name: n})
	}
	return ms
}

func req(cidr string, ms compiler.MeshServices) MeshRequest {
	r := MeshRequest{MeshServices: ms}
	if cidr != "" {
		r.CIDRs = []netip.Prefix{netip.MustParsePrefix(cidr)}
	}
	return r
}

func newAlloc(t *testing.T, path string, c *clock) *Allocator {
	t.Helper()
	a, err := NewAllocator(AllocatorConfig{StatePath: path, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustSync(t *testing.T, a *Allocator, rs ...MeshRequest) compiler.VIPs {
	t.Helper()
	v, errs := a.Sync(rs)
	if len(errs) > 0 {
		t.Fatalf("sync: %v", errs)
	}
	return v
}

func TestVIPsStableAcrossRestartAndChurn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vips.json")
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a := newAlloc(t, path, c)
	v1 := mustSync(t, a, req("", svcs("default", "backend", "web", "db")), req("", svcs("other", "backend")))
	for _, s := range []string{"backend", "web", "db"} {
		addr := v1["default"].Services[s]
		if !netip.MustParsePrefix(DefaultVIPCIDR).Contains(addr) {
			t.Fatalf("%s: %s outside %s", s, addr, DefaultVIPCIDR)
		}
	}
	if v1["default"].Services["backend"] == v1["other"].Services["backend"] {
		t.Errorf("meshes hash apart: both backends got %s", v1["default"].Services["backend"])
	}
	// add and remove other services: existing VIPs stay
	v2 := mustSync(t, a, req("", svcs("default", "backend", "new1", "new2")), req("", svcs("other", "backend")))
	if v2["default"].Services["backend"] != v1["default"].Services["backend"] {
		t.Errorf("backend moved from %s to %s when others changed", v1["default"].Services["backend"], v2["default"].Services["backend"])
	}
	if _, ok := v2["default"].Services["web"]; ok {
		t.Error("removed service web still has a VIP")
	}
	// restart: a new allocator on the same file gives the same VIPs before and after its first sync
	b := newAlloc(t, path, c)
	if got := b.VIPs()["default"].Services; got["backend"] != v2["default"].Services["backend"] || got["new1"] != v2["default"].Services["new1"] {
		t.Errorf("after restart: %v, want %v", got, v2["default"].Services)
	}
	v3 := mustSync(t, b, req("", svcs("default", "backend", "new1", "new2")), req("", svcs("other", "backend")))
	for s, addr := range v2["default"].Services {
		if v3["default"].Services[s] != addr {
			t.Errorf("after restart %s: %s, want %s", s, v3["default"].Services[s], addr)
		}
	}
	// another zone with the same services, allocated in another order, agrees
	z := newAlloc(t, "", c)
	vz := mustSync(t, z, req("", svcs("other", "backend")), req("", svcs("default", "new2", "backend", "new1")))
	for s, addr := range v3["default"].Services {
		if vz["default"].Services[s] != addr {
			t.Errorf("zones disagree on %s: %s vs %s", s, vz["default"].Services[s], addr)
		}
	}
}

func TestVIPGracePeriod(t *testing.T) {
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	// a /30 has two usable addresses: .1 and .2
	a := newAlloc(t, filepath.Join(t.TempDir(), "vips.json"), c)
	v := mustSync(t, a, req("10.9.0.0/30", svcs("m", "old", "keep")))
	oldAddr := v["m"].Services["old"]
	mustSync(t, a, req("10.9.0.0/30", svcs("m", "keep")))
	// during the grace period, old's address is not given to a newcomer
	_, errs := a.Sync([]MeshRequest{req("10.9.0.0/30", svcs("m", "keep", "newcomer"))})
	var ex *ExhaustedError
	if len(errs) != 1 || !errors.As(errs[0], &ex) || ex.Held != 1 {
		t.Fatalf("want exhaustion with 1 held address, got %v", errs)
	}
	// the same service coming back within the grace period gets its address back
	v = mustSync(t, a, req("10.9.0.0/30", svcs("m", "keep", "old")))
	if v["m"].Services["old"] != oldAddr {
		t.Errorf("old came back as %s, want its previous %s", v["m"].Services["old"], oldAddr)
	}
	mustSync(t, a, req("10.9.0.0/30", svcs("m", "keep")))
	c.t = c.t.Add(DefaultVIPGrace + time.Second)
	v = mustSync(t, a, req("10.9.0.0/30", svcs("m", "keep", "newcomer")))
	if v["m"].Services["newcomer"] != oldAddr {
		t.Errorf("after the grace period newcomer got %s, want the freed %s", v["m"].Services["newcomer"], oldAddr)
	}
}

func TestVIPExhaustion(t *testing.T) {
	c := &clock{time.Now()}
	a := newAlloc(t, filepath.Join(t.TempDir(), "vips.json"), c)
	var names []string
	for i := 0; i < 6; i++ {
		names = append(names, fmt.Sprintf("svc-%d", i))
	}
	// 10.1.0.0/29: 6 usable addresses (.1–.6)
	v := mustSync(t, a, req("10.1.0.0/29", svcs("m", names...)))
	seen := map[netip.Addr]string{}
	for s, addr := range v["m"].Services {
		if other, dup := seen[addr]; dup {
			t.Fatalf("%s given to %s and %s", addr, other, s)
		}
		seen[addr] = s
		if addr == netip.MustParseAddr("10.1.0.0") || addr == netip.MustParseAddr("10.1.0.7") {
			t.Errorf("%s got the network/broadcast address %s", s, addr)
		}
	}
	v2, errs := a.Sync([]MeshRequest{req("10.1.0.0/29", svcs("m", append(names, "one-too-many")...))})
	if len(errs) != 1 {
		t.Fatalf("want one error, got %v", errs)
	}
	msg := errs[0].Error()
	for _, want := range []string{`mesh "m"`, "10.1.0.0/29", `service "one-too-many"`, "vipCIDR"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	for s, addr := range v["m"].Services {
		if v2["m"].Services[s] != addr {
			t.Errorf("exhaustion moved %s: %s → %s", s, addr, v2["m"].Services[s])
		}
	}
	if _, ok := v2["m"].Services["one-too-many"]; ok {
		t.Error("the service that did not fit has a VIP")
	}
}

func TestVIPStateDamaged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vips.json")
	for name, body := range map[string]string{
		"not json":  "{",
		"duplicate": `{"version":1,"pools":[{"mesh":"m","cidr":"10.0.0.0/24","vips":{"svc:a":"10.0.0.1","svc:b":"10.0.0.1"}}]}`,
		"outside":   `{"version":1,"pools":[{"mesh":"m","cidr":"10.0.0.0/24","vips":{"svc:a":"10.0.1.1"}}]}`,
		"version":   `{"version":9,"pools":[]}`,
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := NewAllocator(AllocatorConfig{StatePath: path})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s: want an error naming %s as damaged, got %v", name, path, err)
		}
	}
}

func TestVIPv6AndCIDRChange(t *testing.T) {
	c := &clock{time.Now()}
	a := newAlloc(t, "", c)
	cidrs, err := ParseCIDRs("240.0.0.0/4, fd00:6d65:7368::/64")
	if err != nil {
		t.Fatal(err)
	}
	v := mustSync(t, a, MeshRequest{MeshServices: svcs("m", "backend"), CIDRs: cidrs})
	if !cidrs[1].Contains(v["m"].ServicesV6["backend"]) || !cidrs[0].Contains(v["m"].Services["backend"]) {
		t.Fatalf("want a v4 and a v6 VIP, got %+v", v["m"])
	}
	v = mustSync(t, a, req("10.20.0.0/16", svcs("m", "backend")))
	if !netip.MustParsePrefix("10.20.0.0/16").Contains(v["m"].Services["backend"]) || v["m"].ServicesV6["backend"].IsValid() {
		t.Errorf("after changing the range: %+v", v["m"])
	}
	for _, bad := range []string{"nope", "10.0.0.1/8", "10.0.0.0/8,11.0.0.0/8"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("ParseCIDRs(%q) accepted", bad)
		}
	}
}

// TestVIPChurnInvariants adds and removes services at random over simulated
// hours in a small range, restarting the allocator now and then, and checks
// after every step: no address is held by two services, a service keeps its
// address while it exists, and a freed address goes to no other service
// within the grace period.
func TestVIPChurnInvariants(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vips.json")
	c := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a := newAlloc(t, path, c)
	rng := rand.New(rand.NewPCG(1, 2))
	const cidr = "10.50.0.0/26" // 62 usable addresses for up to 40 names
	live := map[string]netip.Addr{}
	freedAt := map[netip.Addr]struct {
		by string
		at time.Time
	}{}
	for step := 0; step < 400; step++ {
		c.t = c.t.Add(time.Duration(rng.IntN(20)) * time.Minute)
		names := map[string]bool{}
		for n := range live {
			names[n] = true
		}
		for i := 0; i < 3; i++ {
			n := fmt.Sprintf("svc-%d", rng.IntN(40))
			names[n] = !names[n] // toggle: add or remove
		}
		var list []string
		for n, on := range names {
			if on {
				list = append(list, n)
			}
		}
		if step%50 == 49 {
			a = newAlloc(t, path, c) // restart
		}
		v, errs := a.Sync([]MeshRequest{req(cidr, svcs("m", list...))})
		for _, err := range errs {
			var ex *ExhaustedError
			if !errors.As(err, &ex) {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		got := v["m"].Services
		owners := map[netip.Addr]string{}
		for n, addr := range got {
			if o, dup := owners[addr]; dup {
				t.Fatalf("step %d: %s held by %s and %s", step, addr, o, n)
			}
			owners[addr] = n
			if old, ok := live[n]; ok && old != addr {
				t.Fatalf("step %d: %s moved %s → %s while it existed", step, n, old, addr)
			}
			if f, ok := freedAt[addr]; ok && f.by != n && c.t.Sub(f.at) < DefaultVIPGrace {
				t.Fatalf("step %d: %s got %s, freed by %s only %v ago", step, n, addr, f.by, c.t.Sub(f.at))
			}
		}
		for n, addr := range live {
			if _, still := got[n]; !still {
				freedAt[addr] = struct {
					by string
					at time.Time
				}{n, c.t}
			}
		}
		live = got
	}
}
