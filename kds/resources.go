package kds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/meshc/meshc/compiler"
	kdsv1 "github.com/meshc/meshc/kds/v1"
	"github.com/meshc/meshc/schema"
)

// MeshCA is a mesh's certificate authority as the global hands it to zones:
// the zone issues workload certificates from it.
type MeshCA struct {
	Mesh    string `json:"mesh"`
	CertPEM []byte `json:"cert"`
	KeyPEM  []byte `json:"key"`
}

// ZoneInsight is what a zone reports about itself.
type ZoneInsight struct {
	AgentVersion  string    `json:"agentVersion,omitempty"`
	BundleVersion string    `json:"bundleVersion,omitempty"`
	BundleCommit  string    `json:"bundleCommit,omitempty"`
	AppliedAt     time.Time `json:"appliedAt,omitzero"`
	StartedAt     time.Time `json:"startedAt,omitzero"`
}

// GlobalState is everything a zone receives from the global.
type GlobalState struct {
	// Bundle is the global's bundle (meshes, policies, zones, …).
	Bundle *compiler.Bundle
	// CAs holds one CA per mesh with builtin mTLS, sorted by mesh.
	CAs []MeshCA
	// RemoteIngresses are the ZoneIngresses of the other enabled zones, with
	// spec.zone set and availableServices as their zone computed them.
	RemoteIngresses []schema.Resource
}

// LocalTypes are the kinds a zone sends to the global.
var LocalTypes = []string{schema.TypeZoneIngress, schema.TypeZoneEgress, schema.TypeDataplane}

func isLocalType(t string) bool {
	for _, l := range LocalTypes {
		if l == t {
			return true
		}
	}
	return false
}

// toPB encodes a schema resource: kind, mesh and name in the envelope, the
// spec as JSON in the body; zone names the owning zone (remote ingresses).
func toPB(r *schema.Resource, zone string) (*kdsv1.Resource, error) {
	body, err := json.Marshal(r.Spec)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", r.Key(), err)
	}
	return &kdsv1.Resource{Kind: r.Type, Mesh: r.Mesh, Name: r.Name, Zone: zone, Body: body}, nil
}

// fromPB decodes a schema resource, checking kind, name and mesh. Unknown
// fields in the body are errors (a peer speaking another schema version).
func fromPB(p *kdsv1.Resource) (schema.Resource, error) {
	r := schema.Resource{Type: p.Kind, Mesh: p.Mesh, Name: p.Name}
	spec := schema.NewSpec(p.Kind)
	if spec == nil {
		return r, fmt.Errorf("%s: unknown resource type %q", keyOf(p), p.Kind)
	}
	if p.Name == "" {
		return r, fmt.Errorf("%s: a resource needs a name", keyOf(p))
	}
	if schema.IsMeshScoped(p.Kind) && p.Mesh == "" {
		return r, fmt.Errorf("%s: a %s needs a mesh", keyOf(p), p.Kind)
	}
	dec := json.NewDecoder(bytes.NewReader(p.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(spec); err != nil {
		return r, fmt.Errorf("%s: body: %w", keyOf(p), err)
	}
	r.Spec = spec
	return r, nil
}

// bundleState encodes a bundle's resources.
func bundleState(b *compiler.Bundle) (State, error) {
	st := make(State, len(b.Resources))
	for i := range b.Resources {
		p, err := toPB(&b.Resources[i], "")
		if err != nil {
			return nil, err
		}
		st.Put(p)
	}
	return st, nil
}

func caResource(ca MeshCA) (*kdsv1.Resource, error) {
	body, err := json.Marshal(ca)
	if err != nil {
		return nil, err
	}
	return &kdsv1.Resource{Kind: KindMeshCA, Name: ca.Mesh, Body: body}, nil
}

// decoded is a received resource after decoding, kept while its body hash holds.
type decoded struct {
	hash string
	res  schema.Resource
	ca   *MeshCA
}

// decodeCache remembers decoded resources, and their order, so an update
// decodes only what changed and sorts only when the set of keys changed.
type decodeCache struct {
	entries map[Key]decoded
	order   []Key
}

// decodeGlobalState turns what a zone received into a GlobalState, checking
// every resource not already in cache; any error rejects the whole update.
// It returns the cache for the new state. Resources are shared between the
// states it returns: sinks must not modify them.
func decodeGlobalState(st State, m meta, cache decodeCache) (GlobalState, decodeCache, error) {
	gs := GlobalState{Bundle: &compiler.Bundle{Version: m.BundleVersion, Commit: m.BundleCommit, Resources: make([]schema.Resource, 0, len(st))}}
	next := decodeCache{entries: make(map[Key]decoded, len(st)), order: cache.order}
	if len(cache.order) != len(st) {
		next.order = nil
	} else {
		for k := range st {
			if _, ok := cache.entries[k]; !ok {
				next.order = nil
				break
			}
		}
	}
	if next.order == nil {
		next.order = st.Sorted() // bundle resources come out in schema order (type, mesh, name)
	}
	for _, k := range next.order {
		e := st[k]
		d, ok := cache.entries[k]
		if !ok || d.hash != e.Hash {
			var err error
			if d, err = decodeOne(e); err != nil {
				return gs, decodeCache{}, err
			}
		}
		next.entries[k] = d
		switch {
		case d.ca != nil:
			gs.CAs = append(gs.CAs, *d.ca)
		case k.Kind == schema.TypeZoneIngress && k.Zone != "":
			gs.RemoteIngresses = append(gs.RemoteIngresses, d.res)
		default:
			gs.Bundle.Resources = append(gs.Bundle.Resources, d.res)
		}
	}
	sort.Slice(gs.CAs, func(i, j int) bool { return gs.CAs[i].Mesh < gs.CAs[j].Mesh })
	return gs, next, nil
}

func decodeOne(e Entry) (decoded, error) {
	p, k := e.Res, keyOf(e.Res)
	d := decoded{hash: e.Hash}
	switch {
	case p.Kind == KindMeshCA:
		var ca MeshCA
		if err := json.Unmarshal(p.Body, &ca); err != nil {
			return d, fmt.Errorf("%s: body: %w", k, err)
		}
		if ca.Mesh != p.Name || len(ca.CertPEM) == 0 || len(ca.KeyPEM) == 0 {
			return d, fmt.Errorf("%s: a MeshCA needs mesh %q, cert and key", k, p.Name)
		}
		d.ca = &ca
	case p.Kind == schema.TypeZoneIngress && p.Zone != "":
		r, err := fromPB(p)
		if err != nil {
			return d, err
		}
		if s := r.ZoneIngressSpec(); s != nil && s.Zone != p.Zone {
			return d, fmt.Errorf("%s: body names zone %q", k, s.Zone)
		}
		d.res = r
	default:
		r, err := fromPB(p)
		if err != nil {
			return d, err
		}
		d.res = r
	}
	return d, nil
}
