package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// This file holds the ExternalService part of the cross-zone egress step: an
// HTTP server outside the mesh (plain HTTP on loopback) registered as the
// ExternalService httpbin, called by a web sidecar in zone-a.

// externalYAML registers httpbin at 127.0.0.1:port and, with allow, a
// MeshTrafficPermission letting web reach it (enforced at the egress).
func externalYAML(port int, allow bool) string {
	es := fmt.Sprintf(`type: ExternalService
name: httpbin
mesh: default
tags:
  kuma.io/service: httpbin
  kuma.io/protocol: http
networking:
  address: 127.0.0.1:%d
`, port)
	if !allow {
		return es
	}
	return es + `---
type: MeshTrafficPermission
name: allow-web-to-httpbin
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: httpbin
  from:
  - targetRef:
      kind: MeshService
      name: web
    default:
      action: Allow
`
}

// externalClientDP is a web sidecar whose outbound goes to httpbin.
func externalClientDP(name, inbound string, app *app, outbound string) string {
	return fmt.Sprintf(`type: Dataplane
mesh: default
name: %s
networking:
  address: 127.0.0.1
  inbound:
  - port: %s
    servicePort: %d
    tags:
      kuma.io/service: web
      kuma.io/protocol: http
  outbound:
  - port: %s
    tags:
      kuma.io/service: httpbin
`, name, inbound, app.port(), outbound)
}

// clusterEndpointPorts returns the ports of cluster's endpoints as the zone
// publishes them to dataplane dp (its EDS assignment).
func (tp *topo) clusterEndpointPorts(zone, dp, cluster string) ([]int, error) {
	var dump struct {
		Resources map[string][]struct {
			ClusterName string `json:"clusterName"`
			Endpoints   []struct {
				LbEndpoints []struct {
					Endpoint struct {
						Address struct {
							SocketAddress struct {
								PortValue int `json:"portValue"`
							} `json:"socketAddress"`
						} `json:"address"`
					} `json:"endpoint"`
				} `json:"lbEndpoints"`
			} `json:"endpoints"`
		} `json:"resources"`
	}
	if err := getJSON("http://"+tp.zones[zone].api+"/meshes/default/dataplanes/"+dp+"/xds", &dump); err != nil {
		return nil, err
	}
	for _, cla := range dump.Resources["envoy.config.endpoint.v3.ClusterLoadAssignment"] {
		if cla.ClusterName != cluster {
			continue
		}
		var ports []int
		for _, l := range cla.Endpoints {
			for _, e := range l.LbEndpoints {
				ports = append(ports, e.Endpoint.Address.SocketAddress.PortValue)
			}
		}
		return ports, nil
	}
	return nil, fmt.Errorf("no endpoints for cluster %s published to %s", cluster, dp)
}

// egressUpstreamConnections is the egress Envoy's count of connections it
// opened to the external service (its cluster is named by the service's SNI).
func egressUpstreamConnections(admin string) (int, error) {
	resp, err := http.Get("http://" + admin + "/stats?filter=^cluster\\.httpbin\\..*\\.upstream_cx_total$")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`cluster\.httpbin\.[0-9a-f]{8}\.default\.mesh\.upstream_cx_total: (\d+)`).FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("egress has no httpbin cluster stats yet: %q", b)
	}
	return strconv.Atoi(string(m[1]))
}

// checkExternalThroughEgress: web-ext (in zone-a, mesh routing through the
// egress) reaches httpbin, its only endpoint for httpbin is the egress, and
// the egress opened the connections to httpbin.
func checkExternalThroughEgress(t *testing.T, tp *topo, url, egressAddr, egressAdmin string) {
	waitFor(t, 60*time.Second, "web-ext reaches the external httpbin through the egress", func() error {
		ports, err := tp.clusterEndpointPorts("zone-a", "web-ext", "httpbin")
		if err != nil {
			return err
		}
		if len(ports) != 1 || strconv.Itoa(ports[0]) != portOf(egressAddr) {
			return fmt.Errorf("httpbin endpoints on web-ext: ports %v, want only the egress %s", ports, egressAddr)
		}
		if c := counts(tp.client, url, 20); c["httpbin"] != 20 {
			return fmt.Errorf("answers %v", c)
		}
		return nil
	})
	// The egress's cluster for httpbin opened the connections (the sidecar has no other way there).
	n, err := egressUpstreamConnections(egressAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("the egress opened no connection to httpbin, yet web-ext got answers")
	}
	t.Logf("egress upstream connections to httpbin: %d", n)
}

// checkEgressDenies: without a MeshTrafficPermission for httpbin the egress
// refuses web-ext's connections (secure default); with it back, they pass.
func checkEgressDenies(t *testing.T, tp *topo, url string, httpbinPort int) {
	tp.push("httpbin without permission", map[string]string{"external.yaml": externalYAML(httpbinPort, false)})
	waitFor(t, 60*time.Second, "the egress denies web-ext without a MeshTrafficPermission", func() error {
		if c := counts(tp.client, url, 10); failures(c) != 10 {
			return fmt.Errorf("answers %v", c)
		}
		return nil
	})
	tp.push("httpbin allowed again", map[string]string{"external.yaml": externalYAML(httpbinPort, true)})
	waitFor(t, 60*time.Second, "the egress lets web-ext through again", func() error {
		if c := counts(tp.client, url, 10); c["httpbin"] != 10 {
			return fmt.Errorf("answers %v", c)
		}
		return nil
	})
}
