#!/usr/bin/env bash
# conformance.sh: run the public IPFS gateway conformance suite against
# `cargate serve` loaded with the suite's own fixtures, print the counts,
# and fail when a case listed in scripts/conformance/passing.txt fails.
#
#   scripts/conformance.sh           run and compare (make conformance)
#   scripts/conformance.sh --write   run and record the cases passing now
#
# Installs the suite's CLI with the Go toolchain (it runs `go test` itself)
# into .tools/ (git-ignored). Everything else lives in a temp dir; the
# server binds 127.0.0.1 only and is stopped by its pid.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE_VERSION=v0.13.2
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
BASELINE="$ROOT/scripts/conformance/passing.txt"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cargate-conformance.XXXXXX")"
PID=""
cleanup() {
	if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
start=$(date +%s)

mkdir -p "$BIN"
if [ ! -x "$BIN/gateway-conformance" ] || [ "$(cat "$BIN/.gateway-conformance.version" 2>/dev/null)" != "$SUITE_VERSION" ]; then
	echo "installing gateway-conformance $SUITE_VERSION into $BIN"
	if ! GOBIN="$BIN" go install "github.com/ipfs/gateway-conformance/cmd/gateway-conformance@$SUITE_VERSION"; then
		echo "conformance: cannot install gateway-conformance $SUITE_VERSION with the Go toolchain (see the error above)" >&2
		exit 2
	fi
	echo "$SUITE_VERSION" > "$BIN/.gateway-conformance.version"
fi
GC="$BIN/gateway-conformance"

echo "building cargate"
go build -C "$ROOT" -o "$WORK/cargate" ./cmd/cargate
CG="$WORK/cargate"

echo "extracting fixtures"
"$GC" extract-fixtures --directory "$WORK/fixtures"
DATA="$WORK/data"
mapfile -t cars < <(find "$WORK/fixtures" -name '*.car' | sort)
mapfile -t records < <(find "$WORK/fixtures" -name '*.ipns-record' | sort)
# One at a time, so that one refused fixture does not hide the others.
badcars=0
for c in "${cars[@]}"; do
	"$CG" import --data-dir "$DATA" --quiet "$c" > /dev/null 2>> "$WORK/import.log" || badcars=$((badcars + 1))
done
# Some record fixtures are bad on purpose and must be refused.
refused=0
for r in "${records[@]}"; do
	"$CG" import --data-dir "$DATA" --quiet "$r" > /dev/null 2>&1 || refused=$((refused + 1))
done
# The suite's DNSLink names: "name:/ipfs/cid,..." (IPFS_NS_MAP form) to --dnslink-file lines.
: > "$WORK/dnslink.txt"
nsmap="$(find "$WORK/fixtures" -name 'dnslinks.IPFS_NS_MAP' | head -1)"
if [ -n "$nsmap" ]; then
	sed -e 's/:\//=\//g' "$nsmap" | tr ',' '\n' > "$WORK/dnslink.txt"
fi
echo "imported ${#cars[@]} CARs ($badcars refused), ${#records[@]} records ($refused refused), $(grep -c = "$WORK/dnslink.txt" || true) DNSLink names"

ADDR="127.0.0.1:${CONFORMANCE_PORT:-18080}"
"$CG" serve --data-dir "$DATA" --listen "$ADDR" --metrics-listen "" --log-level warn \
	--subdomain-hosts example.com,localhost --dnslink-file "$WORK/dnslink.txt" --dnslink-dns=false \
	--egress=false > "$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 300); do
	curl -fs "http://$ADDR/healthz" > /dev/null 2>&1 && break
	kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.log"; exit 1; }
	sleep 0.1
done

echo "running the suite against http://$ADDR"
set +e
"$GC" test --gateway-url "http://$ADDR" --subdomain-url "http://example.com" \
	--json "$WORK/report.json" -- -timeout 30m > "$WORK/suite.log" 2>&1
set -e
args=(-report "$WORK/report.json" -baseline "$BASELINE")
[ "${1:-}" = "--write" ] && args+=(-write)
status=0
go run "$ROOT/scripts/conformance/report.go" "${args[@]}" || status=$?
echo "conformance took $(( $(date +%s) - start ))s"
exit $status
