#!/usr/bin/env bash
# versitygw (S3 gateway, posix backend) on 127.0.0.1 for the S3-compatible provider tests.
# It checks SigV4 signatures and CRC32 checksums, like real S3.
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
  echo "export OUTPUTS_TEST_S3_ENDPOINT=http://127.0.0.1:$port"
  echo "export OUTPUTS_TEST_S3_ACCESS_KEY=$access"
  echo "export OUTPUTS_TEST_S3_SECRET_KEY=$secret"
  echo "export OUTPUTS_TEST_S3_REGION=us-east-1"
  ;;
stop) stop_pidfile "$state/pid"; rm -rf "$state" ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
