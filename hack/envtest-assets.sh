#!/usr/bin/env bash
# Provides a real kube-apiserver, etcd and kubectl for controller-runtime's
# envtest, built/installed once and cached, and prints the directory to use
# as KUBEBUILDER_ASSETS as the last (and only) line on stdout.
#
#   export KUBEBUILDER_ASSETS="$(hack/envtest-assets.sh)"
#
# Everything else (progress, build output) goes to stderr.
#
# Why not setup-envtest: it downloads prebuilt binaries from a bucket that is
# not reachable here. Only the Go module proxy and Debian apt are, so:
#   kube-apiserver  built from k8s.io/kubernetes via the Go module proxy
#   etcd            Debian's etcd-server package (3.4.23 on bookworm),
#                   symlinked; the system etcd service it ships is kept
#                   stopped and disabled. Works with kube-apiserver 1.37 under
#                   envtest, but 3.4 < 3.4.31 means the apiserver logs
#                   "RequestWatchProgress feature is not supported" and turns
#                   off WatchList streaming / consistent reads from its watch
#                   cache (clients fall back to LIST+WATCH). For the exact
#                   etcd kubernetes pins (3.7.0 for 1.37.2), set
#                   ECAP_ENVTEST_ETCD=build. apt mode also falls back to the
#                   build when etcd-server cannot be installed (no apt/root).
#   kubectl         symlinked from the system (PATH), if present
#
# Environment:
#   ECAP_ENVTEST_DIR   the assets directory itself (default:
#                      ${XDG_CACHE_HOME:-$HOME/.cache}/ecap/envtest/k8s-<version>)
#   ECAP_ENVTEST_ETCD  "apt" (default): Debian etcd-server package, or
#                      "build": etcd built from go.etcd.io/etcd/server/v3 at
#                      the version kubernetes' go.mod pins (~7 min cold)
#
# Safe to run concurrently: a flock on <dir>/.lock serialises builders, and
# binaries are built under a temporary name and moved into place atomically.
set -euo pipefail

K8S_VERSION="1.37.2"
# Staging modules (k8s.io/api, k8s.io/apiserver, ...) are published as v0.<minor>.<patch>.
STAGING_VERSION="0.${K8S_VERSION#*.}"

ASSETS_DIR="${ECAP_ENVTEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ecap/envtest/k8s-${K8S_VERSION}}"
ETCD_MODE="${ECAP_ENVTEST_ETCD:-apt}"

# Keep stdout clean: everything goes to stderr, fd 3 is the real stdout.
exec 3>&1 1>&2

