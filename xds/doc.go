// Package xds is the Envoy back end of meshc: it translates a compiler.ProxyPlan
// into Envoy v3 resources (listeners, routes, clusters, endpoints, secrets),
// keeps them in a go-control-plane snapshot cache and serves them over ADS
// (state-of-the-world and delta) to Envoy sidecars and proxyless gRPC clients.
//
// Entry points for the zone agent:
//
//	t := xds.NewTranslator()                      // shares identical protos between proxies
//	res, err := t.Translate(plan, secrets, xds.Options{})  // one proxy's resources
//	srv := xds.NewServer(xds.ServerOptions{Log: log, Registry: reg})
//	srv.Register(grpcServer)                      // ADS SotW + delta on a grpc.Server
//	srv.Update(ctx, plan, secrets)                // translate + publish (make-before-break)
//	srv.Remove(key)                               // a dataplane left
//	srv.Status(nodeID) / srv.NACKs()              // connection state and NACKs with reasons
//	xds.Bootstrap(xds.BootstrapOptions{…})        // Envoy bootstrap for `meshc dp`
package xds
