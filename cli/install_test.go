package cli

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/meshc/meshc/install"
)

// The flags the rendered services pass must be flags the commands accept.
func TestInstalledArgsAreKnownFlags(t *testing.T) {
	check := func(cmd *cli.Command, args []string) {
		known := map[string]bool{}
		for _, f := range cmd.Flags {
			for _, n := range f.Names() {
				known["--"+n] = true
			}
		}
		if args[0] != cmd.Name {
			t.Errorf("args start with %q, want %q", args[0], cmd.Name)
		}
		for _, a := range args[1:] {
			if strings.HasPrefix(a, "--") && !known[a] {
				t.Errorf("meshc %s has no flag %s", cmd.Name, a)
			}
		}
	}
	o := install.Options{GitURL: "g", Ref: "main", Path: "p", Poll: 1, WebhookSecret: true, Zone: "z", GlobalURL: "grpcs://g:5685"}
	check(globalCommand(), o.GlobalArgs("/s", "/w"))
	check(zoneCommand(), o.ZoneArgs("/s", "/c"))
}
