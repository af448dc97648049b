// Package cli is the meshc command line: it wires the compiler stages, servers
// and drivers together (urfave/cli/v2). It decides nothing itself: every
// command's logic lives in the package it drives. One file per command.
package cli

import (
	"github.com/urfave/cli/v2"
)

// Exit codes shared by commands (validate: 0 valid, 1 invalid, 2 could not run;
// diff: 0 no change, 2 changes, 1 error — as `terraform plan -detailed-exitcode`).
const (
	ExitOK      = 0
	ExitInvalid = 1
	ExitNoRun   = 2
)

// App returns the meshc application.
func App() *cli.App {
	return &cli.App{
		Name:                 "meshc",
		Usage:                "GitOps compiler and control plane for a multi-zone Envoy service mesh",
		EnableBashCompletion: true,
		Commands:             commands(),
	}
}
