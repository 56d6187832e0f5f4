#!/usr/bin/env bash
# Start, stop and inspect the real backing services of Log Insight's production mode:
#
#   * Kafka 4.1.1, KRaft single node (broker + controller), PLAINTEXT on 127.0.0.1:$KAFKA_PORT,
#     controller on 127.0.0.1:$KAFKA_CONTROLLER_PORT; jars fetched once with Maven.
#   * PostgreSQL from Debian's `postgresql` package (installed with apt when missing), cluster
#     <version>/main on 127.0.0.1:$POSTGRES_PORT, role and database `loginsight`.
#
# Usage: scripts/services.sh [up|down|status]        (default: up)
#
#   up      start whatever is not running and wait until it answers; idempotent and fast when
#           everything already runs. Exits non-zero (with the service's log tail) on failure.
#   down    stop Kafka and the Postgres cluster.
#   status  one line per service; exit code 0 when both answer, 3 otherwise.
#
# Kafka's jar cache, data, logs and pid file live in .services/kafka/ at the repository root.
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), POSTGRES_PORT (5432),
# KAFKA_READY_TIMEOUT_S (90), POSTGRES_READY_TIMEOUT_S (30).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES_DIR="$ROOT/.services"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_READY_TIMEOUT_S="${KAFKA_READY_TIMEOUT_S:-90}"
KAFKA_POM="$ROOT/services/kafka/pom.xml"
KAFKA_LOG4J="$ROOT/services/kafka/log4j2.yaml"
KAFKA_DIR="$SERVICES_DIR/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_LOGS="$KAFKA_DIR/logs"
KAFKA_CONF="$KAFKA_DIR/server.properties"
KAFKA_PID_FILE="$KAFKA_DIR/kafka.pid"
KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"

POSTGRES_PORT="${POSTGRES_PORT:-5432}"
POSTGRES_READY_TIMEOUT_S="${POSTGRES_READY_TIMEOUT_S:-30}"
PG_CLUSTER="main"
PG_APP_NAME="loginsight" # role, password and database

PYTHON="$ROOT/.venv/bin/python"

log() { printf '%s\n' "$*"; }
err() { printf 'services.sh: %s\n' "$*" >&2; }
die() {
    err "$*"
    exit 1
}

# ---------------------------------------------------------------------------------------------
# helpers

# Run a command with the lock descriptor closed, so daemons it leaves behind never hold the lock.
unlocked() { "$@" 9>&-; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "cannot install $* (no apt-get); install it by hand"
    log "installing $* with apt-get ..."
    if [ "$APT_UPDATED" -eq 0 ]; then
        unlocked as_root apt-get update -qq
        APT_UPDATED=1
    fi
    unlocked as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# True when something accepts TCP connections on 127.0.0.1:$1.
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when pid $1 exists and is not a zombie.
pid_alive() {
    local state
    [ -r "/proc/$1/stat" ] || return 1
    state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != "Z" ] && [ "$state" != "X" ]
}

# ---------------------------------------------------------------------------------------------
# Kafka

# The pid of the broker this script started, or nothing.
kafka_pid() {
    local pid
    [ -f "$KAFKA_PID_FILE" ] || return 0
    pid="$(cat "$KAFKA_PID_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    pid_alive "$pid" || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $KAFKA_CONF" || return 0
    printf '%s\n' "$pid"
}

