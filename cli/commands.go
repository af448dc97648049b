package cli

import "github.com/urfave/cli/v2"

// commands lists meshc's commands; each is built in its own file.
func commands() []*cli.Command {
	return []*cli.Command{
		validateCommand(),
		compileCommand(),
		globalCommand(),
		diffCommand(),
		dpCommand(),
		inspectCommand(),
		zoneCommand(),
		tokenCommand(),
		getCommand(),
		deleteCommand(),
		demoCommand(),
		installCommand(),
	}
}
