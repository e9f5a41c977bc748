# Throwaway PostgreSQL and Redis servers on loopback for tests and benchmarks.
# Source this file, call `start_test_servers`, and it exports
# DREAM_TEST_DATABASE_URL and DREAM_TEST_REDIS_URL and stops both on exit.

pg_bin_dir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" && return 0
  return 1
}

ensure_server_binaries() {
  local missing=()
  pg_bin_dir >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The packages start system services we do not use.
    service postgresql stop >/dev/null 2>&1 || true
    service redis-server stop >/dev/null 2>&1 || true
  else
    echo "missing ${missing[*]}: install them (Debian: sudo apt-get install ${missing[*]})" >&2
    return 1
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Runs as the EXIT trap: it must never fail, or it would turn a green run red.
stop_test_servers() {
  set +e
  if [ -n "${DREAM_PG_DIR:-}" ] && [ -f "$DREAM_PG_DIR/data/postmaster.pid" ]; then
    $DREAM_PG_AS "$(pg_bin_dir)/pg_ctl" -D "$DREAM_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
  fi
  if [ -n "${DREAM_REDIS_DIR:-}" ] && [ -f "$DREAM_REDIS_DIR/redis.pid" ]; then
    local pid
    pid=$(cat "$DREAM_REDIS_DIR/redis.pid")
    kill "$pid" 2>/dev/null
    # Redis writes its log while shutting down: wait for it before removing the dir.
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  if [ -n "${DREAM_SERVERS_TMP:-}" ]; then
    rm -rf "$DREAM_SERVERS_TMP" 2>/dev/null || rm -rf "$DREAM_SERVERS_TMP" 2>/dev/null
  fi
  return 0
}

start_test_servers() {
  ensure_server_binaries
  DREAM_SERVERS_TMP=$(mktemp -d /tmp/dream-test-servers.XXXXXX)
  DREAM_PG_DIR="$DREAM_SERVERS_TMP/pg"
  DREAM_REDIS_DIR="$DREAM_SERVERS_TMP/redis"
  mkdir -p "$DREAM_PG_DIR" "$DREAM_REDIS_DIR"
  trap stop_test_servers EXIT

  # PostgreSQL refuses to run as root: use the postgres system user then.
  DREAM_PG_AS=""
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$DREAM_PG_DIR"
    chmod 755 "$DREAM_SERVERS_TMP"
    DREAM_PG_AS="runuser -u postgres --"
  fi
  local bin pg_port redis_port
  bin=$(pg_bin_dir)
  pg_port=$(free_port)
  $DREAM_PG_AS "$bin/initdb" -D "$DREAM_PG_DIR/data" -U dream --auth=trust -E UTF8 >/dev/null
  # A throwaway server: no fsync, room for several server processes' pools.
  $DREAM_PG_AS "$bin/pg_ctl" -D "$DREAM_PG_DIR/data" -w -l "$DREAM_PG_DIR/log" \
    -o "-p $pg_port -k $DREAM_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null
  export DREAM_TEST_DATABASE_URL="postgres://dream@127.0.0.1:$pg_port/postgres"

  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --dir "$DREAM_REDIS_DIR" --pidfile "$DREAM_REDIS_DIR/redis.pid" \
    --logfile "$DREAM_REDIS_DIR/log" >/dev/null
  for _ in $(seq 1 50); do
    [ -f "$DREAM_REDIS_DIR/redis.pid" ] && break
    sleep 0.1
  done
  export DREAM_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
  echo "test servers: $DREAM_TEST_DATABASE_URL $DREAM_TEST_REDIS_URL" >&2
}
