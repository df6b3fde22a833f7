module github.com/landscape-dev/landscape/services/landscape

go 1.26.0

replace (
	github.com/landscape-dev/landscape/gen => ../../gen
	github.com/landscape-dev/landscape/pkg => ../../pkg
)

replace (
	github.com/landscape-dev/landscape/services/formation => ../formation
	github.com/landscape-dev/landscape/services/gateway => ../gateway
	github.com/landscape-dev/landscape/services/registry => ../registry
	github.com/landscape-dev/landscape/services/token => ../token
)
