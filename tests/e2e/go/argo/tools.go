//go:build tools

// Package tools pins the commands that cluster.sh builds, so that
// `go mod tidy` keeps every module they need in go.mod and go.sum.
package tools

import (
	_ "github.com/argoproj/argo-workflows/v4/cmd/argo"
	_ "github.com/argoproj/argo-workflows/v4/cmd/argoexec"
	_ "github.com/argoproj/argo-workflows/v4/cmd/workflow-controller"
)
