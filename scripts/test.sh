#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs and starts the test servers (scripts/services.d),
# then go vet, staticcheck and go test -race over every package, then stops the servers.
#
# Tool versions are pinned here and in scripts/services.d, not in the library's go.mod, so users of
# the library do not inherit them. Installed tools are cached in $OUTPUTS_TOOLS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export OUTPUTS_TOOLS=${OUTPUTS_TOOLS:-$HOME/.cache/outputs-tools}
export OUTPUTS_STATE=${OUTPUTS_STATE:-$root/.tmp/services}
mkdir -p "$OUTPUTS_TOOLS" "$OUTPUTS_STATE"
STATICCHECK_VERSION=v0.8.2   # staticcheck 2026.2.2

services=()
for s in scripts/services.d/*.sh; do [ -e "$s" ] && services+=("$s"); done
stop_all() {
  local i
  for ((i=${#services[@]}-1; i>=0; i--)); do bash "${services[$i]}" stop || true; done
}
trap stop_all EXIT
for s in "${services[@]}"; do
  echo "== starting $(basename "$s" .sh)"
  env_lines=$(bash "$s" start)
  eval "$env_lines"
done

sc="$OUTPUTS_TOOLS/staticcheck-$STATICCHECK_VERSION"
if [ ! -x "$sc" ]; then
  echo "== installing staticcheck $STATICCHECK_VERSION"
  tmp=$(mktemp -d); GOBIN=$tmp go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"; mv "$tmp/staticcheck" "$sc"; rm -rf "$tmp"
fi

bash scripts/chromium.sh   # the browser test of examples/server

echo "== go vet"; go vet ./...
echo "== staticcheck"; "$sc" ./...
echo "== go test -race"
go test -race -count=1 -timeout 30m ./...
