package cli

import "github.com/urfave/cli/v2"

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "validate mesh definitions (exit 0 valid, 1 invalid, 2 could not run)",
		ArgsUsage: "[PATH...]",
	}
}
