package zone_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// e2eAllowWebV2 allows only web's version v2 instances into backend.
const e2eAllowWebV2 = `type: MeshTrafficPermission
name: allow-web-to-backend
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: backend
  from:
  - targetRef:
      kind: MeshServiceSubset
      name: web
      tags:
        version: v2
    default:
      action: Allow
`

// subsetPermissionE2E checks that an Allow from a MeshServiceSubset is
// enforced by real Envoys: a second web sidecar (version v2) gets in, web-1
// (version v1) is refused. Workload certificates prove tags with
// kuma://<tag>/<value> URI SANs and Envoy's RBAC matches any of them.
// sidecar starts a registered `meshc dp run` and returns its admin port and
// a stop; viaWeb1 is web-1's outbound, out2 a free port for web-2's. The
// broad allow (e2eAllow) is back in place when it returns.
func subsetPermissionE2E(t *testing.T, meshDir string, sidecar func(name, svc, version string, outbound int) (admin int, stop func()), viaWeb1 string, out2 int) {
	ctx := context.Background()
	client := &http.Client{Timeout: 10 * time.Second}
	admin, stop := sidecar("web-2", "web", "v2", out2)
	defer stop()
	viaWeb2 := fmt.Sprintf("http://127.0.0.1:%d", out2)

	// web-2's certificate carries its inbound tags after its SPIFFE id.
	eventually(t, 30*time.Second, "web-2 holds a certificate with its tag SANs", func() error {
		var certs struct {
			Certificates []struct {
				CertChain []struct {
					SubjectAltNames []struct {
						URI string `json:"uri"`
					} `json:"subject_alt_names"`
				} `json:"cert_chain"`
			} `json:"certificates"`
		}
		if err := getJSON(fmt.Sprintf("http://127.0.0.1:%d/certs", admin), &certs); err != nil {
			return err
		}
		for _, c := range certs.Certificates {
			for _, cc := range c.CertChain {
				var uris []string
				for _, s := range cc.SubjectAltNames {
					uris = append(uris, s.URI)
				}
				got := strings.Join(uris, " ")
				if len(uris) > 0 && uris[0] == "spiffe://default/web" {
					if want := "spiffe://default/web kuma://kuma.io/protocol/http kuma://kuma.io/zone/zone-1 kuma://version/v2"; got != want {
						return fmt.Errorf("SANs %q, want %q", got, want)
					}
					return nil
				}
			}
		}
		return fmt.Errorf("no certificate for spiffe://default/web yet")
	})
	statuses := func(url string, n int) []int {
		var codes []int
		for i := 0; i < n; i++ {
			code, _, err := get(ctx, client, url+"/")
			if err != nil {
				code = -1
			}
			codes = append(codes, code)
		}
		return codes
	}
	all := func(codes []int, want int) bool {
		for _, c := range codes {
			if c != want {
				return false
			}
		}
		return true
	}
	eventually(t, 30*time.Second, "web-2 reaches backend under the broad allow", func() error {
		if c := statuses(viaWeb2, 4); !all(c, 200) {
			return fmt.Errorf("web-2: %v", c)
		}
		return nil
	})

	writeFile(t, filepath.Join(meshDir, "allow.yaml"), e2eAllowWebV2)
	defer func() {
		writeFile(t, filepath.Join(meshDir, "allow.yaml"), e2eAllow)
		eventually(t, 30*time.Second, "web-1 allowed again by both backends", func() error {
			if c := statuses(viaWeb1, 10); !all(c, 200) {
				return fmt.Errorf("web-1: %v", c)
			}
			return nil
		})
	}()
	// Both backends apply the policy on their own: wait until web-1 is refused
	// and web-2 let through in a row (requests round-robin over both).
	eventually(t, 30*time.Second, "web v1 refused, web v2 allowed by both backends", func() error {
		if c := statuses(viaWeb1, 10); !all(c, 403) {
			return fmt.Errorf("web-1 (v1): %v, want all 403", c)
		}
		if c := statuses(viaWeb2, 10); !all(c, 200) {
			return fmt.Errorf("web-2 (v2): %v, want all 200", c)
		}
		return nil
	})
	if c := statuses(viaWeb1, 20); !all(c, 403) {
		t.Errorf("web v1 under an Allow for web {version: v2}: %v, want all 403", c)
	}
	if c := statuses(viaWeb2, 20); !all(c, 200) {
		t.Errorf("web v2 under an Allow for web {version: v2}: %v, want all 200", c)
	}
}
