package token

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestZoneTokenRoundTripAndRejections(t *testing.T) {
	dir := t.TempDir()
	iss, created, err := LoadOrCreate(dir)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate: created=%v err=%v", created, err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v mode %v", err, st.Mode())
	}
	again, created, err := LoadOrCreate(dir)
	if err != nil || created {
		t.Fatalf("second LoadOrCreate: created=%v err=%v", created, err)
	}
	now := time.Unix(1_800_000_000, 0)
	tok, err := iss.IssueZone("zone-a", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	// The reloaded key verifies what the first one signed.
	if z, err := again.VerifyZone(tok, now.Add(time.Minute)); err != nil || z != "zone-a" {
		t.Fatalf("VerifyZone = %q, %v", z, err)
	}
	if _, err := iss.VerifyZone(tok, now.Add(2*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired token: err = %v", err)
	}
	other, _, _ := LoadOrCreate(t.TempDir())
	if _, err := other.VerifyZone(tok, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("token of another global: err = %v", err)
	}
	// Changing the claims (another zone's name) breaks the signature.
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + strings.Replace(parts[1], "a", "b", 1) + "." + parts[2]
	if _, err := iss.VerifyZone(forged, now); err == nil {
		t.Fatal("forged token accepted")
	}
	for _, bad := range []string{"", "garbage", "meshc1.x.y", "jwt.a.b"} {
		if _, err := iss.VerifyZone(bad, now); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) {
			t.Errorf("VerifyZone(%q) err = %v, want malformed", bad, err)
		}
	}
	dp, _ := iss.Issue(Claims{Kind: KindDataplane, Mesh: "m", Name: "d", ExpiresAt: now.Add(time.Hour).Unix()})
	if _, err := iss.VerifyZone(dp, now); !errors.Is(err, ErrKind) {
		t.Fatalf("dataplane token as zone token: err = %v", err)
	}
}
