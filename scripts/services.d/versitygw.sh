#!/usr/bin/env bash
# versitygw (S3 gateway, posix backend) on 127.0.0.1 for the S3-compatible provider tests.
# It checks SigV4 signatures and CRC32 checksums, like real S3. A second instance (same keys,
# its own data) serves https with a throwaway test CA, for benchmarks of the production path:
# over TLS the SDK signs UNSIGNED-PAYLOAD instead of hashing every byte.
set -euo pipefail
. "$(dirname "$0")/../lib/services.sh"
VERSION=v1.8.0
state="$OUTPUTS_STATE/versitygw"
case "${1:-}" in
start)
  bin=$(go_tool versitygw "github.com/versity/versitygw/cmd/versitygw@$VERSION")
  stop_pidfile "$state/pid"; rm -rf "$state"; mkdir -p "$state/data"
  port=$(free_port)
  access=outputs-test-access secret="outputs-test-secret-$RANDOM$RANDOM"
  ROOT_ACCESS_KEY=$access ROOT_SECRET_KEY=$secret \
    nohup "$bin" --port "127.0.0.1:$port" --health /health --quiet posix "$state/data" >"$state/log" 2>&1 </dev/null &
  echo $! >"$state/pid"
  wait_http "http://127.0.0.1:$port/health" 200 "$(cat "$state/pid")" || { cat "$state/log" >&2; exit 1; }
  stop_pidfile "$state/tls.pid"; mkdir -p "$state/tls-data"; test_tls "$state/tls"
  tls_port=$(free_port)
  # The https instance is production's path (the benchmarks'): keep connections alive as S3
  # does; versitygw closes each one after its answer by default, a TLS handshake per request.
  ROOT_ACCESS_KEY=$access ROOT_SECRET_KEY=$secret \
    nohup "$bin" --port "127.0.0.1:$tls_port" --cert "$state/tls/cert.pem" --key "$state/tls/key.pem" \
    --keep-alive --health /health --quiet posix "$state/tls-data" >"$state/tls.log" 2>&1 </dev/null &
  echo $! >"$state/tls.pid"
  wait_http "https://127.0.0.1:$tls_port/health" 200 "$(cat "$state/tls.pid")" 60 "$state/tls/ca.pem" || { cat "$state/tls.log" >&2; exit 1; }
  echo "export OUTPUTS_TEST_S3_ENDPOINT=http://127.0.0.1:$port"
  echo "export OUTPUTS_TEST_S3_TLS_ENDPOINT=https://127.0.0.1:$tls_port"
  echo "export OUTPUTS_TEST_S3_TLS_CA=$state/tls/ca.pem"
  echo "export OUTPUTS_TEST_S3_ACCESS_KEY=$access"
  echo "export OUTPUTS_TEST_S3_SECRET_KEY=$secret"
  echo "export OUTPUTS_TEST_S3_REGION=us-east-1"
  echo "export OUTPUTS_TEST_VERSITYGW_BIN=$bin"
  ;;
stop) stop_pidfile "$state/tls.pid"; stop_pidfile "$state/pid"; rm -rf "$state" ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
