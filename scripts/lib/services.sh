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

# wait_http URL CODE PID [SECONDS [CA]]: wait until URL answers with HTTP status CODE while PID
# lives; an https URL is checked against the certificate authority in the file CA.
wait_http() {
  local url=$1 code=$2 pid=$3 secs=${4:-60} ca=${5:-} i got
  for ((i = 0; i < secs * 10; i++)); do
    got=$(curl -s ${ca:+--cacert "$ca"} -o /dev/null -w '%{http_code}' "$url" || true)
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

# test_tls DIR: make a throwaway certificate authority and a server certificate for 127.0.0.1 and
# localhost signed by it, valid for two days: DIR/ca.pem (what clients trust), DIR/cert.pem and
# DIR/key.pem (what the server presents). The CA's private key is deleted once it has signed, so
# the CA vouches for this one certificate only.
test_tls() {
  local dir=$1
  command -v openssl >/dev/null || { echo "openssl is needed to make the test TLS certificates" >&2; return 1; }
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj "/CN=outputs test CA" -keyout ca.key -out ca.pem \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
      -keyout key.pem -out cert.csr
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >cert.ext
    openssl x509 -req -days 2 -in cert.csr -CA ca.pem -CAkey ca.key -CAcreateserial -extfile cert.ext -out cert.pem
    rm -f ca.key ca.srl cert.csr cert.ext
  ) >/dev/null 2>&1 || { echo "making the test TLS certificates in $dir failed" >&2; return 1; }
}