# Wait until the broker answers a metadata request. $1: timeout in seconds, $2: pid to watch
# (0: none). Returns 0 when ready, 1 on timeout, 2 when the watched process died.
kafka_wait_ready() {
    local timeout="$1" watch_pid="${2:-0}"
    if [ -x "$PYTHON" ] && "$PYTHON" -c "import confluent_kafka" 2>/dev/null; then
        "$PYTHON" - "$KAFKA_BOOTSTRAP" "$timeout" "$watch_pid" <<'PY'
import logging, os, sys, time
from confluent_kafka.admin import AdminClient

bootstrap, timeout, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
quiet = logging.getLogger("services.sh.kafka")
quiet.addHandler(logging.NullHandler())
quiet.propagate = False
admin = AdminClient({
    "bootstrap.servers": bootstrap,
    "reconnect.backoff.ms": 100,
    "reconnect.backoff.max.ms": 500,
    "logger": quiet,  # no "Connection refused" noise while the broker starts
})

def alive() -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False

deadline = time.monotonic() + timeout
while True:
    if pid > 0 and not alive():
        sys.exit(2)
    left = deadline - time.monotonic()
    try:
        if admin.list_topics(timeout=max(0.5, min(5.0, left))).brokers:
            sys.exit(0)
    except Exception:
        pass
    if time.monotonic() >= deadline:
        sys.exit(1)
    time.sleep(0.25)
PY
        return $?
    fi
    # No project venv: settle for the listener accepting connections.
    local deadline=$((SECONDS + ${timeout%.*}))
    while :; do
        if [ "$watch_pid" -gt 0 ] && ! pid_alive "$watch_pid"; then return 2; fi
        if tcp_open "$KAFKA_PORT"; then return 0; fi
        if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
        sleep 0.5
    done
}

kafka_ensure_java() {
    command -v java >/dev/null 2>&1 || apt_install default-jre-headless
}

# Fetch the broker jars with Maven when the cache is missing or the pom changed.
kafka_ensure_libs() {
    local stamp want tmp
    stamp="$KAFKA_LIBS/.pom.sha256"
    want="$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || apt_install maven
    log "kafka: fetching broker jars with Maven into ${KAFKA_LIBS#"$ROOT"/} ..."
    tmp="$KAFKA_DIR/libs.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$KAFKA_LOGS"
    if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" >"$KAFKA_LOGS/mvn.log" 2>&1; then
        tail -n 40 "$KAFKA_LOGS/mvn.log" >&2 || true
        rm -rf "$tmp"
        die "kafka: mvn dependency:copy-dependencies failed (full log: $KAFKA_LOGS/mvn.log)"
    fi
    printf '%s\n' "$want" >"$tmp/.pom.sha256"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
}

kafka_write_config() {
    local tmp="$KAFKA_CONF.tmp.$$"
    cat >"$tmp" <<EOF
# Generated by scripts/services.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA

num.partitions=3
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

log.retention.hours=168
log.segment.bytes=268435456
EOF
    mv "$tmp" "$KAFKA_CONF"
}

KAFKA_JAVA_OPTS=(
    -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_LOGS"
    -cp "$KAFKA_LIBS/*"
)

kafka_java() { java "${KAFKA_JAVA_OPTS[@]}" "$@"; }

# Format the KRaft metadata directory once.
kafka_ensure_formatted() {
    local cluster_id
    [ -f "$KAFKA_DATA/meta.properties" ] && return 0
    mkdir -p "$KAFKA_DATA"
    if [ -s "$KAFKA_DIR/cluster.id" ]; then
        cluster_id="$(cat "$KAFKA_DIR/cluster.id")"
    else
        cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid | tail -n 1)"
        [ -n "$cluster_id" ] || die "kafka: StorageTool random-uuid printed nothing"
        printf '%s\n' "$cluster_id" >"$KAFKA_DIR/cluster.id"
    fi
    log "kafka: formatting ${KAFKA_DATA#"$ROOT"/} (cluster id $cluster_id)"
    if ! kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_CONF" \
        --ignore-formatted >"$KAFKA_LOGS/format.log" 2>&1; then
        cat "$KAFKA_LOGS/format.log" >&2 || true
        die "kafka: formatting the storage failed"
    fi
}

KAFKA_LOG_MARK=0 # lines server.log had before this start; errors of older runs are not shown

