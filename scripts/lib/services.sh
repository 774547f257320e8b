# Helpers sourced by scripts/services.d/*.sh (not a service itself).

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "no free port found" >&2; return 1
}

# wait_http URL CODE PID [SECONDS]: wait until URL answers with HTTP status CODE while PID lives.
wait_http() {
  local url=$1 code=$2 pid=$3 secs=${4:-60} i got
  for ((i = 0; i < secs * 10; i++)); do
    got=$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)
    [ "$got" = "$code" ] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "server exited before it was ready" >&2; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for $url" >&2; return 1
}

# stop_pidfile FILE: stop the process whose id FILE holds, if it runs.
stop_pidfile() {
  local f=$1 pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# go_tool NAME MODULE@VERSION: print the path of a `go install`ed tool cached in $OUTPUTS_TOOLS
# as NAME-VERSION, installing it first when missing.
go_tool() {
  local name=$1 mod=$2 ver=${2##*@} bin tmp
  bin="$OUTPUTS_TOOLS/$name-$ver"
  if [ ! -x "$bin" ]; then
    echo "installing $mod" >&2
    tmp=$(mktemp -d)
    GOBIN=$tmp GOFLAGS=-buildvcs=false go install -trimpath -ldflags '-s -w' "$mod" >&2
    mv "$tmp/$(basename "${mod%@*}")" "$bin"; rm -rf "$tmp"
  fi
  echo "$bin"
}
