// Package deploy holds the deployment files' tests: docker-compose.yml, the
// Dockerfile and the Kubernetes manifests under deploy/ are parsed and
// checked against the flags and environment variables of the landscape
// binary, read from its help (which pkg/config prints with every flag's
// variable and default).
//
// The container health check is the binary itself (`landscape healthcheck
// grpc ADDR | http URL`, in services/landscape/cmd/landscape): the image has
// no shell and no curl, and docker-compose.yml runs it. The Kubernetes
// manifests use the native grpc and httpGet probes instead.
package deploy
