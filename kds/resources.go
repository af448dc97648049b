package kds

import (
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

// toPB encodes a schema resource; zone names the owning zone (remote ingresses).
func toPB(r *schema.Resource, zone string) (*kdsv1.Resource, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", r.Key(), err)
	}
	return &kdsv1.Resource{Kind: r.Type, Mesh: r.Mesh, Name: r.Name, Zone: zone, Body: body}, nil
}

// fromPB decodes a schema resource and checks that its body agrees with its envelope.
func fromPB(p *kdsv1.Resource) (schema.Resource, error) {
	var r schema.Resource
	if err := json.Unmarshal(p.Body, &r); err != nil {
		return r, fmt.Errorf("%s: body: %w", keyOf(p), err)
	}
	if r.Type != p.Kind || r.Name != p.Name || r.Mesh != p.Mesh {
		return r, fmt.Errorf("%s: body says %s", keyOf(p), r.Key())
	}
	if schema.IsMeshScoped(r.Type) && r.Mesh == "" {
		return r, fmt.Errorf("%s: a %s needs a mesh", keyOf(p), r.Type)
	}
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

// decodeGlobalState turns what a zone received into a GlobalState, checking
// every resource; any error rejects the whole update.
func decodeGlobalState(st State, m meta) (GlobalState, error) {
	gs := GlobalState{Bundle: &compiler.Bundle{Version: m.BundleVersion, Commit: m.BundleCommit}}
	for _, k := range st.Sorted() {
		p := st[k].Res
		switch {
		case p.Kind == KindMeshCA:
			var ca MeshCA
			if err := json.Unmarshal(p.Body, &ca); err != nil {
				return gs, fmt.Errorf("%s: body: %w", k, err)
			}
			if ca.Mesh != p.Name || len(ca.CertPEM) == 0 || len(ca.KeyPEM) == 0 {
				return gs, fmt.Errorf("%s: a MeshCA needs mesh %q, cert and key", k, p.Name)
			}
			gs.CAs = append(gs.CAs, ca)
		case p.Kind == schema.TypeZoneIngress && p.Zone != "":
			r, err := fromPB(p)
			if err != nil {
				return gs, err
			}
			if s := r.ZoneIngressSpec(); s != nil && s.Zone != p.Zone {
				return gs, fmt.Errorf("%s: body names zone %q", k, s.Zone)
			}
			gs.RemoteIngresses = append(gs.RemoteIngresses, r)
		default:
			r, err := fromPB(p)
			if err != nil {
				return gs, err
			}
			gs.Bundle.Resources = append(gs.Bundle.Resources, r)
		}
	}
	schema.SortResources(gs.Bundle.Resources)
	sort.Slice(gs.CAs, func(i, j int) bool { return gs.CAs[i].Mesh < gs.CAs[j].Mesh })
	return gs, nil
}