log() { printf '[envtest-assets] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "go is required on PATH"

mkdir -p "$ASSETS_DIR"
ASSETS_DIR="$(cd "$ASSETS_DIR" && pwd -P)"

if command -v flock >/dev/null 2>&1; then
	exec 9>"$ASSETS_DIR/.lock"
	if ! flock -n 9; then
		log "another invocation holds $ASSETS_DIR/.lock; waiting for it"
		flock 9
	fi
else
	log "WARNING: flock not found; concurrent invocations are not serialised"
fi

WORK=""
cleanup() { if [ -n "$WORK" ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Leftovers of an invocation that was killed mid-build (we hold the lock).
rm -rf "$ASSETS_DIR"/.build.* "$ASSETS_DIR"/.*.tmp

# The build runs in a throwaway module: make sure the caller's Go settings
# (a go.work above the cache, -mod=vendor, ...) do not leak into it.
export GOWORK=off
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

# go.mod of k8s.io/kubernetes at K8S_VERSION, from the module cache.
kubernetes_gomod() {
	local json gomod
	json="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}")" ||
		die "go mod download k8s.io/kubernetes@v${K8S_VERSION} failed"
	gomod="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
	[ -f "$gomod" ] || die "could not locate go.mod of k8s.io/kubernetes@v${K8S_VERSION}"
	printf '%s\n' "$gomod"
}

# is_good BIN WANT: BIN exists, runs, and its --version output contains WANT.
is_good() {
	local out
	[ -x "$1" ] || return 1
	out="$("$1" --version 2>&1)" || return 1
	case "$out" in *"$2"*) return 0 ;; esac
	return 1
}

new_workdir() {
	cleanup
	WORK="$(mktemp -d "$ASSETS_DIR/.build.XXXXXX")"
}

build_kube_apiserver() {
	local gomod godirective staging m vpkg="k8s.io/component-base/version"
	gomod="$(kubernetes_gomod)"
	godirective="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod" | head -n1)"
	# Every "k8s.io/x => ./staging/src/k8s.io/x" replace of kubernetes' own
	# go.mod becomes "k8s.io/x => k8s.io/x v0.<minor>.<patch>" (both the
	# block form and the single-line "replace a => b" form).
	staging="$(sed -nE 's#^[[:space:]]*(replace[[:space:]]+)?(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\2#p' "$gomod")"
	[ -n "$staging" ] || die "no ./staging replace directives found in $gomod"

	new_workdir
	{
		echo "module ecap.local/envtest/kube-apiserver"
		echo
		echo "go ${godirective:-1.26.0}"
		echo
		echo "require k8s.io/kubernetes v${K8S_VERSION}"
		echo
		echo "replace ("
		for m in $staging; do
			printf '\t%s => %s v%s\n' "$m" "$m" "$STAGING_VERSION"
		done
		echo ")"
	} >"$WORK/go.mod"
	log "kube-apiserver: resolving k8s.io/kubernetes@v${K8S_VERSION} with $(echo "$staging" | wc -l) staging modules at v${STAGING_VERSION}"
	(cd "$WORK" && go get "k8s.io/kubernetes/cmd/kube-apiserver@v${K8S_VERSION}")
	log "kube-apiserver: building (takes several minutes on a cold Go build cache)"
	(cd "$WORK" && go build -trimpath -o "$WORK/kube-apiserver" \
		-ldflags "-s -w \
			-X ${vpkg}.gitVersion=v${K8S_VERSION} \
			-X ${vpkg}.gitMajor=${K8S_VERSION%%.*} \
			-X ${vpkg}.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) \
			-X ${vpkg}.gitTreeState=clean" \
		k8s.io/kubernetes/cmd/kube-apiserver)
	is_good "$WORK/kube-apiserver" "v${K8S_VERSION}" || die "freshly built kube-apiserver does not run"
	mv -f "$WORK/kube-apiserver" "$ASSETS_DIR/kube-apiserver"
	cleanup
	WORK=""
}

# The etcd version kubernetes pins for its own etcd client/server libraries.
etcd_version() {
	local gomod v
	gomod="$(kubernetes_gomod)"
	v="$(sed -nE 's#^[[:space:]]*go\.etcd\.io/etcd/server/v3[[:space:]]+v([0-9][^[:space:]]*).*#\1#p' "$gomod" | head -n1)"
	[ -n "$v" ] || v="$(sed -nE 's#^[[:space:]]*go\.etcd\.io/etcd/client/v3[[:space:]]+v([0-9][^[:space:]]*).*#\1#p' "$gomod" | head -n1)"
	[ -n "$v" ] || die "could not find the etcd version in $gomod"
	printf '%s\n' "$v"
}

