#!/usr/bin/env bash
# The test HAPI FHIR R4 server (tests/hapi-server): build it if needed, start, stop, status.
#
#   scripts/hapi.sh start    build the jar if missing or older than its sources, start it in the
#                            background on 127.0.0.1:${HAPI_PORT:-8090}, wait until /fhir/metadata answers
#   scripts/hapi.sh stop     stop the server this script started on that port, wait for it to exit
#   scripts/hapi.sh status   exit 0 if a server answers on that port, 3 if none does
#   scripts/hapi.sh build    build the jar if missing or older than its sources
#
# Environment: HAPI_PORT (8090), HAPI_HEAP (maximum heap, 768m; the H2 database lives in it: about
# 11 KB a resource), HAPI_START_TIMEOUT (seconds, 180), HAPI_JAVA_OPTS (JVM options, replacing all the
# defaults below), HER2CDS_HAPI_* (server settings: tests/hapi-server/README.md).
# Pid file and log: var/hapi-$HAPI_PORT.pid, var/hapi-$HAPI_PORT.log. The server runs from a copy of the
# jar, var/hapi-server-$HAPI_PORT.jar, so a rebuild never pulls the jar from under a running server.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODULE="$ROOT/tests/hapi-server"
JAR="$MODULE/target/hapi-server.jar"
PORT="${HAPI_PORT:-8090}"
BASE="http://127.0.0.1:$PORT/fhir"
VAR="$ROOT/var"
PID_FILE="$VAR/hapi-$PORT.pid"
RUN_JAR="$VAR/hapi-server-$PORT.jar"
LOG="$VAR/hapi-$PORT.log"
TIMEOUT="${HAPI_START_TIMEOUT:-180}"
# C1 only and the serial collector: about half the CPU to start on a 2-core machine, at some cost
# in peak throughput (set HAPI_JAVA_OPTS="-Xmx768m" for the JVM's defaults when benchmarking HAPI itself).
DEFAULT_JAVA_OPTS="-Xms256m -Xmx${HAPI_HEAP:-768m} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError"
JAVA_OPTS="${HAPI_JAVA_OPTS:-$DEFAULT_JAVA_OPTS}"

say() { printf 'hapi: %s\n' "$*"; }
die() { printf 'hapi: %s\n' "$*" >&2; exit 1; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
seconds_since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%01d' $(( ms / 1000 )) $(( ms % 1000 / 100 )); }

probe() {
	# The HTTP status of GET /fhir/metadata; 000 when nothing answers on the port
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/metadata" 2>/dev/null) || true
	echo "${code:-000}"
}

answers() { [ "$(probe)" = "200" ]; }

our_pid() {
	# The pid in the pid file, if that process is alive and is our jar; nothing otherwise
	local pid
	[ -f "$PID_FILE" ] || return 0
	pid=$(cat "$PID_FILE" 2>/dev/null || true)
	case "$pid" in '' | *[!0-9]*) return 0 ;; esac
	if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'hapi-server'; then
		echo "$pid"
	fi
}

stale() {
	# 0 if the jar is missing or older than a source file
	[ -f "$JAR" ] || return 0
	[ -n "$(find "$MODULE/pom.xml" "$MODULE/src" -newer "$JAR" -print -quit)" ]
}

build() {
	command -v java > /dev/null || die "java not found: HAPI needs Java 17 (apt-get install openjdk-17-jdk-headless)"
	if ! stale; then
		say "jar up to date: ${JAR#"$ROOT"/}"
		return 0
	fi
	command -v mvn > /dev/null || die "mvn not found: building HAPI needs Maven (apt-get install maven)"
	mkdir -p "$VAR"
	local started
	started=$(now_ms)
	say "building ${MODULE#"$ROOT"/} (the first build downloads ~350 MB of Maven artifacts)"
	(
		# One build at a time, whoever asks
		if command -v flock > /dev/null; then flock 9; fi
		if stale; then
			# Offline first (works once ~/.m2 holds everything), online if something is missing
			mvn -o -q -B -f "$MODULE/pom.xml" package -DskipTests > "$VAR/hapi-build.log" 2>&1 ||
				mvn -q -B -f "$MODULE/pom.xml" package -DskipTests > "$VAR/hapi-build.log" 2>&1 ||
				{ tail -n 40 "$VAR/hapi-build.log" >&2; exit 1; }
		fi
	) 9> "$VAR/hapi-build.lock" || die "build failed (log: var/hapi-build.log)"
	say "built ${JAR#"$ROOT"/} in $(seconds_since "$started") s"
}

