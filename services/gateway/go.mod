module github.com/landscape-dev/landscape/services/gateway

go 1.26.0

replace (
	github.com/landscape-dev/landscape/gen => ../../gen
	github.com/landscape-dev/landscape/pkg => ../../pkg
)

require (
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.33.0
	github.com/landscape-dev/landscape/gen v0.0.0-00010101000000-000000000000
	github.com/landscape-dev/landscape/pkg v0.0.0-00010101000000-000000000000
	github.com/redis/go-redis/v9 v9.23.0
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261110000943-09e21b237f2c
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20261026165753-2ffab32bce7e // indirect
)
