package zone

import (
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshc/meshc/schema"
	"github.com/meshc/meshc/store"
)

// XDSAuth returns a gRPC stream interceptor that admits an xDS stream only
// when its `authorization: Bearer <token>` metadata holds a dataplane token
// for the node id (`<mesh>.<name>`) of the stream's first request. The
// stream fails with Unauthenticated/PermissionDenied otherwise.
func XDSAuth(tokens *Tokens, now func() time.Time) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		var tok string
		if md, ok := metadata.FromIncomingContext(ss.Context()); ok {
			for _, v := range md.Get("authorization") {
				if t, ok := strings.CutPrefix(v, "Bearer "); ok {
					tok = t
				}
			}
		}
		as := &authStream{ServerStream: ss, tokens: tokens, token: tok, now: now}
		err := handler(srv, as)
		if as.err != nil {
			// go-control-plane ends the stream quietly on a receive error;
			// the client must see why.
			return as.err
		}
		return err
	}
}

type authStream struct {
	grpc.ServerStream
	tokens *Tokens
	token  string
	now    func() time.Time
	ok     bool
	err    error
}

type nodeCarrier interface{ GetNode() *corev3.Node }

func (s *authStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.ok {
		return nil
	}
	if s.err = s.check(m); s.err != nil {
		return s.err
	}
	s.ok = true
	return nil
}

func (s *authStream) check(m any) error {
	nc, isReq := m.(nodeCarrier)
	if !isReq || nc.GetNode() == nil || nc.GetNode().GetId() == "" {
		return status.Error(codes.InvalidArgument, "the first xDS request must carry the node id <mesh>.<name>")
	}
	id := nc.GetNode().GetId()
	if s.token == "" {
		return status.Errorf(codes.Unauthenticated, "node %s: no dataplane token (send `authorization: Bearer <token>` metadata; `meshc dp run --token-file` does)", id)
	}
	k := store.NodeKey(id)
	mesh := k.Mesh
	if k.Type != schema.TypeDataplane {
		// A zone ingress/egress (`_zone-ingress.<name>`): its token is issued
		// for the node id's prefix in place of a mesh.
		mesh, _, _ = strings.Cut(id, ".")
	}
	if err := s.tokens.Verify(s.token, mesh, k.Name, s.now()); err != nil {
		return status.Errorf(codes.PermissionDenied, "node %s: %v", id, err)
	}
	return nil
}
