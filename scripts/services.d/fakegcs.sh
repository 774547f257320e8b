#!/usr/bin/env bash
# fake-gcs-server (GCS JSON API, in memory) on 127.0.0.1 for the GCS provider tests. Built with
# go install so the library's go.mod does not inherit it. A second instance serves https with a
# throwaway test CA (benchmarks of the production path).
set -euo pipefail
. "$(dirname "$0")/../lib/services.sh"
VERSION=v1.56.1
state="$OUTPUTS_STATE/fakegcs"
case "${1:-}" in
start)
  bin=$(go_tool fake-gcs-server "github.com/fsouza/fake-gcs-server@$VERSION")
  stop_pidfile "$state/pid"; rm -rf "$state"; mkdir -p "$state"
  port=$(free_port)
  # -public-host: reads go to http://<host>/<bucket>/<object>; without it every read is NotFound.
  nohup "$bin" -scheme http -host 127.0.0.1 -port "$port" -backend memory \
    -public-host "127.0.0.1:$port" -external-url "http://127.0.0.1:$port" -log-level warn >"$state/log" 2>&1 </dev/null &
  echo $! >"$state/pid"
  wait_http "http://127.0.0.1:$port/storage/v1/b" 200 "$(cat "$state/pid")" || { cat "$state/log" >&2; exit 1; }
  stop_pidfile "$state/tls.pid"; test_tls "$state/tls"
  tls_port=$(free_port)
  nohup "$bin" -scheme https -host 127.0.0.1 -port "$tls_port" -backend memory \
    -cert-location "$state/tls/cert.pem" -private-key-location "$state/tls/key.pem" \
    -public-host "127.0.0.1:$tls_port" -external-url "https://127.0.0.1:$tls_port" -log-level warn >"$state/tls.log" 2>&1 </dev/null &
  echo $! >"$state/tls.pid"
  wait_http "https://127.0.0.1:$tls_port/storage/v1/b" 200 "$(cat "$state/tls.pid")" 60 "$state/tls/ca.pem" || { cat "$state/tls.log" >&2; exit 1; }
  echo "export OUTPUTS_TEST_GCS_ENDPOINT=http://127.0.0.1:$port"
  echo "export OUTPUTS_TEST_GCS_TLS_ENDPOINT=https://127.0.0.1:$tls_port"
  echo "export OUTPUTS_TEST_GCS_TLS_CA=$state/tls/ca.pem"
  ;;
stop) stop_pidfile "$state/tls.pid"; stop_pidfile "$state/pid"; rm -rf "$state" ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
