#!/usr/bin/env bash
# PostgreSQL for destination/sqlstore's tests (see README.md here for the start/stop contract).
#
# start: installs PostgreSQL from Debian packages when no server binaries are found, creates a
#   throwaway cluster (password auth over TCP, fsync off), starts it on 127.0.0.1 on a free port,
#   creates the database outputs_test and prints `export OUTPUTS_TEST_POSTGRES_DSN=...`.
#   PostgreSQL refuses to run as root: as root the server runs as the postgres system user.
# stop: stops the server and removes its data.
set -euo pipefail
: "${OUTPUTS_STATE:?OUTPUTS_STATE must be set (scripts/test.sh sets it)}"
state=$OUTPUTS_STATE/postgres
log() { echo "postgres: $*" >&2; }

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/postgres" ]; then echo "$d"; return; fi
  if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/postgres" ]; then pg_config --bindir; fi
}

# as_pg runs a command as the user that owns the cluster.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_postgres() {
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL server binaries not found and not root: install the postgresql package"; exit 1
  fi
  log "installing PostgreSQL from Debian packages"
  # Skip the distribution's default cluster: the tests bring their own.
  mkdir -p /etc/postgresql-common
  [ -e /etc/postgresql-common/createcluster.conf ] || echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq -o Dpkg::Options::=--force-confold postgresql >&2
}

free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  log "no free port found"; exit 1
}

print_env() {
  echo "export OUTPUTS_TEST_POSTGRES_DSN='postgres://outputs:$(cat "$state/password")@127.0.0.1:$(cat "$state/port")/outputs_test?sslmode=disable'"
}

start() {
  local bin data port pw
  if [ -f "$state/datadir" ] && [ -n "$(pg_bindir)" ] && as_pg "$(pg_bindir)/pg_ctl" -D "$(cat "$state/datadir")/pgdata" status >/dev/null 2>&1; then
    log "already running on port $(cat "$state/port")"; print_env; return
  fi
  stop >/dev/null 2>&1 || true
  bin=$(pg_bindir)
  if [ -z "$bin" ]; then install_postgres; bin=$(pg_bindir); fi
  [ -n "$bin" ] || { log "PostgreSQL binaries not found after install"; exit 1; }
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
  fi
  mkdir -p "$state"
  # The data directory lives in $OUTPUTS_STATE unless the server's user cannot reach it there
  # (a checkout under /root, say) or the path is too long for the server's Unix socket; then in
  # a private directory under /tmp.
  data=$state/data
  mkdir -p "$data"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$data"; fi
  if ! as_pg test -w "$data" 2>/dev/null || [ ${#data} -gt 80 ]; then
    rmdir "$data"
    data=$(mktemp -d /tmp/outputs-postgres.XXXXXX)
    if [ "$(id -u)" = 0 ]; then chown postgres: "$data"; fi
  fi
  chmod 700 "$data"
  echo "$data" >"$state/datadir"
  pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  echo "$pw" >"$state/password"
  chmod 600 "$state/password"
  local pwfile=$data/pwfile
  (umask 077; printf '%s\n' "$pw" | as_pg tee "$pwfile" >/dev/null)
  log "initdb in $data"
  as_pg "$bin/initdb" -D "$data/pgdata" -U outputs --pwfile="$pwfile" -E UTF8 --locale=C \
    --auth-host=scram-sha-256 --auth-local=trust --no-sync >/dev/null
  as_pg rm -f "$pwfile"
  for attempt in 1 2 3; do
    port=$(free_port)
    if as_pg "$bin/pg_ctl" -D "$data/pgdata" -l "$data/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
      start >/dev/null; then
      break
    fi
    port=""
    log "start on port failed (attempt $attempt): $(tail -n 3 "$data/server.log" 2>/dev/null)"
  done
  [ -n "$port" ] || { log "could not start"; exit 1; }
  echo "$port" >"$state/port"
  as_pg "$bin/createdb" -h "$data" -p "$port" -U outputs outputs_test
  log "ready on 127.0.0.1:$port"
  print_env
}

stop() {
  [ -f "$state/datadir" ] || { rm -rf "$state"; return 0; }
  local data bin
  data=$(cat "$state/datadir")
  bin=$(pg_bindir)
  if [ -n "$bin" ] && [ -d "$data/pgdata" ]; then
    as_pg "$bin/pg_ctl" -D "$data/pgdata" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$data" "$state"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