wait_until_up() {
	local pid=$1 started=$2 deadline=$(( $(now_ms) + TIMEOUT * 1000 ))
	while [ "$(now_ms)" -lt "$deadline" ]; do
		if answers; then
			say "HAPI FHIR up at $BASE in $(seconds_since "$started") s (pid $pid, log ${LOG#"$ROOT"/})"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			say "HAPI FHIR exited during start-up; end of ${LOG#"$ROOT"/}:" >&2
			tail -n 60 "$LOG" >&2 || true
			rm -f "$PID_FILE" "$RUN_JAR"
			return 1
		fi
		sleep 0.5
	done
	say "HAPI FHIR did not answer $BASE/metadata within $TIMEOUT s; end of ${LOG#"$ROOT"/}:" >&2
	tail -n 60 "$LOG" >&2 || true
	kill "$pid" 2>/dev/null || true
	rm -f "$PID_FILE" "$RUN_JAR"
	return 1
}

start() {
	command -v curl > /dev/null || die "curl not found (apt-get install curl)"
	mkdir -p "$VAR"
	# One start per port at a time: a second caller waits here, then finds the first one's server
	exec 8> "$VAR/hapi-$PORT.lock"
	if command -v flock > /dev/null; then flock 8; fi
	local pid code
	code=$(probe)
	if [ "$code" = "200" ]; then
		say "a FHIR server already answers at $BASE; not starting another"
		return 0
	fi
	pid=$(our_pid)
	if [ -z "$pid" ] && [ "$code" != "000" ]; then
		die "port $PORT is taken by something that is not a FHIR server (GET $BASE/metadata: HTTP $code); set HAPI_PORT"
	fi
	if [ -n "$pid" ]; then
		say "already starting (pid $pid); waiting for it"
		wait_until_up "$pid" "$(now_ms)"
		return
	fi
	build
	(
		# Not while a build is writing the jar
		if command -v flock > /dev/null; then flock 9; fi
		cp "$JAR" "$RUN_JAR.tmp.$$" && mv -f "$RUN_JAR.tmp.$$" "$RUN_JAR"
	) 9> "$VAR/hapi-build.lock"
	local started launcher=()
	started=$(now_ms)
	# Its own session, so the server outlives the shell (or make, or pytest) that started it;
	# no inherited stdin/stdout, so a caller reading our output is not kept waiting.
	if command -v setsid > /dev/null; then launcher=(setsid); fi
	# shellcheck disable=SC2086  # JAVA_OPTS is a list of words
	"${launcher[@]}" java $JAVA_OPTS -jar "$RUN_JAR" --server.port="$PORT" < /dev/null > "$LOG" 2>&1 8>&- &
	pid=$!
	echo "$pid" > "$PID_FILE"
	exec 8>&-  # the pid file is written: let other callers in
	say "starting HAPI FHIR on port $PORT (pid $pid)"
	wait_until_up "$pid" "$started"
}

stop() {
	local pid
	pid=$(our_pid)
	if [ -z "$pid" ]; then
		rm -f "$PID_FILE"
		if answers; then
			die "a FHIR server answers at $BASE but was not started by this script (no live ${PID_FILE#"$ROOT"/}); not stopping it"
		fi
		say "not running on port $PORT"
		return 0
	fi
	local started
	started=$(now_ms)
	kill "$pid" 2>/dev/null || true
	local waited=0
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$waited" -ge 600 ]; then  # 60 s, then no more asking
			say "pid $pid still running after 60 s; killing it"
			kill -9 "$pid" 2>/dev/null || true
		fi
		sleep 0.1
		waited=$(( waited + 1 ))
	done
	rm -f "$PID_FILE" "$RUN_JAR"
	say "stopped HAPI FHIR (pid $pid) in $(seconds_since "$started") s"
}

status() {
	local pid
	pid=$(our_pid)
	if answers; then
		say "running at $BASE${pid:+ (pid $pid)}"
		return 0
	fi
	if [ -n "$pid" ]; then
		say "starting (pid $pid), not answering $BASE/metadata yet"
	else
		say "not running on port $PORT"
	fi
	return 3
}

case "${1:-}" in
	start) start ;;
	stop) stop ;;
	status) status ;;
	build) build ;;
	*) echo "usage: $0 start|stop|status|build   (HAPI_PORT=${PORT})" >&2; exit 2 ;;
esac
