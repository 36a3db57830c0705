# Starts a private 3-master, 3-replica Redis Cluster on free loopback ports (each port + 10000,
# the cluster bus, free too) and exports REDIS_CLUSTER_URLS. Source it, then call
# start_redis_cluster / stop_redis_cluster. Tests do not need it: they start their own cluster
# (testing/redis_cluster.ts); this is for running the tutorial or a bench by hand.

REDIS_CLUSTER_DIR=""
REDIS_CLUSTER_PORTS=""

_cluster_port_free() {
  node -e 'const p=+process.argv[1];const s=require("net").createServer();s.once("error",()=>process.exit(1));s.listen(p,"127.0.0.1",()=>s.close(()=>process.exit(0)))' "$1"
}

start_redis_cluster() {
  REDIS_CLUSTER_DIR="$(mktemp -d)"
  REDIS_CLUSTER_PORTS=""
  local count=0 port
  while [ "$count" -lt 6 ]; do
    port=$((20000 + RANDOM % 25000))
    if _cluster_port_free "$port" && _cluster_port_free $((port + 10000)); then
      mkdir -p "$REDIS_CLUSTER_DIR/$port"
      redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "$REDIS_CLUSTER_DIR/$port/nodes.conf" --cluster-node-timeout 1000 \
        --dir "$REDIS_CLUSTER_DIR/$port" --save "" --appendonly no --daemonize yes \
        --pidfile "$REDIS_CLUSTER_DIR/$port/redis.pid" --logfile "$REDIS_CLUSTER_DIR/$port/redis.log"
      REDIS_CLUSTER_PORTS="$REDIS_CLUSTER_PORTS $port"
      count=$((count + 1))
    fi
  done
  for port in $REDIS_CLUSTER_PORTS; do
    for _ in $(seq 1 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  done
  # shellcheck disable=SC2086
  redis-cli --cluster create $(for p in $REDIS_CLUSTER_PORTS; do printf '127.0.0.1:%s ' "$p"; done) \
    --cluster-replicas 1 --cluster-yes >/dev/null || { echo "redis-cli --cluster create failed"; return 1; }
  for _ in $(seq 1 300); do
    local ok=1
    for port in $REDIS_CLUSTER_PORTS; do
      redis-cli -p "$port" cluster info | grep -q "cluster_state:ok" || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  REDIS_CLUSTER_URLS="$(for p in $REDIS_CLUSTER_PORTS; do printf 'redis://127.0.0.1:%s,' "$p"; done)"
  export REDIS_CLUSTER_URLS="${REDIS_CLUSTER_URLS%,}"
}

stop_redis_cluster() {
  local port pid
  for port in $REDIS_CLUSTER_PORTS; do
    pid="$(cat "$REDIS_CLUSTER_DIR/$port/redis.pid" 2>/dev/null)"
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
  done
  sleep 0.3
  [ -n "$REDIS_CLUSTER_DIR" ] && rm -rf "$REDIS_CLUSTER_DIR"
  unset REDIS_CLUSTER_URLS
}
