package kds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	kdsv1 "github.com/meshc/meshc/kds/v1"
	"github.com/meshc/meshc/schema"
	"github.com/meshc/meshc/token"
)

type kdsService struct {
	kdsv1.UnimplementedKDSServer
	s *Server
}

// session is one zone's open stream.
type session struct {
	zone   string
	kick   chan struct{}
	cancel context.CancelCauseFunc
}

func (ss *session) wake() {
	select {
	case ss.kick <- struct{}{}:
	default:
	}
}

func errZoneDisabled(zone string) error {
	return status.Errorf(codes.FailedPrecondition, "kds: zone %q is disabled (Zone{enabled: false} in Git): the global does not sync with it; enable it in Git to reconnect", zone)
}

// claimsVerifier is a TokenVerifier that also tells when a token expires
// (token.Issuer is one); the server then ends the stream at expiry.
type claimsVerifier interface {
	Verify(tok string, now time.Time) (token.Claims, error)
}

// authenticate returns the zone named by the stream's token and, when the
// verifier tells, when the token expires (zero: unknown).
func (s *Server) authenticate(ctx context.Context) (string, time.Time, error) {
	zone, tok, err := s.authenticateToken(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	var expires time.Time
	if cv, ok := s.opts.Tokens.(claimsVerifier); ok {
		if c, err := cv.Verify(tok, s.opts.Now()); err == nil {
			expires = time.Unix(c.ExpiresAt, 0)
		}
	}
	return zone, expires, nil
}

func (s *Server) authenticateToken(ctx context.Context) (string, string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", "", status.Error(codes.Unauthenticated, "kds: no zone token: pass one with --token-file (issue it on the global with `meshc token zone --name ZONE`)")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return "", "", status.Error(codes.Unauthenticated, "kds: authorization metadata must be `Bearer <zone token>`")
	}
	zone, err := s.opts.Tokens.VerifyZone(tok, s.opts.Now())
	if err != nil {
		return "", "", status.Errorf(codes.Unauthenticated, "kds: zone token rejected: %v; issue a new one on the global with `meshc token zone --name ZONE`", err)
	}
	return zone, tok, nil
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return "unknown"
}

// Sync serves one zone's stream.
func (k *kdsService) Sync(stream kdsv1.KDS_SyncServer) error {
	s := k.s
	ctx := stream.Context()
	zone, expires, err := s.authenticate(ctx)
	if err != nil {
		s.metrics.authFailures.Inc()
		s.log.Warn("kds stream refused", "peer", peerAddr(ctx), "err", err)
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	msgs := make(chan *kdsv1.ZoneMessage)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()

	var hello *kdsv1.Hello
	select {
	case m := <-msgs:
		hello = m.GetHello()
		if hello == nil {
			return status.Error(codes.InvalidArgument, "kds: the first message of a stream must be Hello")
		}
	case err := <-recvErr:
		return s.streamEnded(zone, err)
	case <-time.After(s.opts.HelloTimeout):
		return status.Error(codes.DeadlineExceeded, "kds: no Hello from the zone in time")
	}
	if hello.Zone != zone {
		s.metrics.authFailures.Inc()
		err := status.Errorf(codes.Unauthenticated, "kds: this token belongs to zone %q but the agent calls itself %q: use the token issued for %q (`meshc token zone --name %s`)", zone, hello.Zone, hello.Zone, hello.Zone)
		s.log.Warn("kds stream refused", "peer", peerAddr(ctx), "err", err)
		return err
	}

	ss := &session{zone: zone, kick: make(chan struct{}, 1), cancel: cancel}
	if err := s.attach(ss, hello); err != nil {
		s.log.Warn("kds stream refused", "zone", zone, "peer", peerAddr(ctx), "err", err)
		return err
	}
	s.log.Info("zone connected", "zone", zone, "peer", peerAddr(ctx), "agentVersion", hello.AgentVersion, "bundleVersion", hello.BundleVersion)
	defer s.detach(ss)

	if !expires.IsZero() { // the token's validity bounds the stream's
		t := time.AfterFunc(expires.Sub(s.opts.Now()), func() {
			s.log.Warn("zone token expired: closing its stream", "zone", zone, "expiredAt", expires)
			cancel(status.Errorf(codes.Unauthenticated, "kds: zone token expired at %s; issue a new one on the global with `meshc token zone --name %s`", expires.UTC().Format(time.RFC3339), zone))
		})
		defer t.Stop()
	}
	out := newSender("g")
	in := &receiver{}
	ss.wake()
	for {
		select {
		case <-ctx.Done():
			if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
				return c
			}
			return status.FromContextError(ctx.Err()).Err()
		case err := <-recvErr:
			return s.streamEnded(zone, err)
		case <-ss.kick:
			s.mu.Lock()
			if s.bundle != nil { // never send a zone an empty state: it would drop the bundle it serves
				st, m := s.desiredLocked(zone)
				out.want(st, m)
			}
			s.mu.Unlock()
		case m := <-msgs:
			switch {
			case m.GetUpdate() != nil:
				ack := in.handle(m.GetUpdate(), func(next State, _ meta) error { return s.acceptInventory(zone, next) })
				if ack.Error != "" {
					s.metrics.nacksSent.Inc()
					s.recordNACK(zone, "zone→global", "", ack.Error)
					s.log.Warn("zone update rejected (NACK sent)", "zone", zone, "reason", ack.Error)
				}
				if err := s.send(stream, &kdsv1.GlobalMessage{Msg: &kdsv1.GlobalMessage_Ack{Ack: ack}}); err != nil {
					return err
				}
			case m.GetAck() != nil:
				res, err := out.handleAck(m.GetAck())
				if err != nil {
					return status.Errorf(codes.InvalidArgument, "kds: %v", err)
				}
				s.recordAck(zone, res)
			default:
				return status.Error(codes.InvalidArgument, "kds: unexpected message: only Update and Ack may follow Hello")
			}
		}
		if u := out.next(); u != nil {
			if err := s.send(stream, &kdsv1.GlobalMessage{Msg: &kdsv1.GlobalMessage_Update{Update: u}}); err != nil {
				return err
			}
			s.metrics.updatesSent.Inc()
		}
	}
}

