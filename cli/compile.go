package cli

import "github.com/urfave/cli/v2"

func compileCommand() *cli.Command {
	return &cli.Command{
		Name:      "compile",
		Usage:     "print the bundle compiled from PATH",
		ArgsUsage: "[PATH]",
	}
}
