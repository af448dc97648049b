package zone_test

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const e2eMesh = `type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    dpCert:
      rotation:
        expiration: 20s
    conf:
      caCert:
        ECDSA: true
        expiration: 1y
`

const e2eAllow = `type: MeshTrafficPermission
name: allow-web-to-backend
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: backend
  from:
  - targetRef:
      kind: MeshService
      name: web
    default:
      action: Allow
`

const e2eDenyWeb = `type: MeshTrafficPermission
name: zz-deny-web
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: backend
  from:
  - targetRef:
      kind: MeshService
      name: web
    default:
      action: Deny
`

func e2eSplit(v1, v2 int) string {
	return fmt.Sprintf(`type: MeshHTTPRoute
name: backend-split
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: web
  to:
  - targetRef:
      kind: MeshService
      name: backend
    rules:
    - matches:
      - path:
          type: PathPrefix
          value: /
      default:
        backendRefs:
        - kind: MeshServiceSubset
          name: backend
          tags:
            version: v1
          weight: %d
        - kind: MeshServiceSubset
          name: backend
          tags:
            version: v2
          weight: %d
`, v1, v2)
}

const e2eTimeout = `type: MeshTimeout
name: backend-timeout
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: web
  to:
  - targetRef:
      kind: MeshService
      name: backend
    default:
      http:
        requestTimeout: 500ms
`

const e2eRetry = `type: MeshRetry
name: backend-retry
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: web
  to:
  - targetRef:
      kind: MeshService
      name: backend
    default:
      http:
        numRetries: 3
        backOff:
          baseInterval: 10ms
          maxInterval: 50ms
        retryOn:
        - 5xx
`

func dataplaneYAML(name, svc, version string, port, servicePort, outboundPort int) string {
	s := fmt.Sprintf(`type: Dataplane
mesh: default
name: %s
networking:
  address: 127.0.0.1
  inbound:
  - port: %d
    servicePort: %d
    tags:
      kuma.io/service: %s
      kuma.io/protocol: http
      version: %s
`, name, port, servicePort, svc, version)
	if outboundPort > 0 {
		s += fmt.Sprintf(`  outbound:
  - port: %d
    tags:
      kuma.io/service: backend
`, outboundPort)
	}
	return s
}

// backendApp is a small HTTP server standing behind a backend sidecar.
type backendApp struct {
	version string
	hits    atomic.Int64
	xfcc    atomic.Value // last x-forwarded-client-cert seen
	addr    string
}

// firstTry remembers request ids /flaky has failed once (shared by v1 and v2:
// a retry may land on the other version).
var firstTry sync.Map

func startBackend(t *testing.T, version string) *backendApp {
	t.Helper()
	b := &backendApp{version: version}
	b.xfcc.Store("")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		b.xfcc.Store(r.Header.Get("X-Forwarded-Client-Cert"))
		fmt.Fprintf(w, "version=%s\n", version)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		fmt.Fprintf(w, "version=%s slow\n", version)
	})
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if _, seen := firstTry.LoadOrStore(r.Header.Get("x-req-id"), true); !seen {
			http.Error(w, "flaky: first attempt fails", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "version=%s flaky ok\n", version)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	b.addr = ln.Addr().String()
	return b
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}