kafka_fail() {
    local f="$KAFKA_LOGS/server.log"
    err "$1"
    if [ -s "$f" ]; then
        if tail -n "+$((KAFKA_LOG_MARK + 1))" "$f" | grep -qE '\] (ERROR|FATAL) '; then
            err "---- errors in $f ----"
            tail -n "+$((KAFKA_LOG_MARK + 1))" "$f" | grep -E -A3 '\] (ERROR|FATAL) ' |
                cut -c1-400 | head -n 40 >&2 || true
        fi
        err "---- last lines of $f ----"
        tail -n 20 "$f" | cut -c1-400 >&2 || true
    fi
    if [ -s "$KAFKA_LOGS/stdout.log" ]; then
        err "---- last lines of $KAFKA_LOGS/stdout.log ----"
        tail -n 20 "$KAFKA_LOGS/stdout.log" >&2 || true
    fi
    exit 1
}

kafka_up() {
    local pid rc=0
    pid="$(kafka_pid)"
    if [ -n "$pid" ]; then
        kafka_wait_ready "$KAFKA_READY_TIMEOUT_S" "$pid" || rc=$?
        [ "$rc" -eq 0 ] || kafka_fail "kafka: pid $pid runs but does not answer on $KAFKA_BOOTSTRAP"
        log "kafka: running (pid $pid, $KAFKA_BOOTSTRAP)"
        return 0
    fi
    if tcp_open "$KAFKA_PORT"; then
        # Not ours (e.g. docker compose): use it when it is a Kafka broker, else refuse.
        kafka_wait_ready 5 0 ||
            die "kafka: port $KAFKA_PORT is taken by something that is not a Kafka broker"
        log "kafka: $KAFKA_BOOTSTRAP already answers (a broker not started by this script)"
        # The fault tests still start private brokers from the jars: keep them at hand.
        mkdir -p "$KAFKA_DIR" "$KAFKA_LOGS"
        kafka_ensure_libs
        return 0
    fi

    kafka_ensure_java
    mkdir -p "$KAFKA_DIR" "$KAFKA_DATA" "$KAFKA_LOGS"
    kafka_ensure_libs
    kafka_write_config
    kafka_ensure_formatted

    KAFKA_LOG_MARK="$(wc -l <"$KAFKA_LOGS/server.log" 2>/dev/null || echo 0)"
    log "kafka: starting on $KAFKA_BOOTSTRAP (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT) ..."
    # setsid: its own session, so stopping the caller's process group leaves the broker running.
    # Every step execs in place (no job control: the subshell is no group leader, so setsid does
    # not fork), hence $! is the JVM's pid. Descriptor 9 (the lock) is closed for the broker.
    (
        cd "$KAFKA_DIR"
        exec setsid nohup java "${KAFKA_JAVA_OPTS[@]}" kafka.Kafka "$KAFKA_CONF" \
            </dev/null >>"$KAFKA_LOGS/stdout.log" 2>&1 9>&-
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$KAFKA_PID_FILE"

    kafka_wait_ready "$KAFKA_READY_TIMEOUT_S" "$pid" || rc=$?
    case "$rc" in
        0) log "kafka: ready (pid $pid, $KAFKA_BOOTSTRAP)" ;;
        2)
            rm -f "$KAFKA_PID_FILE"
            kafka_fail "kafka: the broker exited during startup"
            ;;
        *) kafka_fail "kafka: no answer on $KAFKA_BOOTSTRAP within ${KAFKA_READY_TIMEOUT_S}s (pid $pid still runs; see logs)" ;;
    esac
}

kafka_down() {
    local pid i
    pid="$(kafka_pid)"
    if [ -z "$pid" ]; then
        rm -f "$KAFKA_PID_FILE"
        log "kafka: not running"
        return 0
    fi
    log "kafka: stopping pid $pid ..."
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 120; i++)); do # controlled shutdown takes a few seconds
        pid_alive "$pid" || break
        sleep 0.5
    done
    if pid_alive "$pid"; then
        err "kafka: pid $pid ignored SIGTERM for 60s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do
            pid_alive "$pid" || break
            sleep 0.25
        done
    fi
    rm -f "$KAFKA_PID_FILE"
    log "kafka: stopped"
}

