package xds

import (
	"context"
	"path"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// stream returns (creating) the state of a stream and binds it to its node on
// the first request that names one. It reports whether the node just connected.
func (s *Server) stream(id int64, node *corev3.Node, delta bool) (*streamState, *nodeState, bool) {
	st := s.streams[id]
	if st == nil {
		st = &streamState{delta: delta, nonces: map[string]string{}, names: map[string]string{}}
		s.streams[id] = st
	}
	connected := false
	if st.node == "" && node.GetId() != "" {
		st.node = node.GetId()
		n := s.node(st.node)
		n.streams++
		if n.streams == 1 {
			connected = true
			n.status.LastConnect = time.Now()
			s.metrics.connected.Inc()
		}
	}
	if st.node == "" {
		return st, nil, false
	}
	return st, s.nodes[st.node], connected
}

func (s *Server) onStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	s.mu.Lock()
	st, n, connected := s.stream(id, req.GetNode(), false)
	var plBuild bool
	if n != nil && !n.proxyless && proxylessMeta(req.GetNode()) {
		n.proxyless = true
		plBuild = n.plan != nil
	}
	if n != nil {
		if req.GetErrorDetail() != nil {
			rejected := st.nonces[req.GetResponseNonce()]
			s.recordNACK(n, req.GetTypeUrl(), rejected, req.GetErrorDetail().GetMessage())
			if rejected != "" {
				// The cache re-sends at once whatever differs from the request's
				// version; claim the rejected version so it waits for new config.
				req.VersionInfo = rejected
			}
		} else if req.GetResponseNonce() != "" || req.GetVersionInfo() != "" {
			// An ACK, or the first request of a stream to a restarted server:
			// the version the proxy reports is the one it runs.
			s.recordACK(n, req.GetTypeUrl(), req.GetVersionInfo())
		}
	}
	if !proxylessMeta(req.GetNode()) {
		s.answerWholeType(st, req)
	}
	var plan, sec = (*nodeState)(nil), (*Secrets)(nil)
	if plBuild {
		plan, sec = n, n.sec
	}
	s.mu.Unlock()
	if connected && s.opts.OnConnect != nil {
		s.opts.OnConnect(st.node, true)
	}
	if plan != nil {
		// Before the watch is created, so the first request is answered at once.
		if err := s.publishProxyless(plan.id, plan.plan, sec); err != nil {
			s.log.Error("proxyless snapshot", "node", plan.id, "err", err)
		}
	}
	return nil
}

// answerWholeType makes the sidecar (ADS-mode) cache answer a request for
// endpoints, routes or secrets with every resource of the type in the node's
// snapshot, and answer again when the proxy's subscription changed.
//
// go-control-plane's ADS mode does not answer a request whose names do not
// cover every resource of the type in the snapshot ("ADS mode: not responding
// to request …"), and drops the watch when a new snapshot adds one, counting
// on the proxy to ask again. Envoy asks again only when its subscription
// changes, so a proxy that asked for identity_cert alone, or for one cluster's
// endpoints, while the snapshot already held mesh_ca or the next cluster,
// waits for ever (a secret) or 15 s (endpoints). And a response naming
// resources the proxy did not watch yet is counted as delivered: when the
// proxy subscribes to them at the same version, the cache answers nothing.
// Snapshots hold exactly what the proxy's listeners and clusters refer to
// (Resources.checkRefs), so the whole type is what the proxy needs; Envoy
// ignores the resources it does not watch. Called with s.mu held.
func (s *Server) answerWholeType(st *streamState, req *discoveryv3.DiscoveryRequest) {
	u := req.GetTypeUrl()
	if u != typeURLs[typeEndpoint] && u != typeURLs[typeRoute] && u != typeURLs[typeSecret] {
		return
	}
	names := strings.Join(req.GetResourceNames(), "\x00")
	prev, seen := st.names[u]
	st.names[u] = names
	req.ResourceNames = nil
	if seen && prev != names && req.GetErrorDetail() == nil {
		// The proxy watches resources it may have been sent unwatched:
		// answer with the current version whatever it says it has.
		req.VersionInfo = ""
	}
}

