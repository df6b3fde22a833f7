module github.com/landscape-dev/landscape/services/registry

go 1.26.0

replace (
	github.com/landscape-dev/landscape/gen => ../../gen
	github.com/landscape-dev/landscape/pkg => ../../pkg
)
