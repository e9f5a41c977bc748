# Throwaway PostgreSQL and Redis servers on loopback for tests and benchmarks.
# Source this file, call `start_test_servers`, and it exports
# DREAM_TEST_DATABASE_URL and DREAM_TEST_REDIS_URL and stops both on exit.
# It also starts a TLS-only PostgreSQL and a TLS-only Redis with a throwaway CA:
# DREAM_TEST_DATABASE_TLS_URL (sslmode=require), DREAM_TEST_REDIS_TLS_URL
# (rediss://) and DREAM_TEST_TLS_CA (the CA's PEM file; the server certificate
# names 127.0.0.1 and localhost).

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
  # The TLS test servers get a throwaway CA and certificate from openssl.
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
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
  local data dir pid
  for data in "${DREAM_PG_DIR:-}/data" "${DREAM_PG_DIR:-}/tls-data"; do
    if [ -n "${DREAM_PG_DIR:-}" ] && [ -f "$data/postmaster.pid" ]; then
      $DREAM_PG_AS "$(pg_bin_dir)/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1
    fi
  done
  for dir in "${DREAM_REDIS_DIR:-}" "${DREAM_REDIS_DIR:-}/tls"; do
    if [ -n "${DREAM_REDIS_DIR:-}" ] && [ -f "$dir/redis.pid" ]; then
      pid=$(cat "$dir/redis.pid")
      kill "$pid" 2>/dev/null
      # Redis writes its log while shutting down: wait for it before removing the dir.
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
  done
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
  # The TLS server's cluster, copied before first start (faster than a second initdb).
  cp -a "$DREAM_PG_DIR/data" "$DREAM_PG_DIR/tls-data"
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
  start_tls_test_servers
}

# A throwaway CA and a server certificate for 127.0.0.1 and localhost (P-256),
# valid two days, into $1.
make_test_certificates() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=dream test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
    "keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
  chmod 600 "$dir/server.key" "$dir/ca.key"
}

# PostgreSQL and Redis that accept TLS connections only, so a test that gets an
# answer knows TLS was negotiated. Called by start_test_servers.
start_tls_test_servers() {
  local tls="$DREAM_PG_DIR/tls" bin pg_port redis_port
  bin=$(pg_bin_dir)
  make_test_certificates "$tls"
  # PostgreSQL wants its key owned by the server's user, readable by it alone.
  if [ -n "$DREAM_PG_AS" ]; then
    chown -R postgres "$tls" "$DREAM_PG_DIR/tls-data"
  fi
  printf '%s\n' "local all all trust" "hostssl all all 127.0.0.1/32 trust" \
    >"$DREAM_PG_DIR/tls-data/pg_hba.conf"
  pg_port=$(free_port)
  $DREAM_PG_AS "$bin/pg_ctl" -D "$DREAM_PG_DIR/tls-data" -w -l "$DREAM_PG_DIR/tls-log" \
    -o "-p $pg_port -k $DREAM_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on -c ssl_cert_file=$tls/server.pem -c ssl_key_file=$tls/server.key" \
    start >/dev/null
  export DREAM_TEST_DATABASE_TLS_URL="postgres://dream@127.0.0.1:$pg_port/postgres?sslmode=require"
  export DREAM_TEST_TLS_CA="$tls/ca.pem"

  redis_port=$(free_port)
  mkdir -p "$DREAM_REDIS_DIR/tls"
  redis-server --port 0 --tls-port "$redis_port" --bind 127.0.0.1 \
    --tls-cert-file "$tls/server.pem" --tls-key-file "$tls/server.key" \
    --tls-ca-cert-file "$tls/ca.pem" --tls-auth-clients no \
    --save '' --appendonly no --daemonize yes --dir "$DREAM_REDIS_DIR/tls" \
    --pidfile "$DREAM_REDIS_DIR/tls/redis.pid" --logfile "$DREAM_REDIS_DIR/tls/log" >/dev/null
  for _ in $(seq 1 50); do
    [ -f "$DREAM_REDIS_DIR/tls/redis.pid" ] && break
    sleep 0.1
  done
  export DREAM_TEST_REDIS_TLS_URL="rediss://127.0.0.1:$redis_port"
  echo "TLS test servers: $DREAM_TEST_DATABASE_TLS_URL $DREAM_TEST_REDIS_TLS_URL (CA $DREAM_TEST_TLS_CA)" >&2
}
