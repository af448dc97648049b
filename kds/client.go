package kds

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	kdsv1 "github.com/meshc/meshc/kds/v1"
	"github.com/meshc/meshc/schema"
)

// Sink receives the global's state at a zone (the zone agent implements it).
type Sink interface {
	// Apply makes s the zone's global state: bundle, mesh CAs, other zones'
	// ingresses. It is called with the persisted state at start (global not
	// needed) and after every update from the global. An error rejects the
	// update as a whole: the zone keeps serving what it had, and the global
	// records the error as a NACK (GET /zones).
	Apply(s GlobalState) error
}

// Source gives a zone's own resources to send to the global (the zone agent
// implements it; store.Registry plus availableServices fits).
type Source interface {
	// Local returns the zone's ZoneIngresses (availableServices computed),
	// ZoneEgresses and Dataplanes.
	Local() []schema.Resource
	// Changed signals (coalesced) that Local may return something new. It is
	// called once per connection.
	Changed() <-chan struct{}
}

// ClientOptions configures a zone's KDS client.
type ClientOptions struct {
	Zone string
	// Global is grpcs://host:port (TLS) or grpc://host:port (plaintext, tests only).
	Global string
	// TokenFile is re-read on every connect, so a rotated token is picked up;
	// Token is used when TokenFile is empty.
	TokenFile string
	Token     string
	// TLS verifies the global (see ClientTLS); nil means system roots.
	TLS *tls.Config
	// StateDir keeps the last-known-good global state (kds-global-state.json);
	// empty keeps nothing.
	StateDir     string
	AgentVersion string
	Sink         Sink
	Source       Source
	Log          *slog.Logger
	MaxMsgSize   int           // default DefaultMaxMsgSize
	MinBackoff   time.Duration // default 250 ms
	MaxBackoff   time.Duration // default 30 s
}

// ClientStatus is the link to the global as the zone sees it.
type ClientStatus struct {
	Connected     bool      `json:"connected"`
	ConnectedAt   time.Time `json:"connectedAt,omitzero"`
	LastError     string    `json:"lastError,omitempty"`
	BundleVersion string    `json:"bundleVersion,omitempty"`
	BundleCommit  string    `json:"bundleCommit,omitempty"`
	// RemoteIngresses are the other zones' ingresses this zone routes to.
	RemoteIngresses []schema.Resource `json:"remoteIngresses"`
}

// Client is a zone's link to the global.
type Client struct {
	opts    ClientOptions
	log     *slog.Logger
	target  string
	creds   credentials.TransportCredentials
	started time.Time

	in         *receiver         // what the zone holds from the global; survives reconnects
	cache      decodeCache       // decoded resources of in.state
	lastRemote []schema.Resource // remote ingresses of in.state

	mu      sync.Mutex
	status  ClientStatus
	insight ZoneInsight

	pmu     sync.Mutex
	pending *persistJob // newest applied state not yet written
	pkick   chan struct{}
}

