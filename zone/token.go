package zone

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshc/meshc/pki"
)

// DataplaneClaims is what a dataplane token grants: one dataplane name in one mesh.
type DataplaneClaims struct {
	Kind      string    `json:"kind"` // always "dataplane"
	Mesh      string    `json:"mesh"`
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"exp"`
}

// Tokens issues and verifies dataplane tokens with the zone's signing key
// (HMAC-SHA256, persisted as <state-dir>/dataplane-token.key). A token is
// `base64url(claims JSON) "." base64url(mac)`.
type Tokens struct{ key []byte }

// ErrToken is wrapped by every verification failure.
var ErrToken = errors.New("invalid dataplane token")

// LoadOrCreateTokens reads the signing key under stateDir, creating it when absent.
func LoadOrCreateTokens(stateDir string) (*Tokens, error) {
	p := filepath.Join(stateDir, "dataplane-token.key")
	if b, err := os.ReadFile(p); err == nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("zone: signing key %s is corrupt (delete it to make a new one; issued tokens become invalid)", p)
		}
		return &Tokens{key: key}, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("zone: read signing key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("zone: generate signing key: %w", err)
	}
	if err := pki.WriteFileAtomic(p, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return &Tokens{key: key}, nil
}

// NewTokens uses key (≥ 32 bytes) to sign; for tests and embedding.
func NewTokens(key []byte) *Tokens { return &Tokens{key: append([]byte(nil), key...)} }

// Issue returns a token for dataplane name in mesh, valid for validFor (default 1 year).
func (t *Tokens) Issue(mesh, name string, validFor time.Duration, now time.Time) (string, error) {
	if mesh == "" || name == "" {
		return "", errors.New("zone: a dataplane token needs a mesh and a name")
	}
	if validFor <= 0 {
		validFor = 365 * 24 * time.Hour
	}
	body, err := json.Marshal(DataplaneClaims{Kind: "dataplane", Mesh: mesh, Name: name, ExpiresAt: now.Add(validFor).UTC().Truncate(time.Second)})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	payload := enc.EncodeToString(body)
	return payload + "." + enc.EncodeToString(t.mac(payload)), nil
}

// Verify checks token's signature and expiry and that it was issued for mesh/name.
func (t *Tokens) Verify(token, mesh, name string, now time.Time) error {
	payload, sig, ok := strings.Cut(strings.TrimSpace(token), ".")
	if !ok {
		return fmt.Errorf("%w: not of the form <claims>.<signature>", ErrToken)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, t.mac(payload)) {
		return fmt.Errorf("%w: bad signature (was it issued by this zone?)", ErrToken)
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return fmt.Errorf("%w: claims are not base64url", ErrToken)
	}
	var c DataplaneClaims
	if err := json.Unmarshal(body, &c); err != nil || c.Kind != "dataplane" {
		return fmt.Errorf("%w: not a dataplane token", ErrToken)
	}
	if now.After(c.ExpiresAt) {
		return fmt.Errorf("%w: expired at %s", ErrToken, c.ExpiresAt.Format(time.RFC3339))
	}
	if c.Mesh != mesh || c.Name != name {
		return fmt.Errorf("%w: issued for %s/%s, not %s/%s", ErrToken, c.Mesh, c.Name, mesh, name)
	}
	return nil
}

func (t *Tokens) mac(payload string) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
