package compiler

import "strconv"

// memo shares identical plan parts between proxies. Entries built from
// policies are dropped when the bundle changes; endpoint sets are checked
// against their service's generation.
type memo struct {
	endpoints  map[endpointKey]*EndpointSet
	epGen      map[endpointKey]uint64
	clusters   map[clusterKey]clusterEntry
	outbounds  map[outboundKey]*outboundEntry
	selections map[string]selection
	vipSets    map[vipSetKey]*vipSetEntry
}

type vipSetKey struct{ mesh, sig string }

type vipSetEntry struct {
	set       *OutboundSet
	deps      map[svcRef]uint64
	warnings  []string
	vipGen    uint64
	checkedAt uint64 // the planner generation its deps were last found current at
}

type endpointKey struct {
	mesh, svc, subset   string
	mtls, localityAware bool
	egress              string // the egress remote zones are reached through ("" none)
}

type clusterKey struct {
	mesh, sig, svc, subset string
}

type outboundKey struct {
	mesh, sig, svc, subset string
}

type clusterEntry struct {
	cp  *ClusterPlan
	gen uint64
}

type outboundEntry struct {
	warnings []string
	os       *OutboundService
	deps     map[svcRef]uint64 // generation of every service it read
}

func newMemo() *memo {
	m := &memo{endpoints: map[endpointKey]*EndpointSet{}, epGen: map[endpointKey]uint64{}}
	m.resetPolicies()
	return m
}

func (m *memo) resetPolicies() {
	m.clusters = map[clusterKey]clusterEntry{}
	m.outbounds = map[outboundKey]*outboundEntry{}
	m.selections = map[string]selection{}
	m.vipSets = map[vipSetKey]*vipSetEntry{}
}

func itoaPort(i int) string { return strconv.Itoa(i) }
