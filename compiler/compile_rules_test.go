package compiler

import (
	"strings"
	"testing"

	"github.com/meshc/meshc/schema"
)

// want is one expected diagnostic: severity, resource key, field path and a
// part of the message.
type want struct {
	sev  schema.Severity
	res  string
	path string
	msg  string
}

func e(res, path, msg string) want { return want{schema.SeverityError, res, path, msg} }
func w(res, path, msg string) want { return want{schema.SeverityWarning, res, path, msg} }

func policyDoc(typ, name, spec string) string {
	return "type: " + typ + "\nname: " + name + "\nmesh: default\nspec:\n" + indent(spec, "  ")
}

func indent(s, pfx string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pfx + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// route is a MeshHTTPRoute with one rule under to[0] sending to the given backendRefs.
func routeDoc(typ, name, rule string) string {
	return policyDoc(typ, name, `
targetRef: {kind: Mesh}
to:
- targetRef: {kind: MeshService, name: backend}
  rules:
`+indent(rule, "  "))
}

func TestCompileRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		docs       []string
		noBase     bool // do not add meshDefault + allowWebToBackend
		incomplete bool
		extra      []schema.Resource // resources a YAML document cannot make
		want       []want
	}{
		{name: "valid base repo"},
		{
			name: "valid policies of every kind",
			docs: []string{
				meshPayments,
				`{type: Zone, name: zone-a, enabled: true}`,
				policyDoc("MeshTimeout", "t", `
targetRef: {kind: Mesh}
to: [{targetRef: {kind: Mesh}, default: {connectionTimeout: 5s, http: {requestTimeout: 10s}}}]
from: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1h}}]`),
				policyDoc("MeshRetry", "r", `
targetRef: {kind: MeshSubset, tags: {team: web}}
to: [{targetRef: {kind: MeshService, name: backend}, default: {http: {numRetries: 3, backOff: {baseInterval: 25ms, maxInterval: 250ms}}}}]`),
				policyDoc("MeshCircuitBreaker", "cb", `
targetRef: {kind: MeshServiceSubset, name: web, tags: {version: v1}}
to: [{targetRef: {kind: Mesh}, default: {outlierDetection: {maxEjectionPercent: 50}}}]
from: [{targetRef: {kind: Mesh}, default: {connectionLimits: {maxConnections: 100}}}]`),
				policyDoc("MeshHealthCheck", "hc", `
targetRef: {kind: MeshService, name: web}
to: [{targetRef: {kind: MeshService, name: backend}, default: {interval: 10s, timeout: 2s, http: {path: /health}}}]`),
				policyDoc("MeshLoadBalancingStrategy", "lb", `
targetRef: {kind: Mesh}
to: [{targetRef: {kind: Mesh}, default: {loadBalancer: {type: LeastRequest}}}]`),
				routeDoc("MeshHTTPRoute", "canary", `
- matches: [{path: {type: PathPrefix, value: /api}, headers: [{type: RegularExpression, name: x-user, value: "^qa-.*$"}]}]
  default:
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-canary, value: "1"}]}}]
    backendRefs:
    - {kind: MeshServiceSubset, name: backend, tags: {kuma.io/zone: zone-a}, weight: 90}
    - {kind: MeshServiceSubset, name: backend, tags: {kuma.io/zone: zone-b}, weight: 10}`),
				routeDoc("MeshTCPRoute", "tcp", `
- default: {backendRefs: [{kind: MeshService, name: backend, weight: 1}]}`),
				`
type: VirtualOutbound
name: versions
mesh: default
selectors: [{match: {kuma.io/service: "*", version: "*"}}]
conf:
  host: "{{.version}}.{{.service}}.mesh"
  port: "{{if .port}}{{.port}}{{else}}80{{end}}"
  parameters: [{name: service, tagKey: kuma.io/service}, {name: version}, {name: port}]`,
				`
type: ExternalService
name: httpbin
mesh: default
tags: {kuma.io/service: httpbin}
networking: {address: "httpbin.org:443", tls: {enabled: true, serverName: httpbin.org}}`,
			},
		},
		{
			name: "same name in another mesh or of another type is fine",
			docs: []string{meshPayments,
				strings.Replace(allowWebToBackend, "mesh: default", "mesh: payments", 1),
				policyDoc("MeshTimeout", "allow-web", "to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1h}}]"),
			},
		},

		// ---- kinds that do not belong in Git ----
		{
			name: "dataplane in git",
			docs: []string{`{type: Dataplane, name: web-1, mesh: default, networking: {address: 10.0.0.1}}`},
			want: []want{e("Dataplane/default/web-1", "type", "cannot be defined in Git: dataplanes register at their zone")},
		},
		{
			name: "zone ingress and egress in git",
			docs: []string{
				`{type: ZoneIngress, name: ingress-a, networking: {address: 10.0.0.1, port: 10001}}`,
				`{type: ZoneEgress, name: egress-a, networking: {address: 10.0.0.2, port: 10002}}`,
			},
			want: []want{
				e("ZoneIngress/ingress-a", "type", "a ZoneIngress cannot be defined in Git"),
				e("ZoneEgress/egress-a", "type", "a ZoneEgress cannot be defined in Git"),
			},
		},

		// ---- identity and references ----
		{
			name: "duplicate policy reported at both places",
			docs: []string{
				policyDoc("MeshTimeout", "t", "to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1h}}]"),
				policyDoc("MeshTimeout", "t", "to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 2h}}]"),
			},
			want: []want{
				e("MeshTimeout/default/t", "name", `duplicate MeshTimeout "t" in mesh "default": also defined at meshtimeout-t.yaml:`),
				e("MeshTimeout/default/t", "name", `duplicate MeshTimeout "t" in mesh "default": also defined at meshtimeout-t.yaml:`),
			},
		},
		{
			name: "duplicate zone",
			docs: []string{`{type: Zone, name: zone-a}`, `{type: Zone, name: zone-a, enabled: false}`},
			want: []want{
				e("Zone/zone-a", "name", `duplicate Zone "zone-a": also defined at`),
				e("Zone/zone-a", "name", `duplicate Zone "zone-a": also defined at`),
			},
		},
		{
			name: "duplicate mesh",
			docs: []string{meshDefault},
			want: []want{
				e("Mesh/default", "name", `duplicate Mesh "default"`),
				e("Mesh/default", "name", `duplicate Mesh "default"`),
			},
		},
		{
			name: "mesh not defined, with a suggestion",
			docs: []string{strings.Replace(allowWebToBackend, "mesh: default", "mesh: defualt", 1)},
			want: []want{e("MeshTrafficPermission/defualt/allow-web", "mesh", `no Mesh named "defualt": did you mean "default"? (defined meshes: default)`)},
		},
		{
			name:   "mesh not defined and no mesh at all",
			noBase: true,
			docs:   []string{allowWebToBackend},
			want:   []want{e("MeshTrafficPermission/default/allow-web", "mesh", `no Mesh named "default": no Mesh is defined in this repo`)},
		},
		{
			name:       "mesh not defined is not reported when the load was incomplete",
			noBase:     true,
			incomplete: true,
			docs:       []string{allowWebToBackend},
		},
		{
			name: "mesh-scoped resource without mesh",
			docs: []string{"type: MeshTimeout\nname: t\nspec: {to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1h}}]}"},
			want: []want{e("MeshTimeout/t", "name", `MeshTimeout "t" has no mesh`)},
		},
		{
			name:  "unknown type",
			extra: []schema.Resource{{Type: "MeshGateway", Name: "gw", Mesh: "default", Source: schema.Source{Pos: schema.Pos{File: "gw.yaml", Line: 1, Col: 1}}}},
			want:  []want{e("MeshGateway/default/gw", "type", `unknown resource type "MeshGateway"`)},
		},

		// ---- targetRef kinds per position ----
		{
			name: "traffic permission uses from only",
			docs: []string{policyDoc("MeshTrafficPermission", "p", `
targetRef: {kind: Mesh}
to: [{targetRef: {kind: Mesh}, default: {action: Allow}}]`)},
			want: []want{e("MeshTrafficPermission/default/p", "spec.to[0]", "MeshTrafficPermission does not take to: from (it configures incoming traffic)")},
		},
		{
			name: "policy with neither to nor from",
			docs: []string{policyDoc("MeshTrafficPermission", "p", `targetRef: {kind: Mesh}`)},
			want: []want{e("MeshTrafficPermission/default/p", "spec", "has neither to nor from")},
		},
		{
			name: "http route to[].targetRef must be MeshService",
			docs: []string{policyDoc("MeshHTTPRoute", "r", `
targetRef: {kind: Mesh}
to: [{targetRef: {kind: Mesh}, rules: [{default: {backendRefs: [{kind: MeshService, name: backend, weight: 1}]}}]}]`)},
			want: []want{e("MeshHTTPRoute/default/r", "spec.to[0].targetRef.kind", "MeshHTTPRoute does not allow kind Mesh in to[].targetRef: use MeshService")},
		},
		{
			name: "http route takes no from",
			docs: []string{policyDoc("MeshHTTPRoute", "r", `
from: [{targetRef: {kind: Mesh}, rules: [{default: {backendRefs: [{kind: MeshService, name: backend, weight: 1}]}}]}]`)},
			want: []want{e("MeshHTTPRoute/default/r", "spec.from[0]", "MeshHTTPRoute does not take from")},
		},
		{
			name: "tcp route takes no from",
			docs: []string{policyDoc("MeshTCPRoute", "r", `
from: [{targetRef: {kind: Mesh}, rules: [{default: {backendRefs: [{kind: MeshService, name: backend, weight: 1}]}}]}]`)},
			want: []want{e("MeshTCPRoute/default/r", "spec.from[0]", "MeshTCPRoute does not take from")},
		},
		{
			name: "retry takes no from",
			docs: []string{policyDoc("MeshRetry", "r", `from: [{targetRef: {kind: Mesh}, default: {tcp: {maxConnectAttempt: 3}}}]`)},
			want: []want{e("MeshRetry/default/r", "spec.from[0]", "MeshRetry does not take from")},
		},
		{
			name: "timeout from[].targetRef must be Mesh",
			docs: []string{policyDoc("MeshTimeout", "t", `from: [{targetRef: {kind: MeshService, name: web}, default: {idleTimeout: 1h}}]`)},
			want: []want{e("MeshTimeout/default/t", "spec.from[0].targetRef.kind", "MeshTimeout does not allow kind MeshService in from[].targetRef: use Mesh")},
		},
		{
			name: "health check to[].targetRef cannot be a subset",
			docs: []string{policyDoc("MeshHealthCheck", "h", `to: [{targetRef: {kind: MeshSubset, tags: {a: b}}, default: {interval: 10s}}]`)},
			want: []want{e("MeshHealthCheck/default/h", "spec.to[0].targetRef.kind", "use Mesh or MeshService")},
		},
		{
			name: "unknown targetRef kind",
			docs: []string{policyDoc("MeshTimeout", "t", `
targetRef: {kind: MeshGateway, name: gw}
to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1h}}]`)},
			want: []want{e("MeshTimeout/default/t", "spec.targetRef.kind", `unknown targetRef kind "MeshGateway"`)},
		},
		{
			name: "to item without a kind",
			docs: []string{policyDoc("MeshTimeout", "t", `to: [{targetRef: {name: web}, default: {idleTimeout: 1h}}]`)},
			want: []want{e("MeshTimeout/default/t", "spec.to[0].targetRef", "targetRef has no kind")},
		},
		{
			name: "MeshSubset needs tags and takes no name",
			docs: []string{policyDoc("MeshTimeout", "t", `
targetRef: {kind: MeshSubset, name: web}
to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1h}}]`)},
			want: []want{
				e("MeshTimeout/default/t", "spec.targetRef", "MeshSubset needs tags"),
				e("MeshTimeout/default/t", "spec.targetRef.name", "MeshSubset takes no name"),
			},
		},
		{
			name: "MeshServiceSubset needs tags",
			docs: []string{policyDoc("MeshTimeout", "t", `
targetRef: {kind: MeshServiceSubset, name: web}
to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1h}}]`)},
			want: []want{e("MeshTimeout/default/t", "spec.targetRef", "MeshServiceSubset needs tags")},
		},
		{
			name: "MeshServiceSubset needs name",
			docs: []string{policyDoc("MeshTimeout", "t", `
targetRef: {kind: MeshServiceSubset, tags: {version: v1}}
to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1h}}]`)},
			want: []want{e("MeshTimeout/default/t", "spec.targetRef", "MeshServiceSubset needs name")},
		},
		{
			name: "MeshService needs name and takes no tags",
			docs: []string{policyDoc("MeshTimeout", "t", `
targetRef: {kind: MeshService, tags: {version: v1}}
to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1h}}]`)},
			want: []want{
				e("MeshTimeout/default/t", "spec.targetRef", "MeshService needs name"),
				e("MeshTimeout/default/t", "spec.targetRef.tags", "MeshService takes no tags"),
			},
		},
		{
			name: "Mesh takes no name or tags",
			docs: []string{policyDoc("MeshTimeout", "t", `
targetRef: {kind: Mesh, name: default, tags: {a: b}}
to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1h}}]`)},
			want: []want{
				e("MeshTimeout/default/t", "spec.targetRef.name", "kind Mesh takes no name"),
				e("MeshTimeout/default/t", "spec.targetRef.tags", "kind Mesh takes no tags"),
			},
		},

		// ---- routes ----
		{
			name: "route without rules",
			docs: []string{policyDoc("MeshHTTPRoute", "r", `to: [{targetRef: {kind: MeshService, name: backend}}]`)},
			want: []want{e("MeshHTTPRoute/default/r", "spec.to[0]", "MeshHTTPRoute has no rules")},
		},
		{
			name: "route with default instead of rules",
			docs: []string{policyDoc("MeshHTTPRoute", "r", `
to:
- targetRef: {kind: MeshService, name: backend}
  default: {backendRefs: [{kind: MeshService, name: backend, weight: 1}]}
  rules: [{default: {backendRefs: [{kind: MeshService, name: backend, weight: 1}]}}]`)},
			want: []want{e("MeshHTTPRoute/default/r", "spec.to[0].default", "takes rules, not default")},
		},
		{
			name: "route rule without backendRefs",
			docs: []string{routeDoc("MeshHTTPRoute", "r", `- matches: [{path: {type: Exact, value: /}}]`)},
			want: []want{e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].default.backendRefs", "rule has no backendRefs")},
		},
		{
			name: "route weights all zero",
			docs: []string{routeDoc("MeshHTTPRoute", "r", `
- default:
    backendRefs:
    - {kind: MeshServiceSubset, name: backend, tags: {version: v1}, weight: 0}
    - {kind: MeshServiceSubset, name: backend, tags: {version: v2}, weight: 0}`)},
			want: []want{e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].default.backendRefs", "all backendRefs have weight 0")},
		},
		{
			name: "tcp route weights all zero",
			docs: []string{routeDoc("MeshTCPRoute", "r", `- default: {backendRefs: [{kind: MeshService, name: backend, weight: 0}]}`)},
			want: []want{e("MeshTCPRoute/default/r", "spec.to[0].rules[0].default.backendRefs", "all backendRefs have weight 0")},
		},
		{
			name: "backendRef kinds and shapes",
			docs: []string{routeDoc("MeshHTTPRoute", "r", `
- default:
    backendRefs:
    - {kind: Mesh, name: backend, weight: 1}
    - {kind: MeshServiceSubset, name: backend, weight: 1}
    - {kind: MeshService, name: backend, tags: {version: v1}, weight: 1}
    - {kind: MeshService, weight: 1}`)},
			want: []want{
				e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].default.backendRefs[0].kind", `backendRef kind "Mesh" is not allowed`),
				e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].default.backendRefs[1]", "MeshServiceSubset needs tags"),
				e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].default.backendRefs[2].tags", "MeshService takes no tags"),
				e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].default.backendRefs[3]", "backendRef needs name"),
			},
		},
		{
			name: "backendRef listed twice",
			docs: []string{routeDoc("MeshHTTPRoute", "r", `
- default:
    backendRefs:
    - {kind: MeshServiceSubset, name: backend, tags: {version: v1}, weight: 1}
    - {kind: MeshServiceSubset, name: backend, tags: {version: v1}, weight: 2}`)},
			want: []want{w("MeshHTTPRoute/default/r", "spec.to[0].rules[0].default.backendRefs[1]", "backendRef backend{version=v1} is listed twice")},
		},
		{
			name: "tcp route with matches and filters",
			docs: []string{routeDoc("MeshTCPRoute", "r", `
- matches: [{path: {type: PathPrefix, value: /}}]
  default:
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {remove: [x-a]}}]
    backendRefs: [{kind: MeshService, name: backend, weight: 1}]`)},
			want: []want{
				e("MeshTCPRoute/default/r", "spec.to[0].rules[0].matches", "MeshTCPRoute rules take no matches"),
				e("MeshTCPRoute/default/r", "spec.to[0].rules[0].default.filters", "MeshTCPRoute rules take no filters"),
			},
		},
		{
			name: "http matches: path without slash, bad regexps, Present with a value",
			docs: []string{routeDoc("MeshHTTPRoute", "r", `
- matches:
  - path: {type: PathPrefix, value: api}
  - path: {type: RegularExpression, value: "/v[0-9+"}
    headers: [{type: Present, name: x-debug, value: "1"}, {type: RegularExpression, name: x-user, value: "a(b"}]
    queryParams: [{type: RegularExpression, name: q, value: "*x"}]
  default: {backendRefs: [{kind: MeshService, name: backend, weight: 1}]}`)},
			want: []want{
				e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].matches[0].path.value", `path "api" must start with "/"`),
				e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].matches[1].path.value", "invalid regular expression: missing closing ]"),
				e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].matches[1].headers[0].value", "a Present header match takes no value"),
				e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].matches[1].headers[1].value", "invalid regular expression: missing closing )"),
				e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].matches[1].queryParams[0].value", "invalid regular expression: missing argument to repetition operator"),
			},
		},
		{
			name: "filter without its settings",
			docs: []string{routeDoc("MeshHTTPRoute", "r", `
- default:
    filters: [{type: RequestHeaderModifier}, {type: URLRewrite}]
    backendRefs: [{kind: MeshService, name: backend, weight: 1}]`)},
			want: []want{
				e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].default.filters[0].type", "needs its settings under requestHeaderModifier"),
				e("MeshHTTPRoute/default/r", "spec.to[0].rules[0].default.filters[1].type", "needs its settings under urlRewrite"),
			},
		},

		// ---- default blocks ----
		{
			name: "policy item without default",
			docs: []string{policyDoc("MeshRetry", "r", `to: [{targetRef: {kind: Mesh}}]`)},
			want: []want{e("MeshRetry/default/r", "spec.to[0]", "MeshRetry has no default")},
		},
		{
			name: "non-route with rules",
			docs: []string{policyDoc("MeshRetry", "r", `to: [{targetRef: {kind: Mesh}, default: {tcp: {maxConnectAttempt: 2}}, rules: [{default: {}}]}]`)},
			want: []want{e("MeshRetry/default/r", "spec.to[0].rules", "MeshRetry takes default, not rules")},
		},
		{
			name: "permission action missing or unknown",
			docs: []string{policyDoc("MeshTrafficPermission", "p", `
from:
- {targetRef: {kind: Mesh}, default: {action: Permit}}
- {targetRef: {kind: Mesh}, default: {other: 1}}`)},
			want: []want{
				e("MeshTrafficPermission/default/p", "spec.from[0].default.action", `unknown action "Permit"`),
				e("MeshTrafficPermission/default/p", "spec.from[1].default", "needs action"),
			},
		},
		{
			name: "default field of the wrong type",
			docs: []string{policyDoc("MeshCircuitBreaker", "cb", `to: [{targetRef: {kind: Mesh}, default: {connectionLimits: {maxConnections: many}}}]`)},
			want: []want{e("MeshCircuitBreaker/default/cb", "spec.to[0].default.connectionLimits.maxConnections", "invalid MeshCircuitBreaker default: connectionLimits.maxConnections must be int, not string")},
		},
		{
			name: "bad duration in a default",
			docs: []string{policyDoc("MeshTimeout", "t", `to: [{targetRef: {kind: Mesh}, default: {connectionTimeout: soon}}]`)},
			want: []want{e("MeshTimeout/default/t", "spec.to[0].default", `invalid duration "soon"`)},
		},
		{
			name: "retry back-off base longer than max",
			docs: []string{policyDoc("MeshRetry", "r", `to: [{targetRef: {kind: Mesh}, default: {http: {backOff: {baseInterval: 2s, maxInterval: 1s}}}}]`)},
			want: []want{e("MeshRetry/default/r", "spec.to[0].default.http.backOff.baseInterval", "back-off baseInterval 2s is longer than maxInterval 1s")},
		},
		{
			name: "circuit breaker ejection percent over 100",
			docs: []string{policyDoc("MeshCircuitBreaker", "cb", `to: [{targetRef: {kind: Mesh}, default: {outlierDetection: {maxEjectionPercent: 150}}}]`)},
			want: []want{e("MeshCircuitBreaker/default/cb", "spec.to[0].default.outlierDetection.maxEjectionPercent", "not a percentage")},
		},
		{
			name: "health check timeout not shorter than interval, path without slash",
			docs: []string{policyDoc("MeshHealthCheck", "h", `to: [{targetRef: {kind: Mesh}, default: {interval: 5s, timeout: 5s, http: {path: health}}}]`)},
			want: []want{
				w("MeshHealthCheck/default/h", "spec.to[0].default.timeout", "timeout 5s is not shorter than its interval 5s"),
				e("MeshHealthCheck/default/h", "spec.to[0].default.http.path", `health check path "health" must start with "/"`),
			},
		},
		{
			name: "unknown load balancer",
			docs: []string{policyDoc("MeshLoadBalancingStrategy", "lb", `to: [{targetRef: {kind: Mesh}, default: {loadBalancer: {type: Fastest}}}]`)},
			want: []want{e("MeshLoadBalancingStrategy/default/lb", "spec.to[0].default.loadBalancer.type", `unknown load balancer type "Fastest"`)},
		},

		// ---- Mesh ----
		{
			name:   "mTLS enabledBackend names no backend",
			noBase: true,
			docs:   []string{strings.Replace(meshDefault, "enabledBackend: ca-1", "enabledBackend: ca-2", 1), allowWebToBackend},
			want:   []want{e("Mesh/default", "mtls.enabledBackend", `"ca-2" names no backend: declared backends: ca-1`)},
		},
		{
			name:   "duplicate mTLS backend names",
			noBase: true,
			docs: []string{`
type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - {name: ca-1, type: builtin, conf: {caCert: {RSAbits: 2048, expiration: 10y}}}
  - {name: ca-1, type: builtin, conf: {caCert: {ECDSA: true, expiration: 10y}}}`, allowWebToBackend},
			want: []want{e("Mesh/default", "mtls.backends[1].name", `duplicate mTLS backend "ca-1": also mtls.backends[0]`)},
		},
		{
			name:   "CA with two key types, workload certs outliving the CA",
			noBase: true,
			docs: []string{`
type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    dpCert: {rotation: {expiration: 48h}}
    conf: {caCert: {RSAbits: 2048, ECDSA: true, expiration: 24h}}`, allowWebToBackend},
			want: []want{
				e("Mesh/default", "mtls.backends[0].conf.caCert", "sets both RSAbits and ECDSA"),
				e("Mesh/default", "mtls.backends[0].dpCert.rotation.expiration", "workload certificates (48h0m0s) would outlive their CA (24h0m0s)"),
			},
		},
		{
			name: "zone egress without mTLS; VIP CIDRs",
			docs: []string{
				`{type: Mesh, name: m1, routing: {zoneEgress: true}, networking: {vipCIDR: "240.0.0.0/40"}}`,
				`{type: Mesh, name: m2, networking: {vipCIDR: "fd00::/64"}}`,
				`{type: Mesh, name: m3, networking: {vipCIDR: "241.0.0.0/31"}}`,
			},
			want: []want{
				e("Mesh/m1", "routing.zoneEgress", "zone egress needs mTLS"),
				e("Mesh/m1", "networking.vipCIDR", `"240.0.0.0/40" is not a CIDR`),
				e("Mesh/m2", "networking.vipCIDR", "must be IPv4"),
				e("Mesh/m3", "networking.vipCIDR", "too few addresses"),
			},
		},
		{
			name:   "mTLS without any permission denies everything",
			noBase: true,
			docs:   []string{meshDefault},
			want:   []want{w("Mesh/default", "mtls.enabledBackend", `mesh "default" has mTLS on and no MeshTrafficPermission`)},
		},
		{
			name:       "secure-default warning skipped when the load was incomplete",
			noBase:     true,
			incomplete: true,
			docs:       []string{meshDefault},
		},

		// ---- VirtualOutbound ----
		{
			name: "virtual outbound templates that do not parse or use undeclared parameters",
			docs: []string{`
type: VirtualOutbound
name: vo
mesh: default
selectors: [{match: {kuma.io/service: "*"}}]
conf:
  host: "{{.service}.mesh"
  port: "{{.port}}"
  parameters: [{name: service, tagKey: kuma.io/service}]`},
			want: []want{
				e("VirtualOutbound/default/vo", "conf.host", `not a valid template: bad character U+007D '}'`),
				e("VirtualOutbound/default/vo", "conf.port", "uses {{.port}}, which is not a declared parameter"),
			},
		},
		{
			name: "virtual outbound parameters and literals",
			docs: []string{`
type: VirtualOutbound
name: vo
mesh: default
selectors: [{match: {}}]
conf:
  host: "Bad_Host!.mesh"
  port: "99999"
  parameters: [{name: svc-name, tagKey: kuma.io/service2}, {name: v, tagKey: version}, {name: v}]`},
			want: []want{
				e("VirtualOutbound/default/vo", "selectors[0].match", "selector matches no tags"),
				e("VirtualOutbound/default/vo", "conf.parameters[0].name", `parameter name "svc-name" cannot be used in a template`),
				e("VirtualOutbound/default/vo", "conf.parameters[2].name", `parameter "v" is declared twice`),
				e("VirtualOutbound/default/vo", "conf.parameters", "must include the service"),
				e("VirtualOutbound/default/vo", "conf.host", `host "Bad_Host!.mesh" is not a DNS name`),
				e("VirtualOutbound/default/vo", "conf.port", `port "99999" is not a port number`),
			},
		},
		{
			name: "virtual outbound without selectors and with an empty host",
			docs: []string{`
type: VirtualOutbound
name: vo
mesh: default
conf: {host: "", port: "80", parameters: [{name: service, tagKey: kuma.io/service}]}`},
			want: []want{
				e("VirtualOutbound/default/vo", "selectors", "needs at least one selector"),
				e("VirtualOutbound/default/vo", "conf.host", "empty template"),
			},
		},

		// ---- ExternalService ----
		{
			name: "external service addresses",
			docs: []string{
				`{type: ExternalService, name: a, mesh: default, tags: {kuma.io/service: a}, networking: {address: "api.example.com"}}`,
				`{type: ExternalService, name: b, mesh: default, tags: {kuma.io/service: b}, networking: {address: "api.example.com:http"}}`,
				`{type: ExternalService, name: c, mesh: default, tags: {kuma.io/service: c}, networking: {address: "bad_host!:443"}}`,
				`{type: ExternalService, name: d, mesh: default, tags: {version: v1}, networking: {address: "10.0.0.1:8080", tls: {enabled: true, serverName: "not a name"}}}`,
				`{type: ExternalService, name: e, mesh: default, tags: {kuma.io/service: e}, networking: {address: "[::1]:70000"}}`,
			},
			want: []want{
				e("ExternalService/default/a", "networking.address", `address "api.example.com" is not host:port`),
				e("ExternalService/default/b", "networking.address", `port "http" is not a port number`),
				e("ExternalService/default/c", "networking.address", `host "bad_host!" is neither an IP address nor a DNS name`),
				e("ExternalService/default/d", "tags", "ExternalService needs tags.kuma.io/service"),
				e("ExternalService/default/d", "networking.tls.serverName", `serverName "not a name" is not a DNS name`),
				e("ExternalService/default/e", "networking.address", `port "70000" is not a port number`),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var docs []string
			if !tc.noBase {
				docs = append(docs, meshDefault, allowWebToBackend)
			}
			rs := append(repo(t, append(docs, tc.docs...)...), tc.extra...)
			bundle, errs := Compile(rs, Options{Incomplete: tc.incomplete})
			checkDiagnostics(t, rs, errs, tc.want)
			if errs.HasErrors() != (bundle == nil) {
				t.Errorf("HasErrors=%v but bundle=%v: a bundle must exist exactly when there are no errors", errs.HasErrors(), bundle != nil)
			}
		})
	}
}