kafka_status() {
    local pid
    pid="$(kafka_pid)"
    if [ -n "$pid" ] && tcp_open "$KAFKA_PORT"; then
        log "kafka: running (pid $pid, $KAFKA_BOOTSTRAP, controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)"
    elif [ -n "$pid" ]; then
        log "kafka: starting or unhealthy (pid $pid, $KAFKA_BOOTSTRAP not accepting connections)"
        return 1
    elif tcp_open "$KAFKA_PORT"; then
        log "kafka: $KAFKA_BOOTSTRAP answers, but not a broker started by this script"
    else
        log "kafka: stopped"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------
# Postgres

# The newest installed server version (e.g. 15), or nothing.
pg_version() {
    local bin
    for bin in /usr/lib/postgresql/*/bin/postgres; do
        [ -x "$bin" ] || continue
        bin="${bin%/bin/postgres}"
        printf '%s\n' "${bin##*/}"
    done | sort -V | tail -n 1
}

pg_running() { pg_ctlcluster "$1" "$PG_CLUSTER" status >/dev/null 2>&1; }

pg_ready() { pg_isready -q -h 127.0.0.1 -p "$POSTGRES_PORT" -t 2 >/dev/null 2>&1; }

pg_log_tail() {
    local f="/var/log/postgresql/postgresql-$1-$PG_CLUSTER.log"
    if [ -r "$f" ]; then
        err "---- last lines of $f ----"
        tail -n 30 "$f" >&2 || true
    fi
}

# psql as the postgres superuser over the local socket.
pg_admin_sql() {
    (cd / && runuser -u postgres -- psql -X -q -A -t -v ON_ERROR_STOP=1 -p "$POSTGRES_PORT" \
        -d postgres "$@")
}

pg_ensure_installed() {
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(pg_version)" ] ||
        ! command -v pg_isready >/dev/null 2>&1; then
        apt_install postgresql
    fi
    [ -n "$(pg_version)" ] || die "postgres: no server under /usr/lib/postgresql after installing"
}

# Cluster <ver>/main exists, listens on 127.0.0.1:$POSTGRES_PORT. Prints "restart" when a setting
# changed that needs a restart of a running server.
pg_ensure_cluster() {
    local ver="$1" port listen
    if [ ! -f "/etc/postgresql/$ver/$PG_CLUSTER/postgresql.conf" ]; then
        log "postgres: creating cluster $ver/$PG_CLUSTER on port $POSTGRES_PORT" >&2
        unlocked pg_createcluster --port "$POSTGRES_PORT" "$ver" "$PG_CLUSTER" >/dev/null
    fi
    port="$(pg_conftool -s "$ver" "$PG_CLUSTER" get port 2>/dev/null || true)"
    if [ "$port" != "$POSTGRES_PORT" ]; then
        pg_conftool "$ver" "$PG_CLUSTER" set port "$POSTGRES_PORT"
        echo restart
    fi
    # Unset means 'localhost', which includes 127.0.0.1; only fix settings that exclude it.
    listen="$(pg_conftool -s "$ver" "$PG_CLUSTER" get listen_addresses 2>/dev/null || true)"
    case "$listen" in
        "" | *localhost* | *127.0.0.1* | *'*'* | *0.0.0.0*) ;;
        *)
            pg_conftool "$ver" "$PG_CLUSTER" set listen_addresses "127.0.0.1"
            echo restart
            ;;
    esac
}