// NewClient checks the options and, when StateDir holds a persisted global
// state, hands it to the Sink at once so the zone serves it before (or
// without) reaching the global.
func NewClient(o ClientOptions) (*Client, error) {
	if o.Zone == "" || o.Sink == nil || o.Source == nil {
		return nil, errors.New("kds: a zone client needs a zone name, a sink and a source")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MaxMsgSize == 0 {
		o.MaxMsgSize = DefaultMaxMsgSize
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 30 * time.Second
	}
	u, err := url.Parse(o.Global)
	if err != nil || u.Host == "" || (u.Scheme != "grpcs" && u.Scheme != "grpc") {
		return nil, fmt.Errorf("kds: --global %q: want grpcs://HOST:PORT (or grpc://HOST:PORT without TLS)", o.Global)
	}
	c := &Client{opts: o, log: o.Log.With("component", "kds-client", "zone", o.Zone), target: u.Host, in: &receiver{}, started: time.Now(), pkick: make(chan struct{}, 1)}
	if u.Scheme == "grpcs" {
		conf := o.TLS
		if conf == nil {
			conf = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		c.creds = credentials.NewTLS(conf)
	} else {
		c.creds = insecure.NewCredentials()
	}
	c.insight = ZoneInsight{AgentVersion: o.AgentVersion, StartedAt: c.started.UTC()}
	if err := c.loadPersisted(); err != nil {
		return nil, err
	}
	return c, nil
}

// Status reports the link's state.
func (c *Client) Status() ClientStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.status
	if st.RemoteIngresses == nil {
		st.RemoteIngresses = []schema.Resource{}
	}
	return st
}

func (c *Client) setStatus(f func(*ClientStatus)) {
	c.mu.Lock()
	f(&c.status)
	c.mu.Unlock()
}

// Run connects to the global and keeps the link up until ctx ends,
// reconnecting with exponential backoff and jitter. The zone keeps serving
// its last state while the global is away.
func (c *Client) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() { defer close(done); c.persistLoop(ctx) }()
	defer func() { <-done }()
	attempt := 0
	for {
		began := time.Now()
		err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:") {
			err = fmt.Errorf("%w (TLS to the global failed: pass its certificate with --ca-cert, e.g. kds-server.crt from its state dir)", err)
		}
		c.setStatus(func(s *ClientStatus) { s.Connected = false; s.LastError = err.Error() })
		if time.Since(began) > 30*time.Second {
			attempt = 0
		}
		d := c.backoff(attempt)
		attempt++
		level := slog.LevelWarn
		switch status.Code(err) {
		case codes.Unauthenticated, codes.PermissionDenied, codes.FailedPrecondition:
			level = slog.LevelError
		}
		c.log.Log(ctx, level, "link to the global down; retrying", "err", err, "retryIn", d.Round(time.Millisecond))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff is exponential from MinBackoff to MaxBackoff with jitter in [d/2, d].
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.MinBackoff
	for i := 0; i < attempt && d < c.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

func (c *Client) token() (string, error) {
	if c.opts.TokenFile == "" {
		if c.opts.Token == "" {
			return "", errors.New("kds: no zone token: pass --token-file (issue one on the global with `meshc token zone --name " + c.opts.Zone + "`)")
		}
		return c.opts.Token, nil
	}
	b, err := os.ReadFile(c.opts.TokenFile)
	if err != nil {
		return "", fmt.Errorf("kds: read token file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// session runs one stream until it fails or ctx ends.
func (c *Client) session(ctx context.Context) error {
	tok, err := c.token()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(c.target,
		grpc.WithTransportCredentials(c.creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.opts.MaxMsgSize), grpc.MaxCallSendMsgSize(c.opts.MaxMsgSize)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	)
	if err != nil {
		return fmt.Errorf("kds: dial %s: %w", c.target, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	stream, err := kdsv1.NewKDSClient(conn).Sync(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	hello := &kdsv1.Hello{Zone: c.opts.Zone, AgentVersion: c.opts.AgentVersion, BundleVersion: c.in.meta.BundleVersion}
	c.mu.Unlock()
	if err := stream.Send(&kdsv1.ZoneMessage{Msg: &kdsv1.ZoneMessage_Hello{Hello: hello}}); err != nil {
		return recvError(stream, err)
	}
	msgs := make(chan *kdsv1.GlobalMessage)
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

	// sendFailed returns why the stream ended when a Send failed: the status
	// arrives through the receiving goroutine (only it may call Recv now).
	sendFailed := func(err error) error {
		if !errors.Is(err, io.EOF) {
			return err
		}
		select {
		case rerr := <-recvErr:
			return rerr
		case <-time.After(5 * time.Second):
			return err
		}
	}
	out := newSender("z")
	changed := c.opts.Source.Changed()
	c.want(out)
	connected := false
	for {
		if u := out.next(); u != nil {
			if err := stream.Send(&kdsv1.ZoneMessage{Msg: &kdsv1.ZoneMessage_Update{Update: u}}); err != nil {
				return sendFailed(err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return errors.New("kds: the global closed the stream")
			}
			return err
		case <-changed:
			c.want(out)
		case m := <-msgs:
			if !connected {
				connected = true
				c.setStatus(func(s *ClientStatus) { s.Connected, s.ConnectedAt, s.LastError = true, time.Now(), "" })
				c.log.Info("connected to the global", "global", c.target)
			}
			switch {
			case m.GetUpdate() != nil:
				ack := c.handleUpdate(m.GetUpdate())
				if err := stream.Send(&kdsv1.ZoneMessage{Msg: &kdsv1.ZoneMessage_Ack{Ack: ack}}); err != nil {
					return sendFailed(err)
				}
				c.want(out) // the insight names the applied bundle
			case m.GetAck() != nil:
				res, err := out.handleAck(m.GetAck())
				if err != nil {
					return fmt.Errorf("kds: %w", err)
				}
				if res.NACK != "" {
					c.log.Error("the global rejected this zone's update (NACK)", "reason", res.NACK)
				}
			}
		}
	}
}

// recvError returns the stream's status when a Send failed because the
// stream ended (before any other goroutine receives on it).
func recvError(stream kdsv1.KDS_SyncClient, sendErr error) error {
	if errors.Is(sendErr, io.EOF) {
		if _, err := stream.Recv(); err != nil {
			return err
		}
	}
	return sendErr
}

// want sets what the zone should send: its resources and its insight.
func (c *Client) want(out *sender) {
	st := State{}
	for _, r := range c.opts.Source.Local() {
		if !isLocalType(r.Type) {
			c.log.Warn("not sent to the global: a zone sends only ZoneIngress, ZoneEgress and Dataplane", "resource", r.Key().String())
			continue
		}
		p, err := toPB(&r, "")
		if err != nil {
			c.log.Error("not sent to the global", "resource", r.Key().String(), "err", err)
			continue
		}
		st.Put(p)
	}
	c.mu.Lock()
	body, err := json.Marshal(c.insight)
	c.mu.Unlock()
	if err == nil {
		st.Put(&kdsv1.Resource{Kind: KindZoneInsight, Name: c.opts.Zone, Body: body})
	}
	out.want(st, meta{})
}

// handleUpdate applies an update from the global: decode, hand to the sink,
// persist; any failure NACKs and changes nothing.
func (c *Client) handleUpdate(u *kdsv1.Update) *kdsv1.Ack {
	ack := c.in.handle(u, func(next State, m meta) error {
		gs, cache, err := decodeGlobalState(next, m, c.cache)
		if err != nil {
			return err
		}
		if err := c.opts.Sink.Apply(gs); err != nil {
			return fmt.Errorf("zone %q cannot apply bundle %s: %w", c.opts.Zone, m.BundleVersion, err)
		}
		c.cache = cache
		c.lastRemote = gs.RemoteIngresses
		c.schedulePersist(next, m)
		return nil
	})
	if ack.Error != "" {
		c.log.Error("update from the global rejected (NACK sent)", "bundleVersion", u.BundleVersion, "reason", ack.Error)
		return ack
	}
	m := c.in.meta
	c.mu.Lock()
	if c.insight.BundleVersion != m.BundleVersion {
		c.insight.BundleVersion, c.insight.BundleCommit, c.insight.AppliedAt = m.BundleVersion, m.BundleCommit, time.Now().UTC()
		c.log.Info("applied bundle from the global", "version", m.BundleVersion, "commit", m.BundleCommit)
	}
	c.status.BundleVersion, c.status.BundleCommit = m.BundleVersion, m.BundleCommit
	c.status.RemoteIngresses = c.lastRemote
	c.mu.Unlock()
	return ack
}
