module github.com/landscape-dev/landscape/web

go 1.26.0

// The console's npm packages are not Go code.
ignore ./node_modules
