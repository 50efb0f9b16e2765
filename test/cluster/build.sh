#!/usr/bin/env bash
# Builds the real servers the tests start (Kubernetes control plane, kwok, etcd, helm,
# nats-server, nats CLI) from their published Go modules, and caches each binary under
# $SD_TOOLS_CACHE/<name>-<version>/ so a second run costs nothing.
#
#   test/cluster/build.sh            build whatever is missing
#   test/cluster/build.sh NAME…      build only these
#   test/cluster/build.sh --path NAME print where NAME's binary is (built or not)
#
# Each tool lives in its own tiny Go module (one folder here) so their dependency graphs
# never meet. See test/cluster/README.md for what worked and why.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${SD_TOOLS_CACHE:-$repo/.cache/tools}

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod
K8S_VERSION=v1.37.2
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

# As helm's own Makefile: stamp the Kubernetes version its client-go is (v0.37 → 1.37), or
# `helm template` assumes 1.20 and refuses charts with a newer kubeVersion.
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v3.22.0"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=37"
done

# name | module folder | main package | version (the cache key) | ldflags
tools=(
  "etcd|etcd|.|v3.6.16|-s -w"
  "kube-apiserver|kubernetes|k8s.io/kubernetes/cmd/kube-apiserver|$K8S_VERSION|$k8s_ldflags"
  "kube-controller-manager|kubernetes|k8s.io/kubernetes/cmd/kube-controller-manager|$K8S_VERSION|$k8s_ldflags"
  "kube-scheduler|kubernetes|k8s.io/kubernetes/cmd/kube-scheduler|$K8S_VERSION|$k8s_ldflags"
  "kubectl|kubernetes|k8s.io/kubernetes/cmd/kubectl|$K8S_VERSION|$k8s_ldflags"
  "kwok|kwok|sigs.k8s.io/kwok/cmd/kwok|v0.8.0|-s -w"
  "helm|helm|helm.sh/helm/v3/cmd/helm|v3.22.0-k8s1.37|$helm_ldflags"
  "nats-server|nats|github.com/nats-io/nats-server/v2|v2.15.2|-s -w"
  "nats|natscli|github.com/nats-io/natscli/nats|v0.1.6|-s -w"
)

if [[ ${1:-} == --path ]]; then
  for row in "${tools[@]}"; do
    IFS='|' read -r name dir pkg version ldflags <<<"$row"
    if [[ $name == "${2:-}" ]]; then echo "$cache/$name-$version/$name"; exit 0; fi
  done
  echo "build.sh: unknown tool '${2:-}'" >&2; exit 2
fi

# kwok refuses to start without Stage objects; its module ships them under kustomize/stage.
copy_kwok_stages() {
  local src dest=$1
  src=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
  mkdir -p "$dest"
  for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
    pod/general/pod-create pod/general/pod-init-container-running \
    pod/general/pod-init-container-completed pod/general/pod-ready pod/general/pod-complete \
    pod/general/pod-delete pod/chaos/pod-container-running-failed; do
    cp "$src/$f.yaml" "$dest/"
  done
  chmod u+w "$dest"/*.yaml
}

only=("$@")
for row in "${tools[@]}"; do
  IFS='|' read -r name dir pkg version ldflags <<<"$row"
  if ((${#only[@]})) && [[ " ${only[*]} " != *" $name "* ]]; then continue; fi
  out="$cache/$name-$version/$name"
  if [[ -x $out ]]; then echo "cached  $name $version"; continue; fi
  echo "build   $name $version (from test/cluster/$dir)"
  mkdir -p "$(dirname "$out")"
  start=$SECONDS
  (cd "$here/$dir" && go build -p 2 -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg")
  if [[ $name == kwok ]]; then copy_kwok_stages "$(dirname "$out")/stages"; fi
  mv "$out.tmp" "$out"
  echo "built   $name $version in $((SECONDS - start))s"
done
