module github.com/landscape-dev/landscape/services/registry

go 1.26.0
