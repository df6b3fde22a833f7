module github.com/landscape-dev/landscape/services/landscape

go 1.26.0
