// Package dns is the zone's service discovery back end: VIP allocation per mesh
// (Allocator, persisted, stable, with a grace period before reuse) and the
// `.mesh` DNS server (Server, miekg/dns over UDP and TCP) answering from a
// swappable record Source built from the allocation (Table).
//
// Which mesh a query is answered for: a listener bound for one mesh
// (Config.MeshAddrs, "a per-mesh server address") answers that mesh's names
// only; the shared listener (Config.Addr) answers for the mesh of the dataplane
// registered at the query's source address, or for the zone's only mesh when
// there is just one. A source that belongs to several meshes' dataplanes or to
// none (with several meshes) gets REFUSED for `.mesh` names, with an extended
// DNS error saying to use the mesh's own DNS address.
package dns
