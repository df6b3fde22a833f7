// Package web holds the console's built files (dist/, made by `npm run
// build` from this folder's TypeScript and committed), so that the binary
// serves the console without Node.js at run time.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Files is the built console: index.html, favicon.svg and assets/ with
// content-hashed names.
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded above: cannot happen
	}
	return sub
}
