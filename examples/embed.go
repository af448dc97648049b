// Package examples embeds the example mesh repository (the YAML, JSON and
// CUE files beside this one) so `meshc demo` runs with no flags and no checkout.
package examples

import "embed"

// FS holds the example repository; paths are relative to this directory
// (meshes/default.yaml, default/permissions.yaml, …).
//
//go:embed meshes default payments teams README.md
var FS embed.FS
