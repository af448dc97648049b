package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/urfave/cli/v2"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:  "inspect",
		Usage: "show what the control plane serves",
		Subcommands: []*cli.Command{{
			Name:      "dataplane",
			Usage:     "print a dataplane's Envoy configuration as the zone serves it",
			ArgsUsage: "MESH/NAME",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "cp", Value: "http://127.0.0.1:5681", Usage: "the zone control plane's API URL"},
			},
			Action: func(c *cli.Context) error {
				args, err := positionalArgs(c)
				if err != nil {
					return cli.Exit("inspect dataplane: "+err.Error(), ExitNoRun)
				}
				var mesh, name string
				ok := len(args) == 1
				if ok {
					mesh, name, ok = strings.Cut(args[0], "/")
				}
				if !ok || mesh == "" || name == "" {
					return cli.Exit("inspect dataplane: give one MESH/NAME, e.g. `meshc inspect dataplane default/web-1`", ExitNoRun)
				}
				cp, err := url.Parse(c.String("cp"))
				if err != nil || cp.Host == "" {
					return cli.Exit("inspect dataplane: bad --cp URL", ExitNoRun)
				}
				s := &dpSpec{cp: cp}
				var out any
				if err := s.call(c.Context, http.MethodGet, "/meshes/"+url.PathEscape(mesh)+"/dataplanes/"+url.PathEscape(name)+"/xds", nil, &out); err != nil {
					return cli.Exit("inspect dataplane: "+err.Error(), ExitInvalid)
				}
				return printJSON(c, out)
			},
		}},
	}
}

func printJSON(c *cli.Context, v any) error {
	enc := jsonIndent(c.App.Writer)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	return nil
}

func jsonIndent(w io.Writer) *json.Encoder {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e
}