func (s *Server) send(stream kdsv1.KDS_SyncServer, m *kdsv1.GlobalMessage) error {
	if err := stream.Send(m); err != nil {
		return err
	}
	n := int64(proto.Size(m))
	s.bytesSent.Add(n)
	s.metrics.bytesSent.Add(float64(n))
	return nil
}

func (s *Server) streamEnded(zone string, err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	if status.Code(err) != codes.Canceled {
		s.log.Warn("zone stream ended with an error", "zone", zone, "err", err)
	}
	return err
}

// acceptInventory checks a zone's would-be state and, if every resource is
// valid, makes it the zone's inventory. Identity comes from the token: the
// zone of every ingress and egress is set to the stream's zone.
func (s *Server) acceptInventory(zone string, next State) error {
	var inv []schema.Resource
	ingresses := State{}
	var insight ZoneInsight
	for _, k := range next.Sorted() {
		p := next[k].Res
		if p.Zone != "" && p.Zone != zone {
			return fmt.Errorf("%s: a zone may only send its own resources (this stream is zone %q)", k, zone)
		}
		if p.Kind == KindZoneInsight {
			if err := json.Unmarshal(p.Body, &insight); err != nil {
				return fmt.Errorf("%s: body: %w", k, err)
			}
			continue
		}
		if !isLocalType(p.Kind) {
			return fmt.Errorf("%s: a zone may send only %s and ZoneInsight, not %s", k, strings.Join(LocalTypes, ", "), p.Kind)
		}
		r, err := fromPB(p)
		if err != nil {
			return err
		}
		switch sp := r.Spec.(type) {
		case *schema.ZoneIngressSpec:
			sp.Zone = zone
			pr, err := toPB(&r, zone)
			if err != nil {
				return err
			}
			ingresses.Put(pr)
		case *schema.ZoneEgressSpec:
			sp.Zone = zone
		}
		inv = append(inv, r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zones[zone]
	if z == nil {
		return fmt.Errorf("zone %q was deleted while connected", zone)
	}
	changed := z.ingresses.Hash() != ingresses.Hash()
	z.inventory, z.ingresses, z.insight = inv, ingresses, insight
	if z.lastNACK != nil && z.lastNACK.Direction == "zone→global" {
		z.lastNACK = nil // the zone sent a valid state since
	}
	s.zonesChanged()
	if changed && s.enabledLocked(zone) {
		s.kickAllLocked(zone)
	}
	return nil
}
