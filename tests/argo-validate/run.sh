#!/usr/bin/env bash
# Validate Argo Workflows YAML files with Argo's own validation code.
# Usage: tests/argo-validate/run.sh FILE...
# Builds .bin/argo-validate when missing or older than its sources, then runs it.
# Exit status: 0 only if Argo accepts every file; 1 if any is rejected;
# 2 on usage error; other non-zero if the build fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/.bin/argo-validate"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 FILE..." >&2
    exit 2
fi

go_cmd="$(command -v go || true)"
if [ -z "$go_cmd" ] && [ -x /usr/local/go/bin/go ]; then
    go_cmd=/usr/local/go/bin/go
fi

needs_build=0
if [ ! -x "$bin" ]; then
    needs_build=1
else
    for src in "$here/main.go" "$here/go.mod" "$here/go.sum"; do
        if [ "$src" -nt "$bin" ]; then
            needs_build=1
        fi
    done
fi

if [ "$needs_build" -eq 1 ]; then
    if [ -z "$go_cmd" ]; then
        echo "argo-validate: Go toolchain not found (needed to build $bin)" >&2
        exit 3
    fi
    mkdir -p "$here/.bin"
    echo "argo-validate: building $bin (the first build takes a few minutes)..." >&2
    tmp="$bin.tmp.$$"
    # -mod=readonly: go.mod/go.sum are complete; never rewrite them.
    if ! (cd "$here" && nice "$go_cmd" build -mod=readonly -trimpath -o "$tmp" .); then
        rm -f "$tmp"
        echo "argo-validate: build failed" >&2
        exit 3
    fi
    mv -f "$tmp" "$bin"
fi

exec "$bin" "$@"