func (s *Server) onStreamResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[id]; st != nil {
		rememberNonce(st, resp.GetNonce(), resp.GetVersionInfo())
	}
}

func (s *Server) onDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	s.mu.Lock()
	st, n, connected := s.stream(id, req.GetNode(), true)
	if n != nil && req.GetResponseNonce() != "" {
		v := st.nonces[req.GetResponseNonce()]
		if req.GetErrorDetail() != nil {
			// The delta server counts what it sent as known: nothing is re-sent
			// until the config changes. Record the rejection.
			s.recordNACK(n, req.GetTypeUrl(), v, req.GetErrorDetail().GetMessage())
		} else {
			s.recordACK(n, req.GetTypeUrl(), v)
		}
	}
	s.mu.Unlock()
	if connected && s.opts.OnConnect != nil {
		s.opts.OnConnect(st.node, true)
	}
	return nil
}

func (s *Server) onDeltaResponse(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[id]; st != nil {
		rememberNonce(st, resp.GetNonce(), resp.GetSystemVersionInfo())
	}
}

func rememberNonce(st *streamState, nonce, version string) {
	if len(st.nonces) > 64 {
		clear(st.nonces)
	}
	st.nonces[nonce] = version
}

func (s *Server) onStreamClosed(id int64, _ *corev3.Node) {
	s.mu.Lock()
	st := s.streams[id]
	delete(s.streams, id)
	disconnected := false
	if st != nil && st.node != "" {
		if n := s.nodes[st.node]; n != nil {
			n.streams--
			if n.streams == 0 {
				disconnected = true
				n.status.LastDisconnect = time.Now()
				s.metrics.connected.Dec()
			}
		}
	}
	s.mu.Unlock()
	if disconnected && s.opts.OnConnect != nil {
		s.opts.OnConnect(st.node, false)
	}
}

// recordACK notes an accepted version and, when the proxy has accepted the
// listeners and routes of a make-before-break step, drops the kept clusters.
// Called with s.mu held.
func (s *Server) recordACK(n *nodeState, typeURL, version string) {
	progress := n.status.Acked[typeURL] != version
	n.status.Acked[typeURL] = version
	delete(n.rejected, typeURL)
	if progress && len(n.rejected) > 0 {
		id := n.id
		time.AfterFunc(0, func() { s.retryRejected(id) })
	}
	if l := n.status.LastNACK; l != nil && l.TypeURL == typeURL {
		n.status.LastNACK = nil
	}
	s.metrics.acks.WithLabelValues(path.Base(typeURL)).Inc()
	f := n.activeFlavour()
	fs := &n.fl[f]
	if fs.target == nil || fs.served == nil {
		return
	}
	for _, t := range []int{typeListener, typeRoute, typeCluster} {
		if fs.served.count(t) > 0 && n.status.Acked[typeURLs[t]] != fs.served.Versions[t] {
			return
		}
	}
	interim, id := fs.served, n.id
	time.AfterFunc(0, func() { s.finalize(id, interim, f) })
}

// recordNACK keeps a rejection (bounded) and logs it. Called with s.mu held.
func (s *Server) recordNACK(n *nodeState, typeURL, version, reason string) {
	nack := NACK{Node: n.id, TypeURL: typeURL, Version: version, Reason: reason, At: time.Now()}
	n.status.LastNACK = &nack
	if version != "" {
		if n.rejected == nil {
			n.rejected = map[string]string{}
		}
		n.rejected[typeURL] = version
		n.rejectedAt = n.publishes
	}
	s.nacks = append(s.nacks, nack)
	if len(s.nacks) > maxNACKs {
		s.nacks = s.nacks[len(s.nacks)-maxNACKs:]
	}
	s.metrics.nacks.WithLabelValues(path.Base(typeURL)).Inc()
	s.log.Warn("proxy rejected configuration", "node", n.id, "type", typeURL, "version", version, "reason", reason)
}
