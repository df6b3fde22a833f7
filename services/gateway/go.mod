module github.com/landscape-dev/landscape/services/gateway

go 1.26.0