// checkDiagnostics matches got against want (in any order) and checks that
// every diagnostic sits at the position of its field in the resource's source.
func checkDiagnostics(t *testing.T, rs []schema.Resource, got schema.Errors, wants []want) {
	t.Helper()
	used := make([]bool, len(got))
	for _, wt := range wants {
		found := false
		for i, g := range got {
			if used[i] || g.Severity != wt.sev || g.Resource != wt.res || g.Path != wt.path || !strings.Contains(g.Msg, wt.msg) {
				continue
			}
			used[i], found = true, true
			break
		}
		if !found {
			t.Errorf("missing %s at %s %s containing %q", wt.sev, wt.res, wt.path, wt.msg)
		}
	}
	for i, g := range got {
		if !used[i] {
			t.Errorf("unexpected %s at %s %s: %s", g.Severity, g.Resource, g.Path, g.Msg)
		}
		placed := false
		for _, r := range rs {
			if r.Key().String() == g.Resource && r.Source.At(g.Path) == g.Pos {
				placed = true
			}
		}
		if !placed {
			t.Errorf("%s: position %s is not the position of field %q of %s", g.Msg, g.Pos, g.Path, g.Resource)
		}
	}
	if t.Failed() {
		t.Logf("all diagnostics:\n%s", got.Error())
	}
}
