package schema

import (
	"strings"
	"testing"
	"testing/fstest"
)

// diag renders diagnostics as "pos: message" lines (warnings marked) for comparison.
func diag(es Errors) []string {
	out := make([]string, len(es))
	for i, e := range es {
		s := e.Pos.String() + ": " + e.Msg
		if e.Severity == SeverityWarning {
			s = "warning: " + s
		}
		out[i] = s
	}
	return out
}

func loadOne(t *testing.T, name, body string) ([]Resource, Errors) {
	t.Helper()
	return LoadFS(fstest.MapFS{name: {Data: []byte(body)}}, ".", "repo")
}

// TestLoadErrors: every class of bad input is reported at its file:line:col
// with a message naming what is wrong and what is allowed.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, body string
		want             []string // "pos: message" prefixes, in order
	}{
		{"yaml syntax", "m.yaml", "type: Mesh\nname: default\nmtls: enabledBackend: ca\n",
			[]string{"repo/m.yaml:3: YAML syntax error: mapping values are not allowed in this context"}},
		{"yaml bad indent", "m.yaml", "type: Mesh\nname: a\nmtls:\n  enabledBackend: x\n bad: 1\n",
			[]string{"repo/m.yaml:5: YAML syntax error: did not find expected key"}},
		{"yaml unclosed flow", "m.yaml", "type: Mesh\nname: a\nrouting: {x: 1\nfoo: 2\n",
			[]string{"repo/m.yaml:3: YAML syntax error: did not find expected ',' or '}'"}},
		{"yaml duplicate key", "m.yaml", "type: Mesh\nname: a\nrouting:\n  zoneEgress: true\n  zoneEgress: true\n",
			[]string{`repo/m.yaml:5:3: routing.zoneEgress: duplicate key "zoneEgress" (first at line 4)`}},
		{"yaml tab indent", "m.yaml", "type: Mesh\n\tname: x\n",
			[]string{"repo/m.yaml:2: YAML syntax error: found a tab character that violates indentation"}},
		{"json syntax", "m.json", `{"type": "Mesh", "name": }`,
			[]string{"repo/m.json:1:26: JSON syntax error: invalid JSON"}},
		{"cue syntax", "m.cue", "package x\nresources: [{type: \"Mesh\" name: \"a\"}]\n",
			[]string{"repo/m.cue:2:27: CUE syntax error: missing ',' in struct literal"}},
		{"unknown type", "m.yaml", "type: Meshh\nname: a\n",
			[]string{`repo/m.yaml:1:1: unknown type "Meshh" (did you mean "Mesh"?): want one of Dataplane, ExternalService, Mesh,`}},
		{"missing type", "m.yaml", "name: a\n",
			[]string{`repo/m.yaml:1:1: missing field "type"`}},
		{"type not a string", "m.yaml", "type: 3\nname: a\n",
			[]string{`repo/m.yaml:1:1: field "type" must be a string`}},
		{"unknown field", "m.yaml", "type: Zone\nname: z\nenbled: false\n",
			[]string{`repo/m.yaml:3:1: enbled: unknown field "enbled" (did you mean "enabled"?); allowed here: enabled, name, type`}},
		{"unknown nested field", "m.yaml", "type: Mesh\nname: m\nrouting:\n  localityAware: true\n",
			[]string{`repo/m.yaml:4:3: routing.localityAware: unknown field "localityAware"; allowed here: localityAwareLoadBalancing, zoneEgress`}},
		{"wrong type", "m.yaml", "type: Zone\nname: z\nenabled: \"no\"\n",
			[]string{`repo/m.yaml:3:10: enabled: wrong type: want bool, got string "no"`}},
		{"wrong type struct", "m.yaml", "type: Mesh\nname: m\nrouting: true\n",
			[]string{`repo/m.yaml:3:10: routing: wrong type: want a mapping, got bool true`}},
		{"bad name", "m.yaml", "type: Mesh\nname: Payments_1\n",
			[]string{`repo/m.yaml:2:7: name: invalid value "Payments_1": must be an RFC 1123 name`}},
		{"name too long", "m.yaml", "type: Mesh\nname: " + strings.Repeat("a.", 127) + "a\n",
			[]string{`repo/m.yaml:2:7: name: invalid value "a.a.`}},
		{"missing name", "m.yaml", "type: Zone\n",
			[]string{`repo/m.yaml:1:1: missing required field "name"`}},
		{"missing mesh", "m.yaml", "type: MeshTimeout\nname: t\nspec:\n  to: []\n",
			[]string{`repo/m.yaml:1:1: missing required field "mesh"`}},
		{"mtls backend type", "m.yaml", "type: Mesh\nname: m\nmtls:\n  backends:\n    - name: ca\n      type: vault\n",
			[]string{`repo/m.yaml:6:13: mtls.backends[0].type: invalid value "vault": must be builtin`}},
		{"ca expiration", "m.yaml", "type: Mesh\nname: m\nmtls:\n  backends:\n    - name: ca\n      type: builtin\n      conf: {caCert: {expiration: 10 years}}\n",
			[]string{`repo/m.yaml:7:35: mtls.backends[0].conf.caCert.expiration: invalid value "10 years": must be a duration`}},
		{"vip cidr", "m.yaml", "type: Mesh\nname: m\nnetworking:\n  vipCIDR: 240.0.0.0/40\n",
			[]string{`repo/m.yaml:4:12: networking.vipCIDR: invalid value "240.0.0.0/40": must be a CIDR`}},
		{"targetRef kind", "p.yaml", "type: MeshTimeout\nname: t\nmesh: m\nspec:\n  targetRef: {kind: Service}\n",
			[]string{`repo/p.yaml:5:21: spec.targetRef.kind: invalid value "Service": must be one of Mesh, MeshSubset, MeshService, MeshServiceSubset`}},
		{"timeout default checked per kind", "p.yaml", "type: MeshTimeout\nname: t\nmesh: m\nspec:\n  to:\n    - targetRef: {kind: Mesh}\n      default:\n        connectionTimeout: 5x\n        action: Allow\n",
			[]string{
				`repo/p.yaml:8:28: spec.to[0].default.connectionTimeout: invalid value "5x": must be a duration`,
				`repo/p.yaml:9:9: spec.to[0].default.action: unknown field "action"; allowed here: connectionTimeout, http, idleTimeout`,
			}},
		{"permission action", "p.yaml", "type: MeshTrafficPermission\nname: t\nmesh: m\nspec:\n  from:\n    - targetRef: {kind: Mesh}\n      default: {action: allow}\n",
			[]string{`repo/p.yaml:7:25: spec.from[0].default.action: invalid value "allow": must be one of Allow, Deny, AllowWithShadowDeny`}},
		{"permission needs from", "p.yaml", "type: MeshTrafficPermission\nname: t\nmesh: m\nspec:\n  targetRef: {kind: Mesh}\n",
			[]string{`repo/p.yaml:4:1: spec: missing required field "from"`}},
		{"permission has no to", "p.yaml", "type: MeshTrafficPermission\nname: t\nmesh: m\nspec:\n  from: []\n  to: []\n",
			[]string{`repo/p.yaml:6:3: spec.to: unknown field "to"; allowed here: from, targetRef`}},
		{"missing kind", "p.yaml", "type: MeshRetry\nname: r\nmesh: m\nspec:\n  to:\n    - targetRef: {name: x}\n      default: {}\n",
			[]string{`repo/p.yaml:6:7: spec.to[0].targetRef: missing required field "kind"`}},
		{"route values", "r.yaml", `type: MeshHTTPRoute
name: r
mesh: m
spec:
  to:
    - targetRef: {kind: MeshService, name: backend}
      rules:
        - matches:
            - path: {type: Prefix, value: /api}
              method: FETCH
          default:
            backendRefs:
              - {name: backend, weight: -1}
              - {name: backend, port: 70000, tags: {"bad key!": x}}
`, []string{
			`repo/r.yaml:9:28: spec.to[0].rules[0].matches[0].path.type: invalid value "Prefix": must be one of Exact, PathPrefix, RegularExpression`,
			`repo/r.yaml:10:23: spec.to[0].rules[0].matches[0].method: invalid value "FETCH": must be one of CONNECT, DELETE, GET,`,
			`repo/r.yaml:13:41: spec.to[0].rules[0].default.backendRefs[0].weight: invalid value -1: must be at least 0`,
			`repo/r.yaml:14:39: spec.to[0].rules[0].default.backendRefs[1].port: invalid value 70000: must be a port number from 1 to 65535`,
			`repo/r.yaml:14:53: spec.to[0].rules[0].default.backendRefs[1].tags["bad key!"]: invalid tag key "bad key!"`,
		}},
		{"lb type", "p.yaml", "type: MeshLoadBalancingStrategy\nname: l\nmesh: m\nspec:\n  to:\n    - targetRef: {kind: Mesh}\n      default: {loadBalancer: {type: Fastest}}\n",
			[]string{`repo/p.yaml:7:38: spec.to[0].default.loadBalancer.type: invalid value "Fastest": must be one of RoundRobin, LeastRequest, RingHash, Random, Maglev`}},
		{"dataplane port and tag", "d.yaml", "type: Dataplane\nname: d\nmesh: m\nnetworking:\n  address: 10.0.0.1\n  inbound:\n    - port: 0\n      tags: {version: v1}\n",
			[]string{
				`repo/d.yaml:7:13: networking.inbound[0].port: invalid value 0: must be a port number from 1 to 65535`,
				`repo/d.yaml:8:7: networking.inbound[0].tags: missing required field "kuma.io/service"`,
			}},
		{"external service address", "e.yaml", "type: ExternalService\nname: e\nmesh: m\ntags: {kuma.io/service: httpbin}\nnetworking: {address: httpbin.org}\n",
			[]string{`repo/e.yaml:5:23: networking.address: invalid value "httpbin.org": must be host:port`}},
		{"alias bomb", "m.yaml", "type: Zone\nname: z\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
			[]string{"repo/m.yaml:3: YAML syntax error: aliases expand to more than 50000 nodes"}},
		{"not a mapping", "m.yaml", "- type: Mesh\n",
			[]string{"repo/m.yaml:1:1: YAML document is not a resource: want a mapping"}},
		{"json array of non-objects", "m.json", `[1]`,
			[]string{"repo/m.json:1:2: array element is not a resource"}},
		{"CR line breaks", "m.yaml", "type: Zone\rname: Z\r",
			[]string{`repo/m.yaml:2:7: name: invalid value "Z"`}},
		{"CRLF line breaks", "m.yaml", "type: Zone\r\nname: z\r\nenabled: 1\r\n",
			[]string{`repo/m.yaml:3:10: enabled: wrong type: want bool, got int 1`}},
		{"not utf-8", "m.yaml", "type: Mesh\nname: \xff\xfe\n",
			[]string{"repo/m.yaml:2:7: file is not valid UTF-8 (byte 0xff at offset 17); save it as UTF-8"}},
		{"empty yaml", "m.yaml", "",
			[]string{"repo/m.yaml: file is empty: add resources or delete the file"}},
		{"comments only", "m.yaml", "# nothing yet\n---\n",
			[]string{"warning: repo/m.yaml: file has no resources (only comments)"}},
		{"empty json", "m.json", "  \n",
			[]string{"repo/m.json: file is empty: add resources or delete the file"}},
		{"empty json array", "m.json", "[]",
			[]string{"warning: repo/m.json:1:1: file has no resources (empty array)"}},
		{"cue without resources", "m.cue", "package x\nteams: [\"a\"]\n",
			[]string{`warning: repo/m.cue: CUE package defines no top-level "resources" field; nothing loaded`}},
		{"cue bad import", "m.cue", "package x\nimport \"example.com/lib\"\nresources: [lib.x]\n",
			[]string{`repo/m.cue:2:8: cannot import "example.com/lib": only "meshc.dev/schema" and the CUE standard library can be imported`}},
		{"cue resources not a collection", "m.cue", "package x\nresources: 3\n",
			[]string{`repo/m.cue:2:1: "resources" must be a list or a struct of resources`}},
		{"cue unknown field", "m.cue", "package x\nresources: z: {type: \"Zone\", name: \"z\", enbled: false}\n",
			[]string{`repo/m.cue:2:41: enbled: unknown field "enbled" (did you mean "enabled"?); allowed here: enabled, name, type`}},
		{"cue undefined reference", "m.cue", "package x\nresources: [foo]\n",
			[]string{`repo/m.cue:2:13: resources: reference "foo" not found`}},
		{"cue undefined definition", "m.cue", "package x\nimport \"meshc.dev/schema\"\nresources: [schema.#Nope & {name: \"a\"}]\n",
			[]string{`repo/m.cue:3:20: resources[0]: undefined field: #Nope`}},
		{"cue template never filled", "m.cue", "package x\nimport \"meshc.dev/schema\"\nresources: [schema.#Zone & {name: string}]\n",
			[]string{`repo/m.cue:3:13: name: needs a concrete value: it is only constrained, never set`}},
		{"cue error outside resources", "m.cue", "package x\nresources: []\nteams: [\"a\"] & [\"b\"]\n",
			[]string{`repo/m.cue:3:9: teams[0]: conflicting values "b" and "a"`}},
		{"cue conflict", "m.cue", "package x\nimport \"meshc.dev/schema\"\nresources: [schema.#Zone & {name: \"z\", enabled: 3}]\n",
			[]string{`repo/m.cue:3:49: enabled: wrong type: want bool, got int 3`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs, errs := loadOne(t, tc.file, tc.body)
			got := diag(errs)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("diagnostic %d:\n got %s\nwant %s…", i, got[i], tc.want[i])
				}
			}
			if errs.HasErrors() && len(rs) != 0 {
				t.Errorf("a file with errors yielded resources: %+v", rs)
			}
		})
	}
}
