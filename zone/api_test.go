package zone

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshc/meshc/api"
	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/schema"
)

// recorder is a Publisher that remembers what it was given (unit tests only).
type recorder struct {
	updates chan *compiler.ProxyPlan
	ids     chan *WorkloadIdentity
	removed chan compiler.ProxyKey
}

func newRecorder() *recorder {
	return &recorder{updates: make(chan *compiler.ProxyPlan, 100), ids: make(chan *WorkloadIdentity, 100), removed: make(chan compiler.ProxyKey, 100)}
}

func (r *recorder) Update(p *compiler.ProxyPlan, id *WorkloadIdentity) error {
	r.updates <- p
	r.ids <- id
	return nil
}
func (r *recorder) Remove(k compiler.ProxyKey) { r.removed <- k }
func (r *recorder) Dump(nodeID string) ([]byte, error) {
	return []byte(`{"node":"` + nodeID + `"}`), nil
}

func testMesh() *compiler.Bundle {
	return &compiler.Bundle{Version: "v1", Resources: []schema.Resource{
		{Type: schema.TypeMesh, Name: "default", Spec: &schema.MeshSpec{}},
	}}
}

// startAPI serves an agent's API on loopback and returns its base URL.
func startAPI(t *testing.T, dev bool) (*Agent, string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(Options{Zone: "zone-a", StateDir: t.TempDir(), Dev: dev, Log: log, Publisher: newRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	a.SetBundle(testMesh())
	srv, err := api.Listen("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	a.RegisterAPI(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a, "http://" + srv.Addr()
}

func do(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

const webYAML = `type: Dataplane
mesh: default
name: web-1
networking:
  address: 127.0.0.1
  inbound:
  - port: 8080
    servicePort: 18080
    tags:
      kuma.io/service: web
  outbound:
  - port: 10001
    tags:
      kuma.io/service: backend
`

func TestDataplaneRegistrationAPI(t *testing.T) {
	t.Parallel()
	a, base := startAPI(t, false)
	url := base + "/meshes/default/dataplanes/web-1"

	// No token: 401 that says how to get one.
	code, body := do(t, "PUT", url, "", webYAML)
	if code != http.StatusUnauthorized || !strings.Contains(body["details"].(string), "token") {
		t.Fatalf("no token: %d %v", code, body)
	}
	// A token for another dataplane: 403.
	other, _ := a.Tokens().Issue("default", "web-2", time.Hour, time.Now())
	if code, body := do(t, "PUT", url, other, webYAML); code != http.StatusForbidden || !strings.Contains(body["details"].(string), "default/web-2") {
		t.Fatalf("token of web-2: %d %v", code, body)
	}
	tok, _ := a.Tokens().Issue("default", "web-1", time.Hour, time.Now())
	// Body name differs from the path: 400 naming the field.
	code, body = do(t, "PUT", url, tok, strings.Replace(webYAML, "name: web-1", "name: web-9", 1))
	if code != http.StatusBadRequest || !strings.Contains(body["details"].(string), `name is "web-9" but the path says "web-1"`) {
		t.Fatalf("name mismatch: %d %v", code, body)
	}
	// Malformed YAML: 400, nothing registered.
	if code, _ := do(t, "PUT", url, tok, "type: Dataplane\n  mesh: [\n"); code != http.StatusBadRequest {
		t.Fatalf("malformed: %d", code)
	}
	// A wrongly typed field: 400 pointing at it.
	code, body = do(t, "PUT", url, tok, strings.Replace(webYAML, "port: 8080", "port: eighty", 1))
	if code != http.StatusBadRequest || !strings.Contains(body["details"].(string), "request body:7:11") ||
		body["causes"].([]any)[0].(map[string]any)["field"] != "networking.inbound[0].port" {
		t.Fatalf("bad port: %d %v", code, body)
	}
	if a.DataplaneCount() != 0 {
		t.Fatal("a bad request registered something")
	}
	// Unknown mesh: 404.
	if code, _ := do(t, "PUT", base+"/meshes/nope/dataplanes/web-1", tok, webYAML); code != http.StatusNotFound {
		t.Fatalf("unknown mesh: %d", code)
	}
	// Good: 201 and the zone tag is added.
	code, body = do(t, "PUT", url, tok, webYAML)
	if code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, body)
	}
	inb := body["networking"].(map[string]any)["inbound"].([]any)[0].(map[string]any)
	if inb["tags"].(map[string]any)[schema.TagZone] != "zone-a" {
		t.Errorf("inbound tags lack kuma.io/zone: %v", inb)
	}
	// JSON body works too; a repeat is 200.
	if code, _ := do(t, "PUT", url, tok, `{"type":"Dataplane","mesh":"default","name":"web-1","networking":{"address":"127.0.0.1","inbound":[{"port":8080,"tags":{"kuma.io/service":"web"}}]}}`); code != http.StatusOK {
		t.Fatalf("JSON update: %d", code)
	}

	// Listing shows online status from xDS stream callbacks.
	a.Registry().Connected("default.web-1")
	code, body = do(t, "GET", base+"/meshes/default/dataplanes", "", "")
	items := body["items"].([]any)
	if code != 200 || len(items) != 1 || items[0].(map[string]any)["online"] != true || items[0].(map[string]any)["lastConnected"] == nil {
		t.Fatalf("list: %d %v", code, body)
	}
	a.Registry().Disconnected("default.web-1")
	_, body = do(t, "GET", url, "", "")
	if body["online"] != false || body["lastDisconnected"] == nil {
		t.Errorf("after disconnect: %v", body)
	}
	if code, body := do(t, "GET", url+"/xds", "", ""); code != 200 || body["node"] != "default.web-1" {
		t.Errorf("xds dump: %d %v", code, body)
	}

	// Deregister needs the token too.
	if code, _ := do(t, "DELETE", url, "", ""); code != http.StatusUnauthorized {
		t.Errorf("delete without token: %d", code)
	}
	if code, _ := do(t, "DELETE", url, tok, ""); code != http.StatusOK {
		t.Errorf("delete: %d", code)
	}
	if code, _ := do(t, "GET", url, "", ""); code != http.StatusNotFound {
		t.Errorf("after delete: %d", code)
	}
}

func TestPolicyWritesRefusedAtZone(t *testing.T) {
	t.Parallel()
	_, base := startAPI(t, true)
	code, body := do(t, "PUT", base+"/meshes/default/meshhttproutes/split", "", "type: MeshHTTPRoute\n")
	if code != http.StatusMethodNotAllowed || !strings.Contains(body["details"].(string), "global") {
		t.Fatalf("policy PUT at zone: %d %v", code, body)
	}
	if code, _ := do(t, "PUT", base+"/meshes/default", "", "type: Mesh\nname: default\n"); code != http.StatusMethodNotAllowed {
		t.Errorf("mesh PUT: %d", code)
	}
	// --dev registers without a token.
	if code, _ := do(t, "PUT", base+"/meshes/default/dataplanes/web-1", "", webYAML); code != http.StatusCreated {
		t.Errorf("dev register: %d", code)
	}
}

func TestZoneIngressAndTokens(t *testing.T) {
	t.Parallel()
	_, base := startAPI(t, false)
	code, body := do(t, "PUT", base+"/zone-ingresses/ingress-1", "", "type: ZoneIngress\nname: ingress-1\nnetworking:\n  address: 127.0.0.1\n  port: 10001\n  advertisedAddress: ingress.zone-a.example\n  advertisedPort: 10001\n")
	if code != http.StatusCreated || body["zone"] != "zone-a" {
		t.Fatalf("ingress: %d %v", code, body)
	}
	_, body = do(t, "GET", base+"/zone-ingresses", "", "")
	if body["total"].(float64) != 1 {
		t.Errorf("ingress list: %v", body)
	}
	code, body = do(t, "POST", base+"/tokens/dataplane", "", `{"mesh":"default","name":"web-1","validFor":"1h"}`)
	if code != 200 || body["token"] == "" {
		t.Fatalf("token: %d %v", code, body)
	}
	if code, _ := do(t, "PUT", base+"/meshes/default/dataplanes/web-1", body["token"].(string), webYAML); code != http.StatusCreated {
		t.Errorf("register with an issued token: %d", code)
	}
	if code, _ := do(t, "POST", base+"/tokens/dataplane", "", `{"mesh":"nope","name":"x"}`); code != http.StatusNotFound {
		t.Errorf("token for unknown mesh: %d", code)
	}
}
