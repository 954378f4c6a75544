#!/usr/bin/env bash
# services.sh: install and run, on 127.0.0.1 only, the real servers that the
# service-backed tests talk to (see SERVICES.md):
#
#   S3        versitygw v1.8.0          127.0.0.1:7070
#   DynamoDB  dynalite 4.0.0            127.0.0.1:4567
#   SQS       goaws v0.5.4 (wrapper)    127.0.0.1:4100
#   Redis     redis-server              127.0.0.1:6379
#
# Usage:
#   scripts/services.sh start   install what is missing, start what is not answering, wait
#   scripts/services.sh stop    stop the servers this script started (by their pid files)
#   scripts/services.sh env     print export lines:  eval "$(scripts/services.sh env)"
#   scripts/services.sh status  show which ports answer
#
# Everything lives under $ROOT/.local-services/ (git-ignored). Works on a fresh
# machine: installs Go tools with `go install`, dynalite with npm, and
# redis-server/node with apt-get when they are absent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${CARGATE_SERVICES_DIR:-$ROOT/.local-services}"
BIN="$DIR/bin"
RUN="$DIR/run"
LOG="$DIR/log"

VERSITYGW_VERSION=v1.8.0
DYNALITE_VERSION=4.0.0
S3_PORT=7070
DYNAMO_PORT=4567
SQS_PORT=4100
REDIS_PORT=6379
HOST=127.0.0.1

say() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
	(exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# sudo_maybe: run as root directly, else through sudo when available.
sudo_maybe() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		die "need root to run: $*"
	fi
}

