#!/usr/bin/env bash
# The project's real test cluster: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet + containerd + runc, Argo's workflow-controller and an
# S3 server (moto), all on loopback, built from Go modules and Debian packages.
#
#   tests/e2e/cluster.sh build          # install packages, build binaries and images
#   eval "$(tests/e2e/cluster.sh up)"   # build if needed, start, print `export` lines
#   tests/e2e/cluster.sh status         # what runs, by PID file
#   tests/e2e/cluster.sh down [--wipe]  # stop what `up` started; --wipe deletes the
#                                       # cluster's data, --wipe-all also the builds
#
# Progress goes to stderr; `up` prints only `export` lines on stdout.
# State (binaries, images, logs, data): ${MRARGO_E2E_DIR:-<repo>/.e2e}.
# tests/e2e/README.md explains the design and what differs from a real cluster.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
D=${MRARGO_E2E_DIR:-$REPO/.e2e}
D=$(mkdir -p "$D" && cd "$D" && pwd)

# Versions: the wrapper go.mod files are the single source of truth.
gomod_version() { awk -v m="$2" '$1 == "require" && $2 == m {print $3} $1 == m {print $2}' "$HERE/go/$1/go.mod" | head -1; }
K8S_VERSION=$(gomod_version k8s k8s.io/kubernetes)
ETCD_VERSION=$(gomod_version etcd go.etcd.io/etcd/server/v3)
ARGO_VERSION=$(gomod_version argo github.com/argoproj/argo-workflows/v4)
PAUSE_IMAGE=localhost/pause:3.10
ARGOEXEC_IMAGE=localhost/argoexec:$ARGO_VERSION
# A Debian Python image with a compiler and Python's headers, so the worker
# image's build stage compiles mrargo's C loops without apt.
BASE_PACKAGES=python3,python3-venv,python3-dev,gcc,libc6-dev,ca-certificates
BASE_IMAGE=localhost/mrargo-base:bookworm-$(printf %s "$BASE_PACKAGES" | sha256sum | cut -c1-8)

# Loopback addresses and ports.  The service CIDR is on loopback and the
# apiserver listens on its first address, the `kubernetes` Service's ClusterIP,
# so pods reach it through the in-cluster config without kube-proxy.
SERVICE_CIDR=127.1.0.0/24
APISERVER_IP=127.1.0.1
ETCD_PORT=32379
ETCD_PEER_PORT=32380
KCM_PORT=10357
SCHEDULER_PORT=10359
KUBELET_PORT=10350
KUBELET_HEALTHZ_PORT=10348
S3_PORT=${MRARGO_E2E_S3_PORT:-39000}
NODE_NAME=localhost   # the apiserver reaches the kubelet by this hostname

NAMESPACE=mrargo-e2e  # where the workflows run
ARGO_NAMESPACE=argo   # where the controller's ConfigMap lives
BUCKET=mrargo-e2e
S3_SECRET=mrargo-s3
# moto accepts any keys; these exist so that every client is configured as for
# a real store.  Test values only.
S3_ACCESS_KEY=mrargo-e2e-access
S3_SECRET_KEY=mrargo-e2e-secret

BIN=$D/bin
RUN=$D/run          # PID files, logs, sockets, certificates, configs
PIDS=$RUN/pids
LOGS=$RUN/logs
PKI=$RUN/pki
STATE=$D/state      # etcd data, containerd and kubelet roots
IMAGES=$D/images    # OCI archives, keyed by version
K8S_BIN=$BIN/k8s-$K8S_VERSION
ETCD_BIN=$BIN/etcd-$ETCD_VERSION
ARGO_BIN=$BIN/argo-$ARGO_VERSION
USER_PATH=$D/path   # what `up` puts first on PATH: kubectl and argo
ADMIN_KUBECONFIG=$PKI/admin.kubeconfig
USER_KUBECONFIG=$D/kubeconfig
CONTAINERD_SOCK=$RUN/containerd/containerd.sock
VENV=${MRARGO_E2E_VENV:-$REPO/.venv}

