// Package examples embeds the example mesh repo (see README.md) so that
// `meshc demo` and tests can load it without a checkout:
//
//	rs, errs := schema.LoadFS(examples.FS, ".", "examples")
package examples

import "embed"

// FS holds the example repo's mesh definitions, rooted at this directory.
//
//go:embed meshes default payments teams
var FS embed.FS
