// Package crd embeds the generated CustomResourceDefinitions so that tools
// running without a cluster (`ecap dev`, `ecap backtest`) default and
// validate objects exactly as the API server does.
package crd

import "embed"

// Bases holds bases/*.yaml, the CRDs controller-gen writes.
//
//go:embed bases/*.yaml
var Bases embed.FS
