package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshc/meshc/token"
)

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "issue tokens signed by the global",
		Subcommands: []*cli.Command{{
			Name:  "zone",
			Usage: "issue a zone token: the zone agent presents it to the global's KDS (--token-file)",
			Description: `Signs a token bound to the zone --name with the key in the global's --state-dir
(created by the global on first start, or here if absent). The token expires after --valid-for.
Run it where the global's state dir is.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "name", Required: true, Usage: "the zone's `NAME` (as given to `meshc zone --name`)"},
				&cli.DurationFlag{Name: "valid-for", Value: 8760 * time.Hour, Usage: "how long the token is valid"},
				&cli.StringFlag{Name: "state-dir", Required: true, Usage: "the global's state `DIR` (its --state-dir)"},
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the token to `FILE` (mode 0600) instead of stdout"},
			},
			Action: func(c *cli.Context) error {
				iss, created, err := token.LoadOrCreate(c.String("state-dir"))
				if err != nil {
					return cli.Exit("token zone: "+err.Error(), ExitNoRun)
				}
				if created {
					fmt.Fprintf(c.App.ErrWriter, "token zone: created a new signing key in %s; the global must use this --state-dir\n", c.String("state-dir"))
				}
				tok, err := iss.IssueZone(c.String("name"), c.Duration("valid-for"), time.Now())
				if err != nil {
					return cli.Exit("token zone: "+err.Error(), ExitNoRun)
				}
				if f := c.String("output"); f != "" {
					if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
						return cli.Exit("token zone: "+err.Error(), ExitNoRun)
					}
					return nil
				}
				fmt.Fprintln(c.App.Writer, tok)
				return nil
			},
		}},
	}
}
