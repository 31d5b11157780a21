#!/usr/bin/env bash
# The official MCP conformance suite against `users-mcp --http --sandbox`, on Node 24 (the suite needs
# Node 22+), both fetched from the npm registry. Runs the server scenarios that apply to this server
# and prints one line per scenario, then "conformance: N passed, M failed". Exit status: failures.
# Needs a build (npm run build). Usage: bash scripts/conformance.sh [counts-file]
set -uo pipefail
cd "$(dirname "$0")/.."
SUITE="@modelcontextprotocol/conformance@0.1.16"
SCENARIOS=(server-initialize ping tools-list dns-rebinding-protection)
node24=(npm exec --yes --package=node@24 --)

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
log=$(mktemp)
"${node24[@]}" node dist/index.js --http --sandbox --port "$port" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT
for _ in $(seq 1 300); do
  node -e 'fetch(process.argv[1]).then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))' "http://127.0.0.1:$port/healthz" && break
  sleep 0.1
done

passed=0
failed=0
for scenario in "${SCENARIOS[@]}"; do
  out=$(npm exec --yes --package=node@24 --package="$SUITE" -- conformance server --url "http://127.0.0.1:$port/mcp" --scenario "$scenario" 2>&1)
  status=$?
  if [ "$status" -eq 0 ] && grep -q "0 failed" <<<"$out"; then
    passed=$((passed + 1)); echo "  ok    $scenario"
  else
    failed=$((failed + 1)); echo "  FAIL  $scenario"; grep -v "npm warn" <<<"$out" | tail -20
  fi
done
[ "$failed" -gt 0 ] && { echo "server log:"; tail -20 "$log"; }
echo "conformance: ${passed} passed, ${failed} failed"
[ -n "${1:-}" ] && echo "$passed $failed" >"$1"
exit "$failed"