pg_ensure_app_role_and_db() {
    # Fast path: the app can already log in to its database.
    if PGPASSWORD="$PG_APP_NAME" PGCONNECT_TIMEOUT=5 psql -X -q -A -t -h 127.0.0.1 \
        -p "$POSTGRES_PORT" -U "$PG_APP_NAME" -d "$PG_APP_NAME" -c 'SELECT 1' >/dev/null 2>&1; then
        return 0
    fi
    log "postgres: creating role and database $PG_APP_NAME"
    pg_admin_sql <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_APP_NAME') THEN
        CREATE ROLE $PG_APP_NAME LOGIN PASSWORD '$PG_APP_NAME';
    ELSE
        ALTER ROLE $PG_APP_NAME LOGIN PASSWORD '$PG_APP_NAME';
    END IF;
END
\$\$;
SQL
    if [ -z "$(pg_admin_sql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_APP_NAME'")" ]; then
        pg_admin_sql -c "CREATE DATABASE $PG_APP_NAME OWNER $PG_APP_NAME"
    else
        pg_admin_sql -c "ALTER DATABASE $PG_APP_NAME OWNER TO $PG_APP_NAME"
    fi
}

postgres_up() {
    local ver changed deadline
    pg_ensure_installed
    ver="$(pg_version)"
    changed="$(pg_ensure_cluster "$ver")"
    if pg_running "$ver"; then
        if [ -n "$changed" ]; then
            log "postgres: restarting $ver/$PG_CLUSTER for the new port/listen settings"
            unlocked pg_ctlcluster "$ver" "$PG_CLUSTER" restart || {
                pg_log_tail "$ver"
                die "postgres: restart failed"
            }
        fi
    else
        log "postgres: starting cluster $ver/$PG_CLUSTER on 127.0.0.1:$POSTGRES_PORT ..."
        unlocked pg_ctlcluster "$ver" "$PG_CLUSTER" start || {
            pg_log_tail "$ver"
            die "postgres: pg_ctlcluster $ver $PG_CLUSTER start failed"
        }
    fi
    deadline=$((SECONDS + POSTGRES_READY_TIMEOUT_S))
    until pg_ready; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            pg_log_tail "$ver"
            die "postgres: 127.0.0.1:$POSTGRES_PORT not ready within ${POSTGRES_READY_TIMEOUT_S}s"
        fi
        sleep 0.5
    done
    pg_ensure_app_role_and_db
    log "postgres: running ($ver/$PG_CLUSTER, 127.0.0.1:$POSTGRES_PORT, database $PG_APP_NAME)"
}

postgres_down() {
    local ver
    ver="$(pg_version 2>/dev/null || true)"
    if [ -z "$ver" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        log "postgres: not installed"
        return 0
    fi
    if ! pg_running "$ver"; then
        log "postgres: not running"
        return 0
    fi
    log "postgres: stopping cluster $ver/$PG_CLUSTER ..."
    pg_ctlcluster "$ver" "$PG_CLUSTER" stop
    log "postgres: stopped"
}

postgres_status() {
    local ver
    ver="$(pg_version 2>/dev/null || true)"
    if [ -z "$ver" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        log "postgres: not installed"
        return 1
    fi
    if pg_ready; then
        log "postgres: running ($ver/$PG_CLUSTER, 127.0.0.1:$POSTGRES_PORT)"
    elif pg_running "$ver"; then
        log "postgres: cluster $ver/$PG_CLUSTER runs but 127.0.0.1:$POSTGRES_PORT does not answer"
        return 1
    else
        log "postgres: stopped"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------------

main() {
    local cmd="${1:-up}" rc=0
    case "$cmd" in
        up | down | status) ;;
        -h | --help | help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
            return 0
            ;;
        *) die "unknown command '$cmd' (expected up, down or status)" ;;
    esac

    mkdir -p "$SERVICES_DIR"
    # One invocation at a time; daemons are started with this descriptor closed (see `unlocked`).
    exec 9>"$SERVICES_DIR/services.lock"
    flock -w 300 9 || die "another scripts/services.sh still runs after 300s"

    case "$cmd" in
        up)
            kafka_up
            postgres_up
            ;;
        down)
            kafka_down
            postgres_down
            ;;
        status)
            kafka_status || rc=3
            postgres_status || rc=3
            return "$rc"
            ;;
    esac
}

main "$@"
