#!/usr/bin/env bash
# CloudWatch emulator for the verification-gate tests: ministack on loopback.
#
#   scripts/cw-emulator.sh start   install (once) into target/cw-emulator/venv, start,
#                                  wait for /_ministack/health, print the env line
#   scripts/cw-emulator.sh env     print `export STAGEOS_TEST_CLOUDWATCH_ENDPOINT=…`
#                                  (nothing, exit 1, when it is not running)
#   scripts/cw-emulator.sh stop    stop the emulator this script started (its PID only)
#   scripts/cw-emulator.sh status  say whether it runs
#
# Pins: ministack==1.5.33 and cbor2==6.3.0 (without cbor2 its CBOR replies are empty,
# and the aws-sdk-cloudwatch we use speaks Smithy RPC v2 CBOR). Binds 127.0.0.1 only,
# on a free port (or $STAGEOS_CW_EMULATOR_PORT). Enabled: CloudWatch, and for the
# release gates (tests/aws_gates.rs) ECR, Secrets Manager, RDS, AWS Backup and S3.
#
# Not needed for the tests or the CLI: tests/gates.rs, tests/aws_gates.rs and the
# embedded `stageos-smoke run` start the same pins themselves (crates/emulator,
# sharing this venv). This script is for poking at an emulator by hand:
#   scripts/cw-emulator.sh start && eval "$(scripts/cw-emulator.sh env)"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/target/cw-emulator"
VENV="$DIR/venv"
PID_FILE="$DIR/ministack.pid"
PORT_FILE="$DIR/ministack.port"
LOG_FILE="$DIR/ministack.log"
MINISTACK_VERSION="1.5.33"
CBOR2_VERSION="6.3.0"
PYTHON="${PYTHON:-python3}"
HEALTH_TIMEOUT_S="${STAGEOS_CW_EMULATOR_TIMEOUT:-60}"

log() { echo "cw-emulator: $*" >&2; }

running_pid() {
    # The PID from our own file, only if that process is alive and is our ministack.
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    grep -q "ministack" "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

endpoint() {
    echo "http://127.0.0.1:$(cat "$PORT_FILE")"
}

install() {
    if [[ -x "$VENV/bin/python" ]] \
        && "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('ministack') == '$MINISTACK_VERSION' and m.version('cbor2') == '$CBOR2_VERSION'" 2>/dev/null; then
        return 0
    fi
    log "installing ministack==$MINISTACK_VERSION cbor2==$CBOR2_VERSION into $VENV"
    mkdir -p "$DIR"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "ministack==$MINISTACK_VERSION" "cbor2==$CBOR2_VERSION"
}

free_port() {
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

health_ok() {
    "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/_ministack/health", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

start() {
    if pid="$(running_pid)"; then
        log "already running (PID $pid) at $(endpoint)"
        echo "STAGEOS_TEST_CLOUDWATCH_ENDPOINT=$(endpoint)"
        return 0
    fi
    install
    local port="${STAGEOS_CW_EMULATOR_PORT:-}"
    [[ -n "$port" ]] || port="$(free_port)"
    echo "$port" >"$PORT_FILE"
    # Foreground ministack in its own session; we keep its PID ourselves.
    (
        cd "$DIR"
        GATEWAY_PORT="$port" BIND_HOST=127.0.0.1 SERVICES=cloudwatch,ecr,secretsmanager,rds,backup,s3 LOG_LEVEL=WARNING \
            TMPDIR="$DIR" exec setsid "$VENV/bin/python" -m ministack >"$LOG_FILE" 2>&1 </dev/null
    ) &
    echo $! >"$PID_FILE"
    local deadline=$((SECONDS + HEALTH_TIMEOUT_S))
    until health_ok "http://127.0.0.1:$port"; do
        if ! running_pid >/dev/null; then
            log "ministack exited during start-up; last log lines:"
            tail -n 20 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "ministack did not become healthy within ${HEALTH_TIMEOUT_S}s; stopping it"
            stop
            return 1
        fi
        sleep 0.2
    done
    log "running (PID $(cat "$PID_FILE")) at http://127.0.0.1:$port"
    echo "STAGEOS_TEST_CLOUDWATCH_ENDPOINT=http://127.0.0.1:$port"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PID_FILE"
        log "not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "PID $pid ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$PID_FILE"
    log "stopped (PID $pid)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env)
    if running_pid >/dev/null; then
        echo "export STAGEOS_TEST_CLOUDWATCH_ENDPOINT=$(endpoint)"
    else
        log "not running (hint: scripts/cw-emulator.sh start)"
        exit 1
    fi
    ;;
status)
    if pid="$(running_pid)"; then
        echo "running (PID $pid) at $(endpoint)"
    else
        echo "not running"
        exit 1
    fi
    ;;
*)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
