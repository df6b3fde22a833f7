module github.com/landscape-dev/landscape/services/formation

go 1.26.0
