// Package token issues and verifies the signed tokens meshc control planes
// hand out: zone tokens (a zone agent presents one to the global's KDS) and,
// reusing the same format, dataplane tokens.
//
// A token is "meshc1.<claims>.<signature>": base64url (unpadded) JSON claims
// and an Ed25519 signature over "meshc1.<claims>". The signing key lives in the
// issuing control plane's state directory (token-signing.key, mode 0600) and
// is created on first use. A token names its subject (the zone, or mesh and
// dataplane) and expires.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Kinds of tokens.
const (
	KindZone      = "zone"
	KindDataplane = "dataplane"
)

// KeyFile is the signing key's file name inside a state directory.
const KeyFile = "token-signing.key"

const prefix = "meshc1"

// Claims is what a token asserts.
type Claims struct {
	Kind string `json:"kind"`
	// Zone is the zone a zone token belongs to.
	Zone string `json:"zone,omitempty"`
	// Mesh and Name identify a dataplane (dataplane tokens).
	Mesh string `json:"mesh,omitempty"`
	Name string `json:"name,omitempty"`
	// IssuedAt and ExpiresAt are Unix seconds.
	IssuedAt  int64 `json:"iat"`
	ExpiresAt int64 `json:"exp"`
}

// Errors a verification can return (wrapped with details).
var (
	ErrMalformed = errors.New("malformed token")
	ErrSignature = errors.New("token signature is not valid for this control plane")
	ErrExpired   = errors.New("token expired")
	ErrKind      = errors.New("wrong kind of token")
)

// Issuer signs and verifies tokens with one Ed25519 key.
type Issuer struct {
	key ed25519.PrivateKey
}

// NewIssuer returns an issuer for key.
func NewIssuer(key ed25519.PrivateKey) *Issuer { return &Issuer{key: key} }

// LoadOrCreate reads the signing key from stateDir, creating it (and the
// directory) on first use. created says whether a new key was written.
func LoadOrCreate(stateDir string) (iss *Issuer, created bool, err error) {
	path := filepath.Join(stateDir, KeyFile)
	data, err := os.ReadFile(path)
	if err == nil {
		k, err := parseKey(data)
		if err != nil {
			return nil, false, fmt.Errorf("token: read signing key %s: %w", path, err)
		}
		return NewIssuer(k), false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("token: read signing key: %w", err)
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("token: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, false, fmt.Errorf("token: encode signing key: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("token: create state dir: %w", err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process won the race: use its key
		return LoadOrCreate(stateDir)
	}
	if err != nil {
		return nil, false, fmt.Errorf("token: write signing key: %w", err)
	}
	if _, err := f.Write(pemBytes); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("token: write signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("token: write signing key: %w", err)
	}
	return NewIssuer(k), true, nil
}

// Load reads the signing key from stateDir; it does not create one.
func Load(stateDir string) (*Issuer, error) {
	path := filepath.Join(stateDir, KeyFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token: read signing key: %w (start the global with this --state-dir first, it creates the key)", err)
	}
	k, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("token: read signing key %s: %w", path, err)
	}
	return NewIssuer(k), nil
}

func parseKey(data []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want Ed25519", k)
	}
	return ek, nil
}

// Issue signs c.
func (i *Issuer) Issue(c Claims) (string, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("token: encode claims: %w", err)
	}
	signed := prefix + "." + base64.RawURLEncoding.EncodeToString(body)
	sig := ed25519.Sign(i.key, []byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// IssueZone returns a token for zone, valid for validFor from now.
func (i *Issuer) IssueZone(zone string, validFor time.Duration, now time.Time) (string, error) {
	if zone == "" {
		return "", errors.New("token: a zone token needs a zone name")
	}
	if validFor <= 0 {
		return "", fmt.Errorf("token: validity %s must be positive", validFor)
	}
	return i.Issue(Claims{Kind: KindZone, Zone: zone, IssuedAt: now.Unix(), ExpiresAt: now.Add(validFor).Unix()})
}

// Verify checks the signature and expiry of tok and returns its claims.
func (i *Issuer) Verify(tok string, now time.Time) (Claims, error) {
	var c Claims
	tok = strings.TrimSpace(tok)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != prefix {
		return c, fmt.Errorf("%w: want %s.<claims>.<signature>", ErrMalformed, prefix)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return c, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	if !ed25519.Verify(i.key.Public().(ed25519.PublicKey), []byte(parts[0]+"."+parts[1]), sig) {
		return c, ErrSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return c, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	if now.Unix() >= c.ExpiresAt {
		return c, fmt.Errorf("%w at %s", ErrExpired, time.Unix(c.ExpiresAt, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

// VerifyZone verifies a zone token and returns the zone it belongs to.
func (i *Issuer) VerifyZone(tok string, now time.Time) (string, error) {
	c, err := i.Verify(tok, now)
	if err != nil {
		return "", err
	}
	if c.Kind != KindZone || c.Zone == "" {
		return "", fmt.Errorf("%w: a %q token, want a zone token", ErrKind, c.Kind)
	}
	return c.Zone, nil
}
