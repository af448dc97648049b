// Package xds is the Envoy back end of meshc: it translates a
// compiler.ProxyPlan into Envoy v3 resources (listeners, routes, clusters,
// endpoints, secrets), keeps them in go-control-plane snapshot caches and
// serves them over ADS (state of the world and delta) to Envoy sidecars and
// proxyless gRPC clients.
//
// The zone agent uses it like this:
//
//	srv := xds.NewServer(xds.ServerOptions{Log: log, Registry: reg, OnConnect: online})
//	srv.Register(grpcServer)               // ADS (SotW + delta) and SDS
//	srv.Update(ctx, plan, &xds.Secrets{…}) // translate + publish, make-before-break
//	srv.Remove(key)                        // a dataplane left
//	srv.Status(nodeID)                     // connected, served/ACKed versions, last NACK
//	srv.NACKs()                            // recent rejections with Envoy's reasons
//	srv.Resources(nodeID)                  // what is served (meshc inspect): ByType, Names, Get
//	xds.BootstrapJSON(xds.BootstrapOptions{…})     // Envoy bootstrap for meshc dp
//	xds.ProxylessBootstrap(xds.ProxylessOptions{…}) // grpc-go bootstrap (proxyless: true)
//
// Node ids are `<mesh>.<name>` (compiler.ProxyKey.String()). A node whose
// metadata says `proxyless: true` is served api_listeners named after each
// outbound host (`backend.mesh` for `xds:///backend.mesh`) from a cache that
// answers exactly the names asked for.
//
// Sharing: identical protos (clusters, endpoints, routes, outbound listeners,
// inbound filter chains) are built once per content and shared between
// proxies; a mesh's VIP outbounds are one shared layer per policy selection,
// under each proxy's own small layer (Resources). NACKs are recorded and the
// rejected version is never re-sent in a loop (see notes/xds-facts.md).
package xds
