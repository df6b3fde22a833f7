module github.com/landscape-dev/landscape/services/token

go 1.26.0
