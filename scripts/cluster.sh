#!/usr/bin/env bash
# A three-node MariaDB Galera cluster on loopback, with HAProxy in front, beside (never
# instead of) the MariaDB on 3306 (issue 16):
#
#   scripts/cluster.sh up       start it (installs galera-4 and haproxy with apt-get if root)
#   scripts/cluster.sh status   each node's view of the cluster, and HAProxy's
#   scripts/cluster.sh down     stop what this script started (by its pid files) and remove it
#   scripts/cluster.sh kill N   SIGKILL node N (a fault drill); `start N` brings it back (IST/SST)
#   scripts/cluster.sh kill-bot N / start-bot N   the same for bot instance N
#   scripts/cluster.sh load [USERS] [SECONDS]      simulated users paying through the webhook
#   scripts/cluster.sh drill [USERS] [SECONDS]     the fault drill: kill a bot and a node under
#                                                  load, then check (benchmarks/fault_drill.py)
#
# Everything lives in $EBB_CLUSTER_DIR (default /tmp/ebb-cluster), owned by user mysql: node N
# serves SQL on 127.0.0.1:$((EBB_CLUSTER_PORT + N)) (default 4311, 4312, 4313), replicates on
# EBB_CLUSTER_PORT+257+N*10 (default 4567+N*10; IST and SST on the next two ports), and
# HAProxy listens on 127.0.0.1:$EBB_CLUSTER_PORT (4310) for the database (one writer at a
# time, the others as backups: see docs/scaling.md). Nothing here touches the
# server on 3306, its data directory or its configuration.
#
# The bot tier (docs/scaling.md, "Topology"): the fake Bot API server on 127.0.0.1:4330
# ($EBB_FAKE_TELEGRAM_PORT) pushes webhooks to HAProxy on 127.0.0.1:4320 ($EBB_BOT_PORT), which
# hands each update to one of 3 `run_bot.py run --webhook` instances on 4321-4323. Their
# settings (database URLs through HAProxy 4310, the webhook secret) are in $DIR/bots.env.
set -euo pipefail

DIR=${EBB_CLUSTER_DIR:-/tmp/ebb-cluster}
BASE_PORT=${EBB_CLUSTER_PORT:-4310}
NODES=3
GALERA_LIB=/usr/lib/galera/libgalera_smm.so
PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${EBB_PYTHON:-$PROJECT/.venv/bin/python}
BOT_PORT=${EBB_BOT_PORT:-4320}
FAKE_TELEGRAM_PORT=${EBB_FAKE_TELEGRAM_PORT:-4330}
BOTS=${EBB_CLUSTER_BOTS:-3}  # 0: the data tier alone (the Galera tests and benchmark)
WEBHOOK_PATH=/telegram
# affinity: each chat's updates to one instance; roundrobin: in turn (needs the state store)
BOT_BALANCE=${EBB_BOT_BALANCE:-affinity}

say() { echo "==> $*"; }
die() { echo "error: $*" >&2; exit 1; }