apt_install() {
	command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
	say "apt-get install $*"
	sudo_maybe env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
	sudo_maybe env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

install_versitygw() {
	local marker="$BIN/.versitygw-$VERSITYGW_VERSION"
	if [ -x "$BIN/versitygw" ] && [ -e "$marker" ]; then return; fi
	command -v go >/dev/null || die "go not found (needed to install versitygw)"
	say "installing versitygw $VERSITYGW_VERSION (about 70 s cold)"
	GOBIN="$BIN" go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
	touch "$marker"
}

install_dynalite() {
	local cli="$DIR/npm/node_modules/dynalite/cli.js"
	local marker="$DIR/npm/.dynalite-$DYNALITE_VERSION"
	if [ -f "$cli" ] && [ -e "$marker" ]; then return; fi
	command -v npm >/dev/null || apt_install nodejs npm
	say "installing dynalite $DYNALITE_VERSION"
	mkdir -p "$DIR/npm"
	npm install --prefix "$DIR/npm" --no-audit --no-fund --silent "dynalite@$DYNALITE_VERSION" >&2
	touch "$marker"
}

install_goaws() {
	local src="$ROOT/tools/goaws-local"
	local bin="$BIN/goaws-local"
	# Rebuild when the wrapper's sources are newer than the binary.
	if [ -x "$bin" ] && [ -z "$(find "$src" -newer "$bin" -type f 2>/dev/null)" ]; then return; fi
	command -v go >/dev/null || die "go not found (needed to build goaws-local)"
	say "building goaws-local"
	(cd "$src" && go build -o "$bin" .)
}

install_redis() {
	command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
	apt_install redis-server
}

write_goaws_config() {
	cat >"$DIR/goaws.yaml" <<EOF
Local:
  Host: localhost
  Port: $SQS_PORT
  Region: us-east-1
  AccountId: "100010001000"
  LogToFile: false
  EnableDuplicates: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 0
    MaximumMessageSize: 262144
  Queues: []
  Topics: []
EOF
}

# spawn NAME CMD...: start CMD in the background (own session, so a terminal's
# signals do not reach it), logging to $LOG/NAME.log, pid in $RUN/NAME.pid.
spawn() {
	local name="$1"
	shift
	say "starting $name"
	setsid "$@" >"$LOG/$name.log" 2>&1 </dev/null &
	echo $! >"$RUN/$name.pid"
}

# wait_port NAME PORT: wait up to 30 s for PORT to answer; fail loudly.
wait_port() {
	local name="$1" port="$2" i
	for i in $(seq 1 300); do
		port_open "$port" && return 0
		if [ -f "$RUN/$name.pid" ] && ! kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
			tail -n 20 "$LOG/$name.log" >&2 || true
			die "$name exited before answering on $HOST:$port (log: $LOG/$name.log)"
		fi
		sleep 0.1
	done
	tail -n 20 "$LOG/$name.log" >&2 || true
	die "$name did not answer on $HOST:$port within 30 s (log: $LOG/$name.log)"
}

start_s3() {
	port_open "$S3_PORT" && { say "s3 already answering on $S3_PORT"; return; }
	install_versitygw
	mkdir -p "$DIR/s3"
	spawn versitygw env ROOT_ACCESS_KEY=test ROOT_SECRET_KEY=testsecret \
		"$BIN/versitygw" --port "$HOST:$S3_PORT" --region us-east-1 --keep-alive --quiet posix "$DIR/s3"
}

start_dynamo() {
	port_open "$DYNAMO_PORT" && { say "dynamodb already answering on $DYNAMO_PORT"; return; }
	install_dynalite
	spawn dynalite node "$DIR/npm/node_modules/dynalite/cli.js" --host "$HOST" --port "$DYNAMO_PORT" \
		--createTableMs 0 --deleteTableMs 0 --updateTableMs 0
}

start_sqs() {
	port_open "$SQS_PORT" && { say "sqs already answering on $SQS_PORT"; return; }
	install_goaws
	write_goaws_config
	spawn goaws "$BIN/goaws-local" -addr "$HOST:$SQS_PORT" -config "$DIR/goaws.yaml"
}

start_redis() {
	install_redis
	if redis-cli -h "$HOST" -p "$REDIS_PORT" ping >/dev/null 2>&1; then
		say "redis already answering on $REDIS_PORT"
		return
	fi
	say "starting redis"
	redis-server --daemonize yes --bind "$HOST" --port "$REDIS_PORT" --save "" --appendonly no \
		--pidfile "$RUN/redis.pid" --logfile "$LOG/redis.log" --dir "$DIR"
	local i
	for i in $(seq 1 100); do
		redis-cli -h "$HOST" -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "redis did not answer on $HOST:$REDIS_PORT (log: $LOG/redis.log)"
}

cmd_start() {
	mkdir -p "$BIN" "$RUN" "$LOG"
	# Install first (the slow part), then start everything, then wait for all.
	start_s3
	start_dynamo
	start_sqs
	start_redis
	wait_port versitygw "$S3_PORT"
	wait_port dynalite "$DYNAMO_PORT"
	wait_port goaws "$SQS_PORT"
	say "all services answering on $HOST (s3 $S3_PORT, dynamodb $DYNAMO_PORT, sqs $SQS_PORT, redis $REDIS_PORT)"
}

cmd_stop() {
	local f pid name
	[ -d "$RUN" ] || return 0
	for f in "$RUN"/*.pid; do
		[ -e "$f" ] || continue
		name="$(basename "$f" .pid)"
		pid="$(cat "$f")"
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			say "stopping $name (pid $pid)"
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
		fi
		rm -f "$f"
	done
}

cmd_env() {
	cat <<EOF
export CARGATE_TEST_S3_ENDPOINT=http://$HOST:$S3_PORT
export CARGATE_TEST_DYNAMODB_ENDPOINT=http://$HOST:$DYNAMO_PORT
export CARGATE_TEST_SQS_ENDPOINT=http://$HOST:$SQS_PORT
export CARGATE_TEST_REDIS_ADDR=$HOST:$REDIS_PORT
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=testsecret
export AWS_REGION=us-east-1
EOF
}

cmd_status() {
	local p
	for p in "s3 $S3_PORT" "dynamodb $DYNAMO_PORT" "sqs $SQS_PORT" "redis $REDIS_PORT"; do
		set -- $p
		if port_open "$2"; then echo "$1 $HOST:$2 up"; else echo "$1 $HOST:$2 down"; fi
	done
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
status) cmd_status ;;
*)
	echo "usage: $0 start|stop|env|status" >&2
	exit 2
	;;
esac
