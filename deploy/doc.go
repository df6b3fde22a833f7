// Package deploy holds the deployment files' tests: docker-compose.yml, the
// Dockerfile and the Kubernetes manifests under deploy/ are parsed and
// checked against the flags and environment variables of the landscape
// binary, read from its help (which pkg/config prints with every flag's
// variable and default).
//
// The module also holds landscape-healthcheck (deploy/healthcheck), the
// container health check of the image, which has no shell.
package deploy