# Go: on PATH, or where the machine image puts it.
export PATH="$PATH:/usr/local/go/bin"
# buildah keeps its images under the state dir, not in the system's storage,
# and runs RUN steps with chroot isolation (no OCI runtime, no cgroups needed).
export CONTAINERS_STORAGE_CONF=$D/containers/storage.conf
export CONTAINERS_CONF=$D/containers/containers.conf
export BUILDAH_ISOLATION=chroot

log() { printf '[e2e %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# quietly LOG CMD...: run CMD with its output in LOG; on failure show its tail.
quietly() {
  local out=$1; shift
  mkdir -p "$(dirname "$out")"
  if ! "$@" >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    log "failed: $* (full output: $out)"
    return 1
  fi
}
timed() { # timed WHAT CMD...: run CMD, log how long it took
  local what=$1 t0=$SECONDS; shift
  "$@"
  log "$what took $((SECONDS - t0)) s"
}

# ------------------------------------------------------------------ checks
preflight() {
  [ "$(id -u)" = 0 ] || die "must run as root (containerd, kubelet, mounts)"
  command -v go >/dev/null || die "Go not found (on PATH or /usr/local/go/bin); Go >= 1.26 builds etcd, Kubernetes and Argo"
  [ -x "$VENV/bin/python" ] || die "no project venv at $VENV (python3 -m venv .venv && .venv/bin/pip install -e '.[test]')"
}

# ------------------------------------------------------------------ packages
apt_packages() {
  # containerd + runc run the pods; the CNI plugins give the node a (loopback)
  # network; mmdebstrap makes the Debian base image; buildah builds images;
  # gcc + libc6-dev build the static pause binary.
  local p need=()
  for p in containerd runc containernetworking-plugins mmdebstrap buildah openssl gcc libc6-dev curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  log "apt-get install ${need[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

# ------------------------------------------------------------------ Go builds
# Each build goes to a directory named by its version and is skipped when every
# binary is there.  go.mod/go.sum are complete (-mod=readonly), so no checksum
# database lookup happens; the Go module and build caches are the user's.
gobuild() { # gobuild MODULE_DIR OUT_DIR LDFLAGS PACKAGE...
  local dir=$1 out=$2 ldflags=$3; shift 3
  mkdir -p "$out.tmp"
  (cd "$dir" && CGO_ENABLED=0 nice go build -mod=readonly -buildvcs=false -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp/" "$@") >&2
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# module_dir WRAPPER MODULE@VERSION: download a module, print its directory.
module_dir() {
  local dir
  dir=$(cd "$HERE/go/$1" && go mod download -json "$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || die "go mod download $2 gave no directory"
  echo "$dir"
}

have_bins() { local d=$1 b; shift; for b in "$@"; do [ -x "$d/$b" ] || return 1; done; }

build_etcd() {
  have_bins "$ETCD_BIN" etcd && return 0
  log "building etcd $ETCD_VERSION (about 1 min cold)"
  # the wrapper's main package is named after its directory: etcd
  timed "etcd build" gobuild "$HERE/go/etcd" "$ETCD_BIN" "" .
}

K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
build_k8s() {
  have_bins "$K8S_BIN" "${K8S_CMDS[@]}" && return 0
  log "building Kubernetes $K8S_VERSION: ${K8S_CMDS[*]} (about 10 min cold)"
  local minor=${K8S_VERSION#v1.} ld="" p
  minor=${minor%%.*}
  # what `kubectl version` and the apiserver's /version report
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  timed "Kubernetes build" gobuild "$HERE/go/k8s" "$K8S_BIN" "$ld" \
    "${K8S_CMDS[@]/#/k8s.io/kubernetes/cmd/}"
}

# Argo is built from a patched copy of its module, because:
# - upstream's workflow/executor/osspecific/signal_linux.go is a symlink to
#   signal_darwin.go, and Go module zips drop symlinks, so argoexec fails with
#   "undefined: Setpgid" (and `go build -overlay` may not touch GOMODCACHE);
# - the argo CLI embeds the UI's dist/app, which is not in the module (Argo's
#   Makefile writes the same placeholder when building without the UI);
# - the controller's health server binds ":6060" (all interfaces, hard-coded);
#   here it binds 127.0.0.1:6060 so that nothing listens beyond loopback.
argo_src() {
  local top=$D/build/argo-$ARGO_VERSION
  [ -f "$top/.ready" ] && { echo "$top"; return 0; }
  rm -rf "$top" && mkdir -p "$top"
  local mod=github.com/argoproj/argo-workflows/v4 dir
  dir=$(module_dir argo "$mod@$ARGO_VERSION")
  cp -r "$dir" "$top/module" && chmod -R u+w "$top/module"
  local os=$top/module/workflow/executor/osspecific
  cp "$os/signal_darwin.go" "$os/signal_linux.go"
  mkdir -p "$top/module/ui/dist/app"
  echo "Built without static files" > "$top/module/ui/dist/app/index.html"
  grep -q '":6060"' "$top/module/cmd/workflow-controller/main.go" || die "Argo's :6060 listener moved; update argo_src"
  sed -i 's/":6060"/"127.0.0.1:6060"/' "$top/module/cmd/workflow-controller/main.go"
  mkdir -p "$top/wrapper"
  cp "$HERE/go/argo/go.mod" "$HERE/go/argo/go.sum" "$HERE/go/argo/tools.go" "$top/wrapper/"
  (cd "$top/wrapper" && go mod edit -replace "$mod=../module")
  touch "$top/.ready"
  echo "$top"
}

ARGO_CMDS=(workflow-controller argoexec argo)
build_argo() {
  have_bins "$ARGO_BIN" "${ARGO_CMDS[@]}" && return 0
  log "building Argo $ARGO_VERSION: ${ARGO_CMDS[*]} (about 10 min cold)"
  local top p ld=""
  top=$(argo_src)
  for p in version=$ARGO_VERSION gitTag=$ARGO_VERSION gitTreeState=clean; do
    ld+=" -X github.com/argoproj/argo-workflows/v4.$p"
  done
  timed "Argo build" gobuild "$top/wrapper" "$ARGO_BIN" "$ld" \
    "${ARGO_CMDS[@]/#/github.com/argoproj/argo-workflows/v4/cmd/}"
}

# ------------------------------------------------------------------ images
# No registry is reachable, so every image is built here and imported into
# containerd's k8s.io namespace; pods never pull.

containers_conf() {
  mkdir -p "$D/containers"
  cat > "$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$D/containers/storage"
runroot = "$D/containers/run"
EOF
  # root here lacks CAP_SYS_RESOURCE, so the default (raised) ulimits fail;
  # keep the ones we have.
  cat > "$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
}

have_buildah_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# Save a buildah image as an OCI archive for `ctr images import`.
save_image() { # save_image IMAGE FILE
  rm -f "$2.tmp"
  buildah push -q "$1" "oci-archive:$2.tmp:$1" >&2
  mv "$2.tmp" "$2"
}

# The sandbox ("pause") image: Kubernetes' own pause.c, which ships in the
# k8s.io/kubernetes module, linked statically.
build_pause_image() {
  local out=$IMAGES/pause-3.10.tar
  [ -f "$out" ] && return 0
  log "building $PAUSE_IMAGE"
  local src work=$D/build/pause c
  src=$(module_dir k8s "k8s.io/kubernetes@$K8S_VERSION")/build/pause/linux/pause.c
  mkdir -p "$work"
  gcc -Os -Wall -Werror -static -DVERSION=v3.10-mrargo-e2e -o "$work/pause" "$src"
  strip "$work/pause"
  c=$(buildah from scratch)
  buildah copy -q "$c" "$work/pause" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  buildah commit -q --rm "$c" "$PAUSE_IMAGE" >/dev/null
  save_image "$PAUSE_IMAGE" "$out"
}

# argoexec runs as root, like Argo's default executor image (distroless
# static, no USER): a spec whose pod-level securityContext refuses root makes
# its init and wait containers fail here exactly as on a stock install.
build_argoexec_image() {
  local out=$IMAGES/argoexec-$ARGO_VERSION.tar
  [ -f "$out" ] && return 0
  log "building $ARGOEXEC_IMAGE (runs as root)"
  local top work=$D/build/argoexec-root c
  top=$(argo_src)
  rm -rf "$work" && mkdir -p "$work"/{bin,etc/ssl/certs,etc/ssh,tmp,root}
  chmod 1777 "$work/tmp"
  cp "$ARGO_BIN/argoexec" "$work/bin/"
  cp /etc/ssl/certs/ca-certificates.crt "$work/etc/ssl/certs/"
  [ -f /etc/mime.types ] && cp /etc/mime.types "$work/etc/"
  cp "$top/module/hack/ssh_known_hosts" "$work/etc/ssh/"
  cp "$top/module/hack/nsswitch.conf" "$work/etc/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$work/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$work/etc/group"
  c=$(buildah from scratch)
  buildah copy -q "$c" "$work" / >/dev/null
  buildah config --entrypoint '["argoexec"]' --env PATH=/usr/local/bin:/usr/bin:/bin --user 0 "$c"
  buildah commit -q --rm "$c" "$ARGOEXEC_IMAGE" >/dev/null
  save_image "$ARGOEXEC_IMAGE" "$out"
}

# A Python base image from a Debian bookworm root filesystem: Debian's
# python3 (3.11), as the worker image needs.
build_base_image() {
  have_buildah_image "$BASE_IMAGE" && return 0
  log "building $BASE_IMAGE with mmdebstrap (about 2 min cold)"
  local rootfs=$D/build/${BASE_IMAGE##*:}-rootfs.tar c
  mkdir -p "$D/build"
  if [ ! -f "$rootfs" ]; then
    # Same apt options as the host (its mirror may be a dated snapshot).
    timed "mmdebstrap" quietly "$D/build/mmdebstrap.log" mmdebstrap --variant=minbase \
      --include="$BASE_PACKAGES" \
      --aptopt='Acquire::Check-Valid-Until "false"' \
      bookworm "$rootfs.tmp.tar"
    mv "$rootfs.tmp.tar" "$rootfs"
  fi
  c=$(buildah from scratch)
  buildah add -q "$c" "$rootfs" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd '["python3"]' "$c"
  buildah commit -q --rm "$c" "$BASE_IMAGE" >/dev/null
}

# The mrargo worker image, built as users build it: `mrargo image build`
# (templates/Dockerfile.j2, dependencies pinned by templates/constraints.txt).
# Its tag is a hash of everything that goes into it, so a source change
# gives a new image.
WORKER_SOURCES=(mrargo templates pyproject.toml README.md)

# The files of the project that go into the image (git's view when there is
# one: tracked and untracked, not ignored), NUL-separated.
worker_files() {
  if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$REPO" ls-files -z -co --exclude-standard -- "${WORKER_SOURCES[@]}"
  else
    (cd "$REPO" && find "${WORKER_SOURCES[@]}" -type f ! -name '*.pyc' ! -name '*.so' -print0)
  fi
}

worker_tag() {
  local h
  h=$( (cd "$REPO" && worker_files | sort -z | xargs -0r sha256sum 2>/dev/null; echo "$BASE_IMAGE") | sha256sum | cut -c1-12)
  echo "localhost/mrargo-worker:e2e-$h"
}

# The one place that builds the worker image: the project's own command.
build_worker_image_with() { # build_worker_image_with TAG
  quietly "$D/build/worker-image.log" "$VENV/bin/mrargo" image build --tag "$1" --base-image "$BASE_IMAGE" \
    --builder buildah --builder-arg=--layers=false
}

build_worker_image() {
  local tag out
  tag=$(worker_tag)
  out=$IMAGES/worker-${tag##*:}.tar
  if [ ! -f "$out" ]; then
    if ! have_buildah_image "$tag"; then
      log "building the worker image $tag"
      timed "worker image build" build_worker_image_with "$tag"
    fi
    save_image "$tag" "$out"
  fi
  echo "$tag"
}

build_images() {
  mkdir -p "$IMAGES"
  containers_conf
  build_pause_image
  build_argoexec_image
  build_base_image
  build_worker_image >/dev/null
}

cmd_build() {
  preflight
  apt_packages
  build_etcd
  build_k8s
  build_argo
  build_images
  mkdir -p "$USER_PATH"
  ln -sfn "$K8S_BIN/kubectl" "$USER_PATH/kubectl"
  ln -sfn "$ARGO_BIN/argo" "$USER_PATH/argo"
}

# ------------------------------------------------------------------ processes
pidfile() { echo "$PIDS/$1.pid"; }
alive() { local f; f=$(pidfile "$1"); [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

# start NAME CMD...: run CMD in the background with a PID file and a log file,
# unless it already runs.
start() {
  local name=$1; shift
  if alive "$name"; then return 0; fi
  log "starting $name"
  mkdir -p "$PIDS" "$LOGS"
  # setsid: a daemon of its own, so the caller's Ctrl-C or the end of
  # `eval "$(cluster.sh up)"` does not reach it.
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$(pidfile "$name")"
}

# wait_until DESC SECONDS CMD...: poll CMD until it succeeds.
wait_until() {
  local desc=$1 n=$2 i; shift 2
  for ((i = 0; i < n * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "timed out after ${n}s waiting for $desc (logs: $LOGS)"
}

kubectl_admin() { "$K8S_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

# ------------------------------------------------------------------ certificates
# A self-made CA signs the apiserver's serving certificate and the client
# certificates; a key pair signs service-account tokens.
make_cert() { # make_cert NAME SUBJECT [SANS]
  local name=$1 subj=$2 sans=${3:-}
  [ -f "$PKI/$name.crt" ] && return 0
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$sans"
    else echo "extendedKeyUsage=clientAuth"; fi
  } > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

kubeconfig() { # kubeconfig FILE CERT_NAME [NAMESPACE]
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mrargo-e2e
  cluster:
    server: https://$APISERVER_IP:443
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: mrargo-e2e
  context:
    cluster: mrargo-e2e
    user: $2
    namespace: ${3:-default}
current-context: mrargo-e2e
EOF
}

make_pki() {
  mkdir -p "$PKI" && chmod 700 "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    log "creating the CA, certificates and service-account keys"
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -subj "/CN=mrargo-e2e-ca" \
      -days 3650 -sha256 -out "$PKI/ca.crt" 2>/dev/null
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  make_cert apiserver "/CN=kube-apiserver" \
    "IP:$APISERVER_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  make_cert admin "/O=system:masters/CN=mrargo-e2e-admin"
  make_cert node "/O=system:nodes/CN=system:node:$NODE_NAME"
  make_cert controller-manager "/CN=system:kube-controller-manager"
  make_cert scheduler "/CN=system:kube-scheduler"
  kubeconfig "$ADMIN_KUBECONFIG" admin
  kubeconfig "$PKI/node.kubeconfig" node
  kubeconfig "$PKI/controller-manager.kubeconfig" controller-manager
  kubeconfig "$PKI/scheduler.kubeconfig" scheduler
  # The user's (and the tests') kubeconfig: admin, in the workflows' namespace.
  kubeconfig "$USER_KUBECONFIG" admin "$NAMESPACE"
}

# ------------------------------------------------------------------ control plane
start_etcd() {
  # --max-request-bytes: Argo's full CRDs exceed etcd's 1.5 MiB default.
  start etcd "$ETCD_BIN/etcd" --name mrargo-e2e --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "mrargo-e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
    --listen-metrics-urls "" --max-request-bytes 8388608 --quota-backend-bytes 4294967296 \
    --log-level warn
  wait_until etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  # --endpoint-reconciler-type none: the `kubernetes` Service's endpoint is
  # not rewritten to a non-loopback address.
  # --kubelet-preferred-address-types Hostname: `kubectl logs` reaches the
  # kubelet as `localhost`.
  start kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$APISERVER_IP" --advertise-address "$APISERVER_IP" --secure-port 443 \
    --service-cluster-ip-range "$SERVICE_CIDR" --endpoint-reconciler-type none \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --kubelet-client-certificate "$PKI/admin.crt" --kubelet-client-key "$PKI/admin.key" \
    --kubelet-preferred-address-types Hostname \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --profiling=false
  wait_until kube-apiserver 120 kubectl_admin get --raw /readyz
}

start_controllers() {
  # The controller-manager creates each namespace's `default` service account
  # and `kube-root-ca.crt` ConfigMap (mounted into every pod's projected token
  # volume), and garbage-collects pods whose workflow is deleted.
  start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$PKI/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$PKI/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$PKI/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true --profiling=false
  start kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig "$PKI/scheduler.kubeconfig" \
    --authentication-kubeconfig "$PKI/scheduler.kubeconfig" \
    --authorization-kubeconfig "$PKI/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false --profiling=false
  wait_until "the default service account" 60 kubectl_admin -n default get serviceaccount default
}

# ------------------------------------------------------------------ node
start_containerd() {
  local c=$RUN/containerd
  mkdir -p "$c" "$RUN/cni" "$STATE/containerd"
  # A loopback-only CNI network: the runtime reports NetworkReady, so the node
  # becomes Ready.  There is no pod network; workflows run with hostNetwork.
  cat > "$RUN/cni/10-loopback.conflist" <<'EOF'
{"cniVersion": "1.0.0", "name": "mrargo-e2e-loopback", "plugins": [{"type": "loopback"}]}
EOF
  # Own root, state and socket, so a system containerd is left alone.
  # restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so the sandbox's
  # negative oom_score_adj (-998) makes runc fail ("can't get final child's
  # PID from pipe: EOF"); containerd clamps it to its own score instead.
  cat > "$c/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN/cni"
EOF
  start containerd containerd --config "$c/config.toml"
  wait_until containerd 30 ctr_k8s version
}

ctr_k8s() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }

# import_image ARCHIVE NAME: import unless containerd has it already.
import_image() {
  if [ -n "$(ctr_k8s images ls -q "name==$2")" ]; then return 0; fi
  log "importing $2 into containerd"
  ctr_k8s images import "$1" >&2
  [ -n "$(ctr_k8s images ls -q "name==$2")" ] || die "import of $1 did not create $2"
}

import_images() {
  local worker
  worker=$(build_worker_image)
  import_image "$IMAGES/pause-3.10.tar" "$PAUSE_IMAGE"
  import_image "$IMAGES/argoexec-$ARGO_VERSION.tar" "$ARGOEXEC_IMAGE"
  import_image "$IMAGES/worker-${worker##*:}.tar" "$worker"
  echo "$worker" > "$RUN/worker-image"
  prune_worker_images "$worker"
}

# Each source change makes a new worker image: drop the older ones (archives,
# buildah's and containerd's copies; running containers keep their snapshots).
prune_worker_images() {
  local keep=$1 img f
  for img in $(ctr_k8s images ls -q | grep '^localhost/mrargo-worker:e2e-' || true); do
    [ "$img" = "$keep" ] || ctr_k8s images rm "$img" >/dev/null 2>&1 || true
  done
  for img in $(buildah images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep '^localhost/mrargo-worker:e2e-' || true); do
    [ "$img" = "$keep" ] || buildah rmi "$img" >/dev/null 2>&1 || true
  done
  for f in "$IMAGES"/worker-e2e-*.tar; do
    [ -e "$f" ] && [ "$f" != "$IMAGES/worker-${keep##*:}.tar" ] && rm -f "$f"
  done
  return 0
}

start_kubelet() {
  mkdir -p "$STATE/kubelet" "$STATE/pod-logs"
  # oomScoreAdj 0: see restrict_oom_score_adj above.  failCgroupV1 false: this
  # machine has a cgroup v1 (hybrid) layout.  Image GC off: an image deleted
  # here could never be pulled back.
  cat > "$RUN/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
failSwapOn: false
failCgroupV1: false
oomScoreAdj: 0
podLogsDir: $STATE/pod-logs
resolvConf: /etc/resolv.conf
serializeImagePulls: false
maxPods: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
  start kubelet "$K8S_BIN/kubelet" --config "$RUN/kubelet.yaml" --kubeconfig "$PKI/node.kubeconfig" \
    --root-dir "$STATE/kubelet" --hostname-override "$NODE_NAME"
  # the node object may still say Ready from a previous run: ask the kubelet too
  wait_until "kubelet healthz" 60 curl -fsS "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"
  wait_until "node $NODE_NAME Ready" 120 kubectl_admin wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
}

# ------------------------------------------------------------------ S3
start_s3() {
  # moto's S3 on loopback; pods reach it on the same address (hostNetwork).
  start s3 "$VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$S3_PORT"
  wait_until "S3 server" 30 curl -fsS -o /dev/null "http://127.0.0.1:$S3_PORT/"
  # Create the bucket (idempotent: 200 if new, 409/200 if it exists).
  curl -sS -o /dev/null -X PUT "http://127.0.0.1:$S3_PORT/$BUCKET"
}

# ------------------------------------------------------------------ Argo
argo_crds() {
  local top mark=$RUN/crds-applied-$ARGO_VERSION
  [ -f "$mark" ] && kubectl_admin get crd workflows.argoproj.io >/dev/null 2>&1 && return 0
  top=$(argo_src)
  log "applying Argo's CRDs"
  # The full CRDs (with schemas), as Argo's cluster install uses.
  kubectl_admin apply --server-side --force-conflicts -k "$top/module/manifests/base/crds/full" >/dev/null
  kubectl_admin wait --for=condition=Established crd --all --timeout=60s >/dev/null
  touch "$mark"
}

argo_config() {
  kubectl_admin create namespace "$ARGO_NAMESPACE" --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
  # executor: the local root argoexec image, never pulled.
  # workflowDefaults: hostNetwork, because this machine has no pod network
  #   (the one setting that differs from a stock install; see README).
  # metricsConfig/telemetryConfig off: they listen on all interfaces.
  kubectl_admin -n "$ARGO_NAMESPACE" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: workflow-controller-configmap
data:
  executor: |
    image: $ARGOEXEC_IMAGE
    imagePullPolicy: Never
  workflowDefaults: |
    spec:
      hostNetwork: true
  metricsConfig: |
    enabled: false
  telemetryConfig: |
    enabled: false
EOF
}

# The workflows' namespace: only what `mrargo manifests` renders (service
# account, executor Role and RoleBinding, artifact-repository ConfigMap), plus
# the bucket's Secret, which a user creates by hand.
workflows_namespace() {
  kubectl_admin create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
  "$VENV/bin/mrargo" manifests --namespace "$NAMESPACE" --bucket "$BUCKET" \
    --endpoint "http://127.0.0.1:$S3_PORT" --secret "$S3_SECRET" \
    | kubectl_admin apply -f - >/dev/null
  kubectl_admin -n "$NAMESPACE" create secret generic "$S3_SECRET" \
    --from-literal=accesskey="$S3_ACCESS_KEY" --from-literal=secretkey="$S3_SECRET_KEY" \
    --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
}

start_workflow_controller() {
  # DEFAULT_REQUEUE_TIME (10s upstream) only paces how often the controller
  # re-reads a running workflow; 2s makes the tests' runs about 3x faster.
  start workflow-controller env LEADER_ELECTION_DISABLE=true DEFAULT_REQUEUE_TIME=2s \
    "$ARGO_BIN/workflow-controller" --kubeconfig "$ADMIN_KUBECONFIG" \
    --namespace "$ARGO_NAMESPACE" --configmap workflow-controller-configmap
  wait_until workflow-controller 60 curl -fsS http://127.0.0.1:6060/healthz
}

# ------------------------------------------------------------------ up / down / status
print_exports() {
  local worker
  worker=$(cat "$RUN/worker-image")
  local endpoint=http://127.0.0.1:$S3_PORT
  printf 'export KUBECONFIG=%q\n' "$USER_KUBECONFIG"
  # $PATH is expanded by the shell that evals these lines
  # shellcheck disable=SC2016
  printf 'export PATH=%q:"$PATH"\n' "$USER_PATH"
  printf 'export AWS_ENDPOINT_URL=%q\n' "$endpoint"
  printf 'export FSSPEC_S3_ENDPOINT_URL=%q\n' "$endpoint"
  printf 'export AWS_ACCESS_KEY_ID=%q\n' "$S3_ACCESS_KEY"
  printf 'export AWS_SECRET_ACCESS_KEY=%q\n' "$S3_SECRET_KEY"
  printf 'export AWS_DEFAULT_REGION=us-east-1\n'
  printf 'export MRARGO_E2E_NAMESPACE=%q\n' "$NAMESPACE"
  printf 'export MRARGO_E2E_BUCKET=%q\n' "$BUCKET"
  printf 'export MRARGO_E2E_S3_ENDPOINT=%q\n' "$endpoint"
  printf 'export MRARGO_E2E_S3_SECRET=%q\n' "$S3_SECRET"
  printf 'export MRARGO_E2E_IMAGE=%q\n' "$worker"
}

cmd_up() {
  local t0=$SECONDS
  cmd_build
  mkdir -p "$RUN" "$STATE"
  make_pki
  start_etcd
  start_apiserver
  start_controllers
  start_containerd
  import_images
  start_kubelet
  start_s3
  argo_crds
  argo_config
  workflows_namespace
  start_workflow_controller
  log "cluster up in $((SECONDS - t0)) s; namespace $NAMESPACE"
  print_exports
}

# stop NAME...: SIGTERM each process (by its PID file), wait for all of them,
# then SIGKILL what is left after 5 s (the workflow-controller ignores SIGTERM).
stop() {
  local name f pid pids=() i
  for name in "$@"; do
    f=$(pidfile "$name")
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping $name (pid $pid)"
      kill "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$f"
  done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

# The pods' containers outlive the kubelet and containerd (each has its own
# shim), so kill every task of our containerd, then the shims, whose PID files
# are in our containerd's state dir.
stop_pods() {
  if alive containerd; then
    local id
    for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
      ctr_k8s tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    sleep 1
    for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
      ctr_k8s tasks delete -f "$id" >/dev/null 2>&1 || true
    done
  fi
  local f pid
  for f in "$STATE"/containerd/state/io.containerd.runtime.v2.task/k8s.io/*/shim.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # only if it really is a shim of ours
    if grep -qa "containerd-shim" "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  done
}

# Unmount everything mounted below the state dir (pod volumes, container
# root filesystems, buildah's overlay), deepest first.
unmount_all() {
  local m
  awk -v d="$D/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

# The kubelet's pod cgroups (kubepods) are left empty; remove them.
remove_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/kubepods.slice; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

cmd_down() {
  local wipe=${1:-}
  case "$wipe" in ""|--wipe|--wipe-all) ;; *) die "usage: $0 down [--wipe|--wipe-all]" ;; esac
  # The node first (so nothing restarts the pods), etcd last.
  stop workflow-controller kubelet
  stop_pods
  stop containerd s3 kube-scheduler kube-controller-manager
  stop kube-apiserver
  stop etcd
  unmount_all
  remove_cgroups
  case "$wipe" in
    --wipe)  # the cluster's data; the builds (bin, images, build, containers) stay
      log "removing the cluster's state in $D"
      rm -rf "$RUN" "$STATE" "$USER_KUBECONFIG" ;;
    --wipe-all)
      log "removing $D"
      rm -rf "$D" ;;
  esac
  log "down"
}

cmd_status() {
  local name rc=0
  for name in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet s3 workflow-controller; do
    if alive "$name"; then printf '%-24s running (pid %s)\n' "$name" "$(cat "$(pidfile "$name")")"
    else printf '%-24s stopped\n' "$name"; rc=1; fi
  done
  printf 'versions: Kubernetes %s, etcd %s, Argo %s\nstate: %s\n' "$K8S_VERSION" "$ETCD_VERSION" "$ARGO_VERSION" "$D"
  return $rc
}

main() {
  case "${1:-}" in
    build) cmd_build ;;
    up) cmd_up ;;
    down) shift; cmd_down "$@" ;;
    status) cmd_status ;;
    *) echo "usage: $0 build|up|down [--wipe|--wipe-all]|status" >&2; exit 2 ;;
  esac
}

# Sourcing the script (for debugging one step) defines the functions only.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
