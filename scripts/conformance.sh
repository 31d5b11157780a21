#!/usr/bin/env bash
# The official MCP conformance suite against `users-mcp --http --sandbox`, on Node 24 (the suite needs
# Node 22+), both fetched from the npm registry: the 2025 scenarios of 0.1.16, and the 2026-07-28
# scenarios of 0.2.0-alpha that apply to a server with its own tools (checks that need the suite's own
# test tools, prompts or resources are listed with the reason in scripts/conformance-na.json).
# Prints one line per scenario, then "conformance: N passed, M failed". Exit status: failures.
# Needs a build (npm run build). Usage: bash scripts/conformance.sh [counts-file]
set -uo pipefail
cd "$(dirname "$0")/.."
SUITE="@modelcontextprotocol/conformance@0.1.16"
SCENARIOS=(server-initialize ping tools-list dns-rebinding-protection)
SUITE2="@modelcontextprotocol/conformance@0.2.0-alpha.12"
SCENARIOS2=(server-stateless caching http-header-validation tools-list dns-rebinding-protection input-required-result-unsupported-methods)
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
for scenario in "${SCENARIOS2[@]}"; do
  out_dir=$(mktemp -d)
  out=$(npm exec --yes --package=node@24 --package="$SUITE2" -- conformance server --url "http://127.0.0.1:$port/mcp" --scenario "$scenario" -o "$out_dir" 2>&1)
  if verdict=$(node scripts/conformance-checks.mjs "$scenario" "$out_dir"); then
    passed=$((passed + 1)); echo "  ok    $scenario (2026-07-28 suite)"; echo "$verdict"
  else
    failed=$((failed + 1)); echo "  FAIL  $scenario (2026-07-28 suite)"; echo "$verdict"; grep -v "npm warn" <<<"$out" | tail -20
  fi
  rm -rf "$out_dir"
done
[ "$failed" -gt 0 ] && { echo "server log:"; tail -20 "$log"; }
echo "conformance: ${passed} passed, ${failed} failed"
[ -n "${1:-}" ] && echo "$passed $failed" >"$1"
exit "$failed"
