package kds

import (
	"fmt"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kdsv1 "github.com/meshc/meshc/kds/v1"
	"github.com/meshc/meshc/schema"
)

// zoneRecord is what the global knows about one zone.
type zoneRecord struct {
	session        *session // non-nil while connected
	connectedAt    time.Time
	disconnectedAt time.Time
	agentVersion   string
	applied        meta // last bundle the zone ACKed
	appliedAt      time.Time
	lastNACK       *NACK
	insight        ZoneInsight
	inventory      []schema.Resource // the zone's ZoneIngresses, ZoneEgresses, Dataplanes
	ingresses      State             // its ZoneIngresses as sent to other zones
}

// NACK is a rejected update: which way it went, when, and why.
type NACK struct {
	At time.Time `json:"at"`
	// Direction is "global→zone" (the zone rejected the global's update) or
	// "zone→global" (the global rejected the zone's).
	Direction     string `json:"direction"`
	BundleVersion string `json:"bundleVersion,omitempty"`
	Reason        string `json:"reason"`
}

// ZoneStatus is one zone as GET /zones shows it.
type ZoneStatus struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	Online  bool   `json:"online"`
	// ConnectedAt and DisconnectedAt are the last connect and disconnect.
	ConnectedAt    *time.Time `json:"connectedAt,omitempty"`
	DisconnectedAt *time.Time `json:"disconnectedAt,omitempty"`
	AgentVersion   string     `json:"agentVersion,omitempty"`
	// BundleVersion is the bundle the zone last acknowledged (applied).
	BundleVersion string     `json:"bundleVersion,omitempty"`
	BundleCommit  string     `json:"bundleCommit,omitempty"`
	AppliedAt     *time.Time `json:"appliedAt,omitempty"`
	// InSync: the zone applied the global's current bundle.
	InSync        bool  `json:"inSync"`
	LastNACK      *NACK `json:"lastNack,omitempty"`
	Dataplanes    int   `json:"dataplanes"`
	ZoneIngresses int   `json:"zoneIngresses"`
	ZoneEgresses  int   `json:"zoneEgresses"`
	// Insight is what the zone last reported about itself.
	Insight *ZoneInsight `json:"insight,omitempty"`
	// Warnings are conditions the global sees across zones, such as
	// services of a mesh without mTLS in several zones (not routed).
	Warnings []string `json:"warnings,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// attach registers a new session for its zone, replacing an older one.
func (s *Server) attach(ss *session, h *kdsv1.Hello) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.enabledLocked(ss.zone) {
		return errZoneDisabled(ss.zone)
	}
	z := s.zones[ss.zone]
	if z == nil {
		z = &zoneRecord{ingresses: State{}}
		s.zones[ss.zone] = z
	}
	if old := z.session; old != nil {
		old.cancel(status.Errorf(codes.Aborted, "kds: replaced by a newer stream of zone %q", ss.zone))
	}
	z.session = ss
	z.connectedAt = s.opts.Now()
	z.agentVersion = h.AgentVersion
	s.zonesChanged()
	return nil
}

// detach marks the zone offline if ss is still its session.
func (s *Server) detach(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if z := s.zones[ss.zone]; z != nil && z.session == ss {
		z.session = nil
		z.disconnectedAt = s.opts.Now()
		s.zonesChanged()
		s.log.Info("zone disconnected", "zone", ss.zone)
	}
}

func (s *Server) recordNACK(zone, dir, version, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if z := s.zones[zone]; z != nil {
		z.lastNACK = &NACK{At: s.opts.Now(), Direction: dir, BundleVersion: version, Reason: reason}
		s.zonesChanged()
	}
}

func (s *Server) recordAck(zone string, res ackResult) {
	if res.NACK != "" {
		s.metrics.nacksReceived.Inc()
		s.log.Warn("zone rejected an update (NACK)", "zone", zone, "bundleVersion", res.Meta.BundleVersion, "reason", res.NACK)
		s.recordNACK(zone, "global→zone", res.Meta.BundleVersion, res.NACK)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if z := s.zones[zone]; z != nil && z.applied != res.Meta {
		z.applied, z.appliedAt = res.Meta, s.opts.Now()
		if z.lastNACK != nil && z.lastNACK.Direction == "global→zone" {
			z.lastNACK = nil // a later update was applied
		}
		s.zonesChanged()
		s.log.Info("zone applied bundle", "zone", zone, "version", res.Meta.BundleVersion)
	}
}

// Zones lists every zone the global knows: connected once, or declared in Git.
func (s *Server) Zones() []ZoneStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := map[string]bool{}
	for n := range s.zones {
		names[n] = true
	}
	for n := range s.declared {
		names[n] = true
	}
	out := make([]ZoneStatus, 0, len(names))
	for n := range names {
		out = append(out, s.statusLocked(n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Zone returns one zone's status.
func (s *Server) Zone(name string) (ZoneStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, known := s.zones[name]
	_, declared := s.declared[name]
	if !known && !declared {
		return ZoneStatus{}, false
	}
	return s.statusLocked(name), true
}

func (s *Server) statusLocked(name string) ZoneStatus {
	st := ZoneStatus{Name: name, Enabled: s.enabledLocked(name)}
	z := s.zones[name]
	if z == nil {
		return st
	}
	st.Online = z.session != nil
	st.ConnectedAt, st.DisconnectedAt = timePtr(z.connectedAt), timePtr(z.disconnectedAt)
	st.AgentVersion = z.agentVersion
	if z.insight.AgentVersion != "" {
		st.AgentVersion = z.insight.AgentVersion
	}
	st.BundleVersion, st.BundleCommit, st.AppliedAt = z.applied.BundleVersion, z.applied.BundleCommit, timePtr(z.appliedAt)
	st.InSync = s.bundle != nil && z.applied.BundleVersion == s.bundle.Version
	st.LastNACK = z.lastNACK
	if z.insight != (ZoneInsight{}) {
		in := z.insight
		st.Insight = &in
	}
	for i := range z.inventory {
		switch z.inventory[i].Type {
		case schema.TypeDataplane:
			st.Dataplanes++
		case schema.TypeZoneIngress:
			st.ZoneIngresses++
		case schema.TypeZoneEgress:
			st.ZoneEgresses++
		}
	}
	st.Warnings = s.crossZoneWarningsLocked(name)
	return st
}

// DeleteZone forgets a disconnected zone: its dataplanes, ingresses, egresses
// and insight leave the global and every other zone.
func (s *Server) DeleteZone(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zones[name]
	if z == nil {
		return fmt.Errorf("%w: zone %q", ErrNotFound, name)
	}
	if z.session != nil {
		return errDeleteOnline
	}
	delete(s.zones, name)
	s.kickAllLocked(name)
	s.zonesChanged()
	s.log.Info("zone deleted", "zone", name, "dataplanes", len(z.inventory))
	return nil
}

// Inventory returns the resources of type t that zones reported (mesh "" = all
// meshes), sorted by zone then key; Zone-scoped kinds carry spec.zone.
func (s *Server) Inventory(t, mesh string) []ZonedResource {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ZonedResource
	for name, z := range s.zones {
		for _, r := range z.inventory {
			if r.Type == t && (mesh == "" || r.Mesh == mesh) {
				out = append(out, ZonedResource{Zone: name, Resource: r})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Zone != out[j].Zone {
			return out[i].Zone < out[j].Zone
		}
		return out[i].Resource.Key().Less(out[j].Resource.Key())
	})
	return out
}

// ZonedResource is a resource with the zone that reported it.
type ZonedResource struct {
	Zone     string
	Resource schema.Resource
}
