package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"
)

func compileCommand() *cli.Command {
	return &cli.Command{
		Name:      "compile",
		Usage:     "print the bundle compiled from PATH (exit 0 compiled, 1 invalid, 2 could not run)",
		ArgsUsage: "[PATH]",
		Description: "Loads PATH (default \".\"), validates it like `meshc validate`, and prints the\n" +
			"bundle: the normalized, sorted resources and their content-hash version.\n" +
			"Problems go to stderr; the bundle alone goes to stdout.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "json", Usage: "json or yaml"},
			&cli.StringFlag{Name: "commit", Usage: "Git commit to record in the bundle"},
		},
		Action: func(c *cli.Context) error {
			args, err := positionalArgs(c)
			if err != nil {
				return cli.Exit("meshc compile: "+err.Error(), ExitNoRun)
			}
			out := c.String("output")
			if out != "json" && out != "yaml" {
				return cli.Exit(fmt.Sprintf("meshc compile: unknown -o %q: use json or yaml", out), ExitNoRun)
			}
			if len(args) > 1 {
				return cli.Exit("meshc compile: takes one PATH (a directory or file); to check several, use meshc validate", ExitNoRun)
			}
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			if err := checkPaths("compile", []string{path}); err != nil {
				return err
			}
			res := loadAndCompile([]string{path}, c.String("commit"))
			var data []byte
			errw := c.App.ErrWriter
			if errw == nil {
				errw = os.Stderr
			}
			if len(res.Diags) > 0 {
				var b strings.Builder
				writeText(&b, res.Diags)
				fmt.Fprint(errw, b.String())
			}
			if res.Bundle == nil {
				fmt.Fprintln(errw, summarize(res).line())
				return cli.Exit("", ExitInvalid)
			}
			data, err = json.MarshalIndent(res.Bundle, "", "  ")
			if err != nil {
				return cli.Exit(fmt.Sprintf("meshc compile: encode bundle: %v", err), ExitNoRun)
			}
			if out == "yaml" {
				if data, err = yaml.JSONToYAML(data); err != nil {
					return cli.Exit(fmt.Sprintf("meshc compile: encode bundle as YAML: %v", err), ExitNoRun)
				}
			} else {
				data = append(data, '\n')
			}
			_, err = c.App.Writer.Write(data)
			return err
		},
	}
}
