package schema

import (
	"sort"
	"testing"
	"testing/fstest"
)

// TestEveryTypeAccepted: a realistic resource of every type, written the way
// Kuma's documentation writes it, loads without a diagnostic.
func TestEveryTypeAccepted(t *testing.T) {
	t.Parallel()
	docs := map[string]string{
		TypeMesh: `type: Mesh
name: payments
mtls:
  enabledBackend: ca-1
  backends:
    - name: ca-1
      type: builtin
      dpCert: {rotation: {expiration: 1d}}
      conf: {caCert: {RSAbits: 2048, expiration: 10y}}
routing: {localityAwareLoadBalancing: true, zoneEgress: true}
networking: {outbound: {passthrough: false}, vipCIDR: 241.0.0.0/8}`,
		TypeZone: "type: Zone\nname: zone-b\nenabled: false",
		TypeMeshTrafficPermission: `type: MeshTrafficPermission
name: allow-web
mesh: payments
spec:
  targetRef: {kind: MeshService, name: backend_payments_svc_8080}
  from:
    - targetRef: {kind: MeshSubset, tags: {kuma.io/zone: zone-a}}
      default: {action: AllowWithShadowDeny}`,
		TypeMeshHTTPRoute: `type: MeshHTTPRoute
name: canary
mesh: payments
spec:
  targetRef: {kind: MeshService, name: web}
  to:
    - targetRef: {kind: MeshService, name: backend}
      rules:
        - matches:
            - path: {type: PathPrefix, value: /api}
              method: GET
              headers: [{type: Exact, name: x-canary, value: "true"}]
              queryParams: [{type: Present, name: debug}]
          default:
            filters:
              - type: RequestHeaderModifier
                requestHeaderModifier: {set: [{name: x-route, value: canary}], remove: [x-debug]}
              - type: URLRewrite
                urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
              - type: RequestRedirect
                requestRedirect: {scheme: https, statusCode: 301}
            backendRefs:
              - {kind: MeshServiceSubset, name: backend, tags: {kuma.io/zone: zone-a}, weight: 90}
              - {kind: MeshServiceSubset, name: backend, tags: {kuma.io/zone: zone-b}, weight: 10, port: 8080}`,
		TypeMeshTCPRoute: `type: MeshTCPRoute
name: db
mesh: payments
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: MeshService, name: db}
      rules: [{default: {backendRefs: [{kind: MeshServiceSubset, name: db, tags: {version: v2}, weight: 1}]}}]`,
		TypeMeshTimeout: `type: MeshTimeout
name: timeouts
mesh: payments
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: Mesh}
      default:
        connectionTimeout: 2s
        idleTimeout: 1h
        http: {requestTimeout: 15s, streamIdleTimeout: 30m, maxStreamDuration: 0s, maxConnectionDuration: 1d}
  from:
    - targetRef: {kind: Mesh}
      default: {idleTimeout: 30m}`,
		TypeMeshRetry: `type: MeshRetry
name: retries
mesh: payments
spec:
  targetRef: {kind: MeshService, name: web}
  to:
    - targetRef: {kind: MeshService, name: backend}
      default:
        tcp: {maxConnectAttempt: 3}
        http: {numRetries: 2, perTryTimeout: 500ms, backOff: {baseInterval: 25ms, maxInterval: 250ms}, retryOn: [5xx, GatewayError, "503"]}
        grpc: {numRetries: 1, retryOn: [Unavailable, DeadlineExceeded]}`,
		TypeMeshCircuitBreaker: `type: MeshCircuitBreaker
name: cb
mesh: payments
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: Mesh}
      default:
        connectionLimits: {maxConnections: 1024, maxPendingRequests: 128, maxRequests: 1024, maxRetries: 3}
        outlierDetection:
          disabled: false
          interval: 5s
          baseEjectionTime: 30s
          maxEjectionPercent: 20
          detectors: {totalFailures: {consecutive: 10}, gatewayFailures: {consecutive: 5}, localOriginFailures: {consecutive: 5}}`,
		TypeMeshHealthCheck: `type: MeshHealthCheck
name: hc
mesh: payments
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: MeshService, name: backend}
      default:
        interval: 10s
        timeout: 2s
        unhealthyThreshold: 3
        healthyThreshold: 1
        http: {path: /health, expectedStatuses: [200, 204]}
        tcp: {disabled: true}`,
		TypeMeshLoadBalancingStrategy: `type: MeshLoadBalancingStrategy
name: lb
mesh: payments
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: Mesh}
      default: {localityAwareness: {disabled: false}, loadBalancer: {type: LeastRequest}}`,
		TypeVirtualOutbound: `type: VirtualOutbound
name: host-port
mesh: payments
selectors:
  - match: {kuma.io/service: "*"}
conf:
  host: "{{.svc}}.{{.port}}.mesh"
  port: "{{.port}}"
  parameters:
    - {name: svc, tagKey: kuma.io/service}
    - {name: port}`,
		TypeExternalService: `type: ExternalService
name: httpbin
mesh: payments
tags: {kuma.io/service: httpbin, kuma.io/protocol: http}
networking:
  address: httpbin.org:443
  tls: {enabled: true, serverName: httpbin.org}`,
		TypeDataplane: `type: Dataplane
name: web-1
mesh: payments
networking:
  address: 10.0.0.5
  advertisedAddress: 192.168.0.5
  inbound:
    - {port: 8080, servicePort: 80, tags: {kuma.io/service: web, kuma.io/protocol: http, version: v1}}
  outbound:
    - {port: 10001, tags: {kuma.io/service: backend}}`,
		TypeZoneIngress: `type: ZoneIngress
name: ingress-a
zone: zone-a
networking: {address: 10.0.0.9, port: 10001, advertisedAddress: ingress.zone-a.example.com, advertisedPort: 443}
availableServices:
  - {mesh: payments, tags: {kuma.io/service: backend}, instances: 3}`,
		TypeZoneEgress: "type: ZoneEgress\nname: egress-a\nzone: zone-a\nnetworking: {address: \"fd00::1\", port: 10002}",
	}
	var types []string
	fsys := fstest.MapFS{}
	for typ, body := range docs {
		types = append(types, typ)
		fsys[typ+".yaml"] = &fstest.MapFile{Data: []byte(body + "\n")}
	}
	sort.Strings(types)
	if all := AllTypes(); len(all) != len(types) {
		t.Fatalf("test covers %v, schema defines %v", types, all)
	}
	rs, errs := LoadFS(fsys, ".", "")
	if len(errs) > 0 {
		t.Fatalf("diagnostics:\n%v", errs)
	}
	if len(rs) != len(docs) {
		t.Fatalf("loaded %d resources, want %d", len(rs), len(docs))
	}
	for _, r := range rs {
		if r.Spec == nil {
			t.Errorf("%s: no spec", r.Key())
		}
	}
	hc, _ := DecodeConf[HealthCheckConf](findPolicy(rs, TypeMeshHealthCheck).To[0].Default)
	if hc.TCP == nil || !hc.TCP.Disabled || hc.HTTP.ExpectedStatuses[1] != 204 {
		t.Errorf("health check conf = %+v", hc)
	}
}

func findPolicy(rs []Resource, typ string) *PolicySpec {
	for i := range rs {
		if rs[i].Type == typ {
			return rs[i].PolicySpec()
		}
	}
	return nil
}
