# Starts a private redis-server on a free loopback port and exports REDIS_URL.
# Installs Debian's redis-server when it is missing. Source it, then call start_redis / stop_redis.

REDIS_PID=""
REDIS_DIR=""

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

start_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "== installing redis-server"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  local port
  port="$(free_port)"
  REDIS_DIR="$(mktemp -d)"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$REDIS_DIR" \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  for _ in $(seq 1 100); do
    if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then break; fi
    sleep 0.1
  done
  redis-cli -p "$port" ping | grep -q PONG || { echo "redis-server did not start"; cat "$REDIS_DIR/redis.log"; return 1; }
  REDIS_PID="$(cat "$REDIS_DIR/redis.pid")"
  export REDIS_URL="redis://127.0.0.1:$port"
}

stop_redis() {
  if [ -n "$REDIS_PID" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    # Wait for it to exit (it may still be writing into its directory), at most 5 s.
    for _ in $(seq 1 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -n "$REDIS_DIR" ]; then rm -rf "$REDIS_DIR" 2>/dev/null || true; fi
}
