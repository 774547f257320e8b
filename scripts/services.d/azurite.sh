#!/usr/bin/env bash
# Azurite (Azure Blob service only, in memory) on 127.0.0.1 for the Azure provider tests. A second
# instance serves https with a throwaway test CA (benchmarks of the production path).
set -euo pipefail
. "$(dirname "$0")/../lib/services.sh"
VERSION=3.37.0
state="$OUTPUTS_STATE/azurite"
case "${1:-}" in
start)
  prefix="$OUTPUTS_TOOLS/azurite-$VERSION"
  main="$prefix/node_modules/azurite/dist/src/blob/main.js"
  if [ ! -f "$main" ]; then
    echo "installing azurite@$VERSION" >&2
    npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error "azurite@$VERSION" >&2
  fi
  stop_pidfile "$state/tls.pid"; stop_pidfile "$state/pid"; rm -rf "$state"; mkdir -p "$state"
  test_tls "$state/tls"
  port=$(free_port)
  tls_port=$(free_port); while [ "$tls_port" = "$port" ]; do tls_port=$(free_port); done
  # In memory and without --location, Azurite writes nothing to its working directory. Its
  # output goes to the log: the test command reads this script's stdout until it closes.
  # Both instances start at once (Azurite is slow to start), then both are waited for.
  nohup node "$main" --blobHost 127.0.0.1 --blobPort "$port" --inMemoryPersistence \
    --loose --skipApiVersionCheck --disableTelemetry --silent >"$state/log" 2>&1 </dev/null &
  echo $! >"$state/pid"
  nohup node "$main" --blobHost 127.0.0.1 --blobPort "$tls_port" --inMemoryPersistence \
    --cert "$state/tls/cert.pem" --key "$state/tls/key.pem" \
    --loose --skipApiVersionCheck --disableTelemetry --silent >"$state/tls.log" 2>&1 </dev/null &
  echo $! >"$state/tls.pid"
  # Ready once it answers; an unauthenticated list is refused with 403.
  wait_http "http://127.0.0.1:$port/devstoreaccount1?comp=list" 403 "$(cat "$state/pid")" 120 || { cat "$state/log" >&2; exit 1; }
  wait_http "https://127.0.0.1:$tls_port/devstoreaccount1?comp=list" 403 "$(cat "$state/tls.pid")" 120 "$state/tls/ca.pem" || { cat "$state/tls.log" >&2; exit 1; }
  echo "export OUTPUTS_TEST_AZURE_ENDPOINT=http://127.0.0.1:$port"
  echo "export OUTPUTS_TEST_AZURE_TLS_ENDPOINT=https://127.0.0.1:$tls_port"
  echo "export OUTPUTS_TEST_AZURE_TLS_CA=$state/tls/ca.pem"
  echo "export OUTPUTS_TEST_AZURE_ACCOUNT=devstoreaccount1"
  # Azurite's well-known development key (public, documented by Microsoft).
  echo "export OUTPUTS_TEST_AZURE_KEY=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
  ;;
stop) stop_pidfile "$state/tls.pid"; stop_pidfile "$state/pid"; rm -rf "$state" ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
