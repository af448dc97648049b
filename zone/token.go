package zone

import (
	"errors"
	"fmt"
	"time"

	"github.com/meshc/meshc/token"
)

// Tokens issues and verifies this zone's dataplane tokens: token.Claims of
// kind "dataplane" naming a mesh and a dataplane, signed with the zone's key
// (token.KeyFile in the zone's --state-dir).
type Tokens struct{ iss *token.Issuer }

// ErrToken is wrapped by every verification failure.
var ErrToken = errors.New("invalid dataplane token")

// LoadOrCreateTokens reads the zone's signing key under stateDir, creating it when absent.
func LoadOrCreateTokens(stateDir string) (*Tokens, error) {
	iss, _, err := token.LoadOrCreate(stateDir)
	if err != nil {
		return nil, fmt.Errorf("zone: %w", err)
	}
	return &Tokens{iss: iss}, nil
}

// Issue returns a token for dataplane name in mesh, valid for validFor (default 1 year).
func (t *Tokens) Issue(mesh, name string, validFor time.Duration, now time.Time) (string, error) {
	if mesh == "" || name == "" {
		return "", errors.New("zone: a dataplane token needs a mesh and a name")
	}
	if validFor <= 0 {
		validFor = 365 * 24 * time.Hour
	}
	return t.iss.Issue(token.Claims{Kind: token.KindDataplane, Mesh: mesh, Name: name, IssuedAt: now.Unix(), ExpiresAt: now.Add(validFor).Unix()})
}

// Verify checks tok's signature and expiry and that it was issued for mesh/name.
func (t *Tokens) Verify(tok, mesh, name string, now time.Time) error {
	c, err := t.iss.Verify(tok, now)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrToken, err)
	}
	if c.Kind != token.KindDataplane {
		return fmt.Errorf("%w: a %q token, want a dataplane token", ErrToken, c.Kind)
	}
	if c.Mesh != mesh || c.Name != name {
		return fmt.Errorf("%w: issued for %s/%s, not %s/%s", ErrToken, c.Mesh, c.Name, mesh, name)
	}
	return nil
}
