package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/urfave/cli/v2"

	"github.com/meshc/meshc/compiler"
	"github.com/meshc/meshc/reconciler"
	"github.com/meshc/meshc/schema"
)

// Exit codes of meshc diff (terraform plan -detailed-exitcode).
const (
	diffExitSame    = 0
	diffExitError   = 1
	diffExitChanges = 2
)

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "preview a change: resources and fields that differ, and what they touch (exit 0 same, 2 changes, 1 error)",
		ArgsUsage: "[PATH] | DIR_A DIR_B",
		Description: `In a Git work tree, compares the mesh definitions under PATH (default ".") at
--from (default HEAD) with --to (default: the working tree, uncommitted edits included).
With two directories, compares DIR_A with DIR_B. Both sides are validated and compiled;
resources are compared in their normalized, defaulted form, so a value the schema
defaults anyway is not a change. An invalid side is an error that shows its problems.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "Git revision of the old side (default HEAD)"},
			&cli.StringFlag{Name: "to", Usage: "Git revision of the new side (default: the working tree)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json"},
			inventoryFlag(),
		},
		Action: runDiff,
	}
}

// diffSide is one compiled side of a diff.
type diffSide struct {
	Label  string
	Bundle *compiler.Bundle
	Diags  schema.Errors
}

func runDiff(c *cli.Context) error {
	args, err := positionalArgs(c)
	if err != nil {
		return cli.Exit("meshc diff: "+err.Error(), diffExitError)
	}
	format := c.String("output")
	if format != "text" && format != "json" {
		return cli.Exit(fmt.Sprintf("meshc diff: unknown -o %q: use text or json", format), diffExitError)
	}
	var from, to *diffSide
	switch len(args) {
	case 2:
		if c.IsSet("from") || c.IsSet("to") {
			return cli.Exit("meshc diff: --from/--to compare Git revisions; with two directories give neither", diffExitError)
		}
		from, err = dirSide(args[0])
		if err == nil {
			to, err = dirSide(args[1])
		}
	case 0, 1:
		path := "."
		if len(args) == 1 {
			path = args[0]
		}
		from, to, err = gitSides(path, c.String("from"), c.String("to"))
	default:
		return cli.Exit("meshc diff: give at most one PATH, or two directories DIR_A DIR_B", diffExitError)
	}
	if err != nil {
		return cli.Exit("meshc diff: "+err.Error(), diffExitError)
	}
	for _, s := range []*diffSide{from, to} {
		if s.Diags.HasErrors() {
			fmt.Fprintf(c.App.ErrWriter, "meshc diff: %s is invalid; fix these and run again:\n", s.Label)
			for _, d := range s.Diags {
				fmt.Fprintf(c.App.ErrWriter, "  %s: %s\n", d.Pos, d.Msg)
			}
			return cli.Exit("", diffExitError)
		}
	}
	d, err := compiler.Diff(from.Bundle, to.Bundle)
	if err != nil {
		return cli.Exit("meshc diff: "+err.Error(), diffExitError)
	}
	rep := newDiffReport(from, to, d)
	if inv := c.String("inventory"); inv != "" {
		if rep.Proxies, err = inventoryChanges(c.Context, inv, from.Bundle, to.Bundle); err != nil {
			return cli.Exit("meshc diff: "+err.Error(), diffExitError)
		}
	}
	switch format {
	case "json":
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return cli.Exit("meshc diff: "+err.Error(), diffExitError)
		}
	default:
		writeDiffText(c.App.Writer, rep, colorOK(c.App.Writer))
	}
	if d.Empty() && len(rep.Proxies) == 0 {
		return nil
	}
	return cli.Exit("", diffExitChanges)
}

// dirSide loads and compiles a directory.
func dirSide(dir string) (*diffSide, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w; give two existing directories", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	res := loadAndCompile([]string{dir}, "")
	return &diffSide{Label: dir, Bundle: res.Bundle, Diags: res.Diags}, nil
}

// gitSides resolves the two sides in the Git work tree holding path.
func gitSides(path, fromRev, toRev string) (*diffSide, *diffSide, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("%w; give a directory of mesh definitions", err)
	} else if !st.IsDir() {
		return nil, nil, fmt.Errorf("%s is a file; give the directory that holds it", path)
	}
	repo, err := git.PlainOpenWithOptions(path, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not in a Git work tree (%v); to compare two directories run: meshc diff DIR_A DIR_B", path, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w (a bare repository has no working tree; give --from and --to)", path, err)
	}
	sub, err := repoRelative(wt.Filesystem.Root(), path)
	if err != nil {
		return nil, nil, err
	}
	if fromRev == "" {
		fromRev = "HEAD"
	}
	from, err := revisionSide(repo, fromRev, sub, path)
	if err != nil {
		return nil, nil, err
	}
	var to *diffSide
	if toRev == "" {
		res := loadAndCompile([]string{path}, "")
		to = &diffSide{Label: "the working tree (" + path + ")", Bundle: res.Bundle, Diags: res.Diags}
	} else if to, err = revisionSide(repo, toRev, sub, path); err != nil {
		return nil, nil, err
	}
	return from, to, nil
}

// repoRelative is path relative to the work tree root, slash-separated.
func repoRelative(root, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	if real, err := filepath.EvalSymlinks(root); err == nil {
		root = real
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return "", fmt.Errorf("%s is outside the work tree %s", path, root)
	}
	if rel == "." {
		return "", nil
	}
	return filepath.ToSlash(rel), nil
}

// revisionSide loads sub of revision rev straight from Git objects; file
// names in diagnostics are shown under display (the path the user gave), as
// for the working tree. A path absent at rev is an empty side.
func revisionSide(repo *git.Repository, rev, sub, display string) (*diffSide, error) {
	h, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("revision %q: %w (is there a commit yet?)", rev, err)
	}
	commit, err := repo.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("revision %q: %w", rev, err)
	}
	label := fmt.Sprintf("%s (%s)", rev, h.String()[:12])
	fsys, err := reconciler.CommitFS(repo, commit, sub, 0)
	if errors.Is(err, reconciler.ErrPathNotFound) {
		b, diags := compiler.Compile(nil, compiler.Options{Commit: h.String()})
		return &diffSide{Label: label, Bundle: b, Diags: diags}, nil
	}
	if err != nil {
		return nil, err
	}
	if display == "." {
		display = ""
	}
	rs, diags := schema.LoadFS(fsys, ".", display)
	b, cdiags := compiler.Compile(rs, compiler.Options{Commit: h.String(), Incomplete: diags.HasErrors()})
	diags = append(diags, cdiags...)
	diags.Sort()
	if diags.HasErrors() {
		b = nil
	}
	return &diffSide{Label: label, Bundle: b, Diags: diags}, nil
}
