#!/usr/bin/env bash
# Regenerates deepcopy code, CRDs, RBAC and webhook manifests (and the
# third-party CRDs the chart tests install) and fails if
# they differ from what is in the tree: generated files are committed, so a
# stale one is a bug.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CONTROLLER_GEN:?set CONTROLLER_GEN to the controller-gen binary}"

before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
generated=(api/v1alpha1/zz_generated.deepcopy.go config/crd/bases charts/ecap/crds config/rbac/role.yaml config/webhook/manifests.yaml controllers/setup/testdata/crds)
for f in "${generated[@]}"; do
  mkdir -p "$before/$(dirname "$f")"
  [ -e "$f" ] && cp -r "$f" "$before/$f"
done

"$CONTROLLER_GEN" object:headerFile="hack/boilerplate.go.txt" paths="./api/..."
"$CONTROLLER_GEN" rbac:roleName=ecap-manager-role crd webhook paths="./api/..." paths="./controllers/..." \
  output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook
rm -f charts/ecap/crds/*.yaml && cp config/crd/bases/*.yaml charts/ecap/crds/
hack/gen-test-crds.sh

stale=0
for f in "${generated[@]}"; do
  if ! diff -r -q "$before/$f" "$f" >/dev/null 2>&1; then
    echo "stale generated file: $f (run 'make generate manifests' and commit)" >&2
    diff -r -u "$before/$f" "$f" | head -40 >&2 || true
    stale=1
  fi
done
[ "$stale" = 0 ] && echo "generated files are up to date" >&2
exit "$stale"