port() { echo $((BASE_PORT + $1)); }
# Galera's own ports follow the base port, so two clusters with different bases do not clash
# (the default base 4310 keeps 4567+10N, 4568+10N, 4569+10N).
gcomm_port() { echo $((BASE_PORT + 257 + $1 * 10)); }
ist_port() { echo $((BASE_PORT + 258 + $1 * 10)); }
sst_port() { echo $((BASE_PORT + 259 + $1 * 10)); }
node_dir() { echo "$DIR/node$1"; }
pid_of() { cat "$(node_dir "$1")/mariadbd.pid" 2>/dev/null || true; }
alive() { local pid; pid=$(pid_of "$1"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

sql() {  # sql N "statement": run as root over the node's own socket
    mariadb --socket="$(node_dir "$1")/mariadbd.sock" -uroot -N -B -e "$2"
}

as_mysql() {
    if [ "$(id -un)" = mysql ]; then "$@"; else runuser -u mysql -- "$@"; fi
}

need_packages() {
    local missing=()
    [ -f "$GALERA_LIB" ] || missing+=(galera-4)
    command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
    command -v rsync >/dev/null 2>&1 || missing+=(rsync)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "install ${missing[*]} first (sudo apt-get install ${missing[*]})"
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
}

write_config() {  # write_config N
    local n=$1 d peers="" i
    d=$(node_dir "$n")
    for i in $(seq 1 $NODES); do peers+="${peers:+,}127.0.0.1:$(gcomm_port "$i")"; done
    cat >"$d/my.cnf" <<EOF
[mariadbd]
datadir=$d/data
socket=$d/mariadbd.sock
# its own: a server starting up deletes every "#sql…" file in its tmpdir, which in /tmp
# would be the temporary tables of queries running on the server on 3306
tmpdir=$d/tmp
pid-file=$d/mariadbd.pid
log-error=$d/error.log
port=$(port "$n")
bind-address=127.0.0.1
skip-name-resolve
max_connections=500
binlog_format=ROW
# the admin account (not SUPER) creates the triggers of the migrations
log_bin_trust_function_creators=1
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_buffer_pool_size=256M
innodb_flush_log_at_trx_commit=2
wsrep_on=ON
wsrep_provider=$GALERA_LIB
wsrep_cluster_name=ebb_cluster
wsrep_cluster_address=gcomm://$peers
wsrep_node_name=node$n
wsrep_node_address=127.0.0.1:$(gcomm_port "$n")
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$(ist_port "$n");gcache.size=128M"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:$(sst_port "$n")
EOF
}

start_node() {  # start_node N [--wsrep-new-cluster]
    local n=$1 d
    shift
    d=$(node_dir "$n")
    if alive "$n"; then say "node$n already runs (pid $(pid_of "$n"))"; return 0; fi
    as_mysql /usr/sbin/mariadbd --defaults-file="$d/my.cnf" "$@" >>"$d/stdout.log" 2>&1 &
    local i
    for i in $(seq 1 120); do
        if [ -S "$d/mariadbd.sock" ] && sql "$n" "SELECT 1" >/dev/null 2>&1 \
            && [ "$(sql "$n" "SHOW STATUS LIKE 'wsrep_ready'" | cut -f2)" = ON ]; then
            say "node$n up on 127.0.0.1:$(port "$n") (pid $(pid_of "$n"))"
            return 0
        fi
        sleep 0.5
    done
    tail -20 "$d/error.log" >&2 || true
    die "node$n did not become ready (log: $d/error.log)"
}

write_haproxy() {
    local i servers=""
    for i in $(seq 1 $NODES); do
        # The first node takes every connection; the others are backups (one writer).
        local role=""
        if [ "$i" -gt 1 ]; then role=" backup"; fi
        servers+="    server node$i 127.0.0.1:$(port "$i") check$role"$'\n'
    done
    cat >"$DIR/haproxy.cfg" <<EOF
global
    maxconn 4000
    pidfile $DIR/haproxy.pid
    stats socket $DIR/haproxy.sock mode 600 level admin
    external-check
    insecure-fork-wanted

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h

listen galera
    bind 127.0.0.1:$BASE_PORT
    # Up only when Synced: a node that is still joining accepts logins before it can serve.
    option external-check
    external-check path "/usr/bin:/bin"
    external-check command $PROJECT/scripts/galera_synced_check.sh
    timeout check 2s
    default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions
$servers
EOF
}

start_haproxy() {
    write_haproxy
    haproxy -D -f "$DIR/haproxy.cfg"
    say "HAProxy on 127.0.0.1:$BASE_PORT (pid $(cat "$DIR/haproxy.pid"))"
}

# ---- the bot tier: the fake Bot API server, bot instances in webhook mode, HAProxy for them

bot_port() { echo $((BOT_PORT + $1)); }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

listens() {  # listens PORT [SECONDS]: wait until something accepts connections on PORT
    local i
    for i in $(seq 1 $((${2:-30} * 5))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    return 1
}

with_bot_env() {  # run a command in the project with the bot's settings (bots.env)
    (set -a; . "$DIR/bots.env"; set +a; cd "$PROJECT" && "$@")
}

write_bot_env() {
    [ -f "$DIR/bots.env" ] && return 0
    local admin customer secret token
    admin=$(openssl rand -hex 16)
    customer=$(openssl rand -hex 16)
    secret=$(openssl rand -hex 24)
    token=$(cd "$PROJECT" && "$PY" -c 'from fake_telegram import DEFAULT_TOKEN; print(DEFAULT_TOKEN)')
    (umask 077; cat >"$DIR/bots.env" <<ENV
BOT_TOKEN=$token
BOT_API_BASE_URL=http://127.0.0.1:$FAKE_TELEGRAM_PORT
DATABASE_ROOT_URL=mysql://root@127.0.0.1:$BASE_PORT
DATABASE_URL=mysql://ebb_admin:$admin@127.0.0.1:$BASE_PORT/electricity_billing
CUSTOMER_DATABASE_URL=mysql://ebb_customer:$customer@127.0.0.1:$BASE_PORT/electricity_billing
DATABASE_MAX_USER_CONNECTIONS=400
WEBHOOK_SECRET=$secret
STATE_STORE=database
ENV
    )
}

start_fake_telegram() {
    if pid_alive "$DIR/fake-telegram.pid"; then return 0; fi
    (cd "$PROJECT" && nohup "$PY" -m benchmarks.webhook_load serve --port "$FAKE_TELEGRAM_PORT" \
        --pid-file "$DIR/fake-telegram.pid" >>"$DIR/fake-telegram.log" 2>&1 &)
    listens "$FAKE_TELEGRAM_PORT" || die "the fake Bot API server did not start ($DIR/fake-telegram.log)"
    say "fake Bot API server on 127.0.0.1:$FAKE_TELEGRAM_PORT (pid $(cat "$DIR/fake-telegram.pid"))"
}

start_bot() {  # start_bot N
    local n=$1 port
    port=$(bot_port "$n")
    if pid_alive "$DIR/bot$n.pid"; then say "bot$n already runs (pid $(cat "$DIR/bot$n.pid"))"; return 0; fi
    (set -a; . "$DIR/bots.env"; set +a; cd "$PROJECT" && PERSISTENCE_FILE="$DIR/bot$n-state.pickle" \
        exec nohup "$PY" run_bot.py run --webhook "http://127.0.0.1:$BOT_PORT$WEBHOOK_PATH" \
        --listen 127.0.0.1 --port "$port" >>"$DIR/bot$n.log" 2>&1) &
    echo $! >"$DIR/bot$n.pid"
    listens "$port" 60 || die "bot$n did not start (log: $DIR/bot$n.log)"
    say "bot$n on 127.0.0.1:$port (pid $(cat "$DIR/bot$n.pid"))"
}

start_bot_tier() {
    write_bot_env
    say "init-db and seed-demo on the cluster (through HAProxy $BASE_PORT)"
    with_bot_env "$PY" run_bot.py init-db >/dev/null
    with_bot_env "$PY" run_bot.py seed-demo >/dev/null
    start_fake_telegram
    local n ports=()
    for n in $(seq 1 $BOTS); do start_bot "$n"; ports+=("$(bot_port "$n")"); done
    (cd "$PROJECT" && "$PY" -m benchmarks.bot_tier haproxy-config --front-port "$BOT_PORT" \
        --instance-ports "${ports[@]}" --state-dir "$DIR" --balance "$BOT_BALANCE") \
        >"$DIR/haproxy-bots.cfg"
    haproxy -D -f "$DIR/haproxy-bots.cfg"
    say "HAProxy for the bots on 127.0.0.1:$BOT_PORT (pid $(cat "$DIR/haproxy-bots.pid"))"
}

status_bot_tier() {
    if pid_alive "$DIR/fake-telegram.pid"; then
        echo "fake Bot API server 127.0.0.1:$FAKE_TELEGRAM_PORT pid $(cat "$DIR/fake-telegram.pid"): $(
            curl -s -X POST "http://127.0.0.1:$FAKE_TELEGRAM_PORT/control/$(with_bot_env \
                printenv BOT_TOKEN)/status")"
    else
        echo "fake Bot API server 127.0.0.1:$FAKE_TELEGRAM_PORT: down"
    fi
    local n
    for n in $(seq 1 $BOTS); do
        if pid_alive "$DIR/bot$n.pid"; then
            echo "bot$n 127.0.0.1:$(bot_port "$n") pid $(cat "$DIR/bot$n.pid")"
        else
            echo "bot$n 127.0.0.1:$(bot_port "$n"): down"
        fi
    done
    if [ -S "$DIR/haproxy-bots.sock" ]; then
        echo "show stat" | socat - "UNIX-CONNECT:$DIR/haproxy-bots.sock" | awk -F, \
            '$1 == "bots" && $2 ~ /^bot/ {print "haproxy (bots) " $2 ": " $18 ", " $8 " requests"}'
    else
        echo "haproxy (bots): down"
    fi
}

stop_pid_file() {  # stop_pid_file FILE: SIGTERM, wait up to 30 s, then SIGKILL
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    fi
    rm -f "$1"
}

stop_bot_tier() {
    stop_pid_file "$DIR/haproxy-bots.pid"
    local n
    for n in $(seq 1 $BOTS); do stop_pid_file "$DIR/bot$n.pid"; done
    stop_pid_file "$DIR/fake-telegram.pid"
}

cmd_kill_bot() {  # a fault drill: SIGKILL one bot instance
    pid_alive "$DIR/bot$1.pid" || die "bot$1 is not running"
    kill -KILL "$(cat "$DIR/bot$1.pid")"
    say "bot$1 (pid $(cat "$DIR/bot$1.pid")) killed"
}

cmd_load() {  # cmd_load USERS SECONDS
    with_bot_env "$PY" -m benchmarks.webhook_load drive --users "$1" --seconds "$2" \
        --server "http://127.0.0.1:$FAKE_TELEGRAM_PORT"
}

cmd_drill() {  # cmd_drill [USERS] [SECONDS] [fault_drill options…]: the fault drill (issue 16)
    local users=${1:-240} seconds=${2:-90}
    shift $(($# < 2 ? $# : 2))
    with_bot_env "$PY" -m benchmarks.fault_drill --users "$users" --seconds "$seconds" \
        --state-dir "$DIR" --base-port "$BASE_PORT" \
        --server "http://127.0.0.1:$FAKE_TELEGRAM_PORT" "$@"
}

cmd_up() {
    need_packages
    if alive 1 || alive 2 || alive 3; then die "a cluster already runs in $DIR (scripts/cluster.sh status)"; fi
    mkdir -p "$DIR"
    chown mysql:mysql "$DIR"
    local n
    for n in $(seq 1 $NODES); do
        as_mysql mkdir -p "$(node_dir "$n")/tmp"
        write_config "$n"
        if [ ! -d "$(node_dir "$n")/data/mysql" ]; then
            as_mysql mariadb-install-db --defaults-file="$(node_dir "$n")/my.cnf" \
                --user=mysql --auth-root-authentication-method=socket >/dev/null
        fi
    done
    say "bootstrapping node1"
    start_node 1 --wsrep-new-cluster
    sql 1 "CREATE USER IF NOT EXISTS 'haproxy_check'@'127.0.0.1';
           CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING '';
           GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
    for n in $(seq 2 $NODES); do start_node "$n"; done
    start_haproxy
    if [ "$BOTS" -gt 0 ]; then start_bot_tier; fi
    cmd_status
}

cmd_status() {
    local n
    for n in $(seq 1 $NODES); do
        if alive "$n"; then
            echo "node$n 127.0.0.1:$(port "$n") pid $(pid_of "$n"): $(sql "$n" \
                "SELECT CONCAT('cluster size ', VARIABLE_VALUE) FROM information_schema.GLOBAL_STATUS
                 WHERE VARIABLE_NAME = 'wsrep_cluster_size'"), $(sql "$n" \
                "SHOW STATUS LIKE 'wsrep_local_state_comment'" | cut -f2)"
        else
            echo "node$n 127.0.0.1:$(port "$n"): down"
        fi
    done
    if [ -S "$DIR/haproxy.sock" ]; then
        echo "show stat" | socat - "UNIX-CONNECT:$DIR/haproxy.sock" \
            | awk -F, '$1 == "galera" && $2 != "FRONTEND" && $2 != "BACKEND" {print "haproxy " $2 ": " $18}'
    else
        echo "haproxy: down"
    fi
    if [ "$BOTS" -gt 0 ]; then status_bot_tier; fi
}

cmd_kill() {  # a fault drill: SIGKILL one node
    local pid
    pid=$(pid_of "$1")
    [ -n "$pid" ] || die "node$1 is not running"
    kill -KILL "$pid"
    say "node$1 (pid $pid) killed"
}

cmd_down() {
    stop_bot_tier
    if [ -f "$DIR/haproxy.pid" ]; then kill "$(cat "$DIR/haproxy.pid")" 2>/dev/null || true; fi
    local n pid
    for n in $(seq 1 $NODES); do
        pid=$(pid_of "$n")
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        fi
    done
    case "$DIR" in /tmp/*|*/ebb-cluster*) rm -rf "$DIR" ;; *) say "left $DIR in place" ;; esac
    say "cluster down"
}

case "${1:-}" in
    up) cmd_up ;;
    status) cmd_status ;;
    down) cmd_down ;;
    kill) cmd_kill "${2:?node number}" ;;
    start) write_config "${2:?node number}"; start_node "$2" ;;
    kill-bot) cmd_kill_bot "${2:?bot number}" ;;
    start-bot) start_bot "${2:?bot number}" ;;
    load) cmd_load "${2:-200}" "${3:-30}" ;;
    drill) shift; cmd_drill "$@" ;;
    *) echo "usage: $0 up|status|down|kill N|start N|kill-bot N|start-bot N|load [USERS] [SECONDS]|drill [USERS] [SECONDS]" >&2
       exit 2 ;;
esac