build_etcd() {
	local v="$1"
	new_workdir
	printf 'module ecap.local/envtest/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$v" >"$WORK/go.mod"
	log "etcd: resolving go.etcd.io/etcd/server/v3@v${v}"
	(cd "$WORK" && go get "go.etcd.io/etcd/server/v3@v${v}")
	log "etcd: building v${v}"
	(cd "$WORK" && go build -trimpath -o "$WORK/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3)
	is_good "$WORK/etcd" "$v" || die "freshly built etcd does not run"
	mv -f "$WORK/etcd" "$ASSETS_DIR/etcd"
	cleanup
	WORK=""
}

# Stop and disable the etcd service the Debian package may have started, so
# no system etcd sits on 2379/2380 or starts again at boot.
quiesce_system_etcd() {
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now etcd.service >/dev/null 2>&1 || true
	else
		if command -v service >/dev/null 2>&1; then service etcd stop >/dev/null 2>&1 || true; fi
		if command -v systemctl >/dev/null 2>&1; then systemctl disable etcd.service >/dev/null 2>&1 || true; fi
	fi
}

# apt_etcd links Debian's /usr/bin/etcd into the assets dir, installing
# etcd-server first if needed. Returns 1 if it cannot be installed here.
apt_etcd() {
	local sudo="" policy="/usr/sbin/policy-rc.d" made_policy=""
	if ! [ -x /usr/bin/etcd ]; then
		if ! command -v apt-get >/dev/null 2>&1; then
			log "etcd: /usr/bin/etcd missing and apt-get not available"
			return 1
		fi
		if [ "$(id -u)" != 0 ]; then
			if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
				log "etcd: /usr/bin/etcd missing and no root/passwordless sudo to install etcd-server"
				return 1
			fi
			sudo="sudo -n"
		fi
		# Keep the package's postinst from starting a system etcd.
		if ! [ -e "$policy" ]; then
			printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
			$sudo chmod 755 "$policy"
			made_policy=1
		fi
		log "etcd: apt-get install etcd-server"
		if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server; then
			$sudo apt-get update -q || die "apt-get update failed"
			$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server ||
				die "apt-get install etcd-server failed"
		fi
		if [ -n "$made_policy" ]; then $sudo rm -f "$policy"; fi
		if [ -n "$sudo" ]; then $sudo bash -c "$(declare -f quiesce_system_etcd); quiesce_system_etcd"; else quiesce_system_etcd; fi
	fi
	ln -sfn /usr/bin/etcd "$ASSETS_DIR/.etcd.tmp"
	mv -Tf "$ASSETS_DIR/.etcd.tmp" "$ASSETS_DIR/etcd"
}

start=$SECONDS

# --- kube-apiserver ---------------------------------------------------------
if is_good "$ASSETS_DIR/kube-apiserver" "v${K8S_VERSION}"; then
	log "kube-apiserver: cached ($ASSETS_DIR/kube-apiserver)"
else
	build_kube_apiserver
	log "kube-apiserver: built in $((SECONDS - start))s"
fi

# --- etcd -------------------------------------------------------------------
ensure_built_etcd() {
	local ev t
	# Cheap check first: no module proxy round-trip when cached.
	if [ -f "$ASSETS_DIR/.etcd-version" ] && ! [ -L "$ASSETS_DIR/etcd" ] &&
		is_good "$ASSETS_DIR/etcd" "$(cat "$ASSETS_DIR/.etcd-version")"; then
		log "etcd: cached ($ASSETS_DIR/etcd, built v$(cat "$ASSETS_DIR/.etcd-version"))"
		return
	fi
	ev="$(etcd_version)"
	t=$SECONDS
	build_etcd "$ev"
	printf '%s\n' "$ev" >"$ASSETS_DIR/.etcd-version.tmp"
	mv -f "$ASSETS_DIR/.etcd-version.tmp" "$ASSETS_DIR/.etcd-version"
	log "etcd: built v${ev} in $((SECONDS - t))s"
}

case "$ETCD_MODE" in
build)
	ensure_built_etcd
	;;
apt)
	if apt_etcd; then
		rm -f "$ASSETS_DIR/.etcd-version"
		is_good "$ASSETS_DIR/etcd" "etcd Version" || die "$ASSETS_DIR/etcd does not run"
		log "etcd: using Debian's $(/usr/bin/etcd --version 2>&1 | head -n1)"
	else
		log "etcd: falling back to building etcd from source"
		ensure_built_etcd
	fi
	;;
*) die "ECAP_ENVTEST_ETCD must be 'apt' or 'build', got '$ETCD_MODE'" ;;
esac

# --- kubectl ----------------------------------------------------------------
if kubectl_path="$(command -v kubectl 2>/dev/null)" && [ "$kubectl_path" != "$ASSETS_DIR/kubectl" ]; then
	ln -sfn "$kubectl_path" "$ASSETS_DIR/.kubectl.tmp"
	mv -Tf "$ASSETS_DIR/.kubectl.tmp" "$ASSETS_DIR/kubectl"
elif ! [ -x "$ASSETS_DIR/kubectl" ]; then
	log "WARNING: kubectl not found on PATH; envtest features needing kubectl will not work"
fi

log "ready in $((SECONDS - start))s: $ASSETS_DIR"
printf '%s\n' "$ASSETS_DIR" >&3
