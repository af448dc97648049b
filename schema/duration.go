package schema

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time span written as in Go ("10s", "1h30m") plus the units
// "d" (24h) and "y" (365d) that CA lifetimes use ("10y").
type Duration struct{ time.Duration }

// ParseDuration parses a Duration string.
func ParseDuration(s string) (Duration, error) {
	if s == "" {
		return Duration{}, fmt.Errorf("empty duration")
	}
	var extra time.Duration
	rest := s
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"y", 365 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		if i := strings.Index(rest, u.suffix); i >= 0 {
			n, err := strconv.Atoi(rest[:i])
			if err != nil || n < 0 {
				return Duration{}, fmt.Errorf("invalid duration %q", s)
			}
			extra += time.Duration(n) * u.d
			rest = rest[i+1:]
		}
	}
	if rest == "" {
		return Duration{extra}, nil
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d < 0 {
		return Duration{}, fmt.Errorf("invalid duration %q: want a number with a unit, like 10s, 500ms, 1h or 10y", s)
	}
	return Duration{extra + d}, nil
}

// String writes the duration back in Go form (days and years as hours).
func (d Duration) String() string { return d.Duration.String() }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Duration.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"10s\": %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
