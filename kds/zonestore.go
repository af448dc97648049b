package kds

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	kdsv1 "github.com/meshc/meshc/kds/v1"
	"github.com/meshc/meshc/pki"
	"github.com/meshc/meshc/schema"
)

// ZonesFile keeps the global's zone registry (status and inventory) in its
// state dir, so a restarted global still lists offline zones and still hands
// their ingresses to the other zones.
const ZonesFile = "kds-zones.json"

type persistedZone struct {
	ConnectedAt    time.Time           `json:"connectedAt,omitzero"`
	DisconnectedAt time.Time           `json:"disconnectedAt,omitzero"`
	AgentVersion   string              `json:"agentVersion,omitempty"`
	Applied        meta                `json:"applied"`
	AppliedAt      time.Time           `json:"appliedAt,omitzero"`
	LastNACK       *NACK               `json:"lastNack,omitempty"`
	Insight        ZoneInsight         `json:"insight"`
	Inventory      []persistedResource `json:"inventory"`
}

// persistedResource is a resource of a zone's inventory on disk.
type persistedResource struct {
	Kind string `json:"kind"`
	Mesh string `json:"mesh,omitempty"`
	Name string `json:"name"`
	Zone string `json:"zone,omitempty"`
	Body []byte `json:"body"`
}

func (s *Server) zonesPath() string { return filepath.Join(s.opts.StateDir, ZonesFile) }

// zonesChanged asks the writer to save the registry (coalesced).
func (s *Server) zonesChanged() {
	if s.opts.StateDir == "" {
		return
	}
	select {
	case s.saveKick <- struct{}{}:
	default:
	}
}

// saveLoop writes the registry whenever it changed, and once more at the end.
func (s *Server) saveLoop(ctx context.Context) {
	if s.opts.StateDir == "" {
		return
	}
	for {
		select {
		case <-ctx.Done():
			s.saveZones()
			return
		case <-s.saveKick:
			s.saveZones()
		}
	}
}

func (s *Server) saveZones() {
	s.mu.Lock()
	out := make(map[string]persistedZone, len(s.zones))
	for name, z := range s.zones {
		pz := persistedZone{ConnectedAt: z.connectedAt, DisconnectedAt: z.disconnectedAt, AgentVersion: z.agentVersion,
			Applied: z.applied, AppliedAt: z.appliedAt, LastNACK: z.lastNACK, Insight: z.insight}
		for i := range z.inventory {
			p, err := toPB(&z.inventory[i], "")
			if err != nil {
				continue
			}
			pz.Inventory = append(pz.Inventory, persistedResource{Kind: p.Kind, Mesh: p.Mesh, Name: p.Name, Body: p.Body})
		}
		out[name] = pz
	}
	s.mu.Unlock()
	data, err := json.Marshal(out)
	if err == nil {
		err = pki.WriteFileAtomic(s.zonesPath(), data, 0o600)
	}
	if err != nil {
		s.log.Error("could not save the zone registry", "err", err)
	}
}

// loadZones restores the registry; every zone starts offline.
func (s *Server) loadZones() {
	if s.opts.StateDir == "" {
		return
	}
	data, err := os.ReadFile(s.zonesPath())
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var in map[string]persistedZone
	if err == nil {
		err = json.Unmarshal(data, &in)
	}
	if err != nil {
		s.log.Error("zone registry not restored; zones reappear as they connect", "file", s.zonesPath(), "err", err)
		return
	}
	now := s.opts.Now()
	for name, pz := range in {
		z := &zoneRecord{connectedAt: pz.ConnectedAt, disconnectedAt: pz.DisconnectedAt, agentVersion: pz.AgentVersion,
			applied: pz.Applied, appliedAt: pz.AppliedAt, lastNACK: pz.LastNACK, insight: pz.Insight, ingresses: State{}}
		if z.disconnectedAt.Before(z.connectedAt) {
			z.disconnectedAt = now // it was online when the global stopped
		}
		for _, r := range pz.Inventory {
			res, err := fromPB(&kdsv1.Resource{Kind: r.Kind, Mesh: r.Mesh, Name: r.Name, Body: r.Body})
			if err != nil {
				s.log.Error("zone registry: resource dropped", "zone", name, "err", err)
				continue
			}
			z.inventory = append(z.inventory, res)
			if res.Type == schema.TypeZoneIngress {
				if p, err := toPB(&res, name); err == nil {
					z.ingresses.Put(p)
				}
			}
		}
		s.zones[name] = z
	}
	s.log.Info("zone registry restored", "zones", len(in))
}
