#!/usr/bin/env bash
# End-to-end runner benchmark against an OpenAI-compatible mock server on 127.0.0.1.
#
#   benches/e2e.sh MOCK.py CASES CONCURRENCY [LATENCY_MS]   (PROMPTGATE_BIN=PATH times another build)
#
# Builds a throwaway project whose prompt differs between HEAD and the working tree, so a check
# makes CASES x 2 calls; runs `promptgate check` cold (no cache), then again fully cached, and
# prints wall time, peak memory and the floor CASES x 2 x latency / concurrency.
# MOCK.py is a mock that takes --port and --latency-ms (for example a small stdlib Python server).
set -euo pipefail
mock=${1:?mock server script}
cases=${2:-2000}
concurrency=${3:-16}
latency=${4:-50}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${PROMPTGATE_BIN:-$root/target/release/promptgate}"
[ -x "$bin" ] || cargo build --release --bin promptgate --manifest-path "$root/Cargo.toml"

work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
python3 "$mock" --port "$port" --latency-ms "$latency" >/dev/null 2>&1 &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done

cd "$work"
git init -q && git config user.email bench@example.com && git config user.name bench
mkdir -p prompts suites
printf -- '---\ninput:\n  schema:\n    n: integer\n---\nAnswer briefly. Question {{n}}: what is the capital of France?\n' > prompts/q.prompt
# The cases in a JSONL file (a YAML suite is capped in size; a case file is streamed).
printf 'kind: regression\nprompt: q\ndefaults:\n  assert: [ { type: contains, value: Paris } ]\ncases:\n  - file: cases.jsonl\n' > suites/q.yaml
python3 -c "import sys; sys.stdout.writelines('{\"id\": \"c%d\", \"vars\": {\"n\": %d}}\n' % (i, i) for i in range(1, $cases + 1))" > cases.jsonl
printf 'default_provider: mock\nproviders:\n  mock: { kind: openai, base_url: "http://127.0.0.1:%s/v1", model: bench, concurrency: %s }\n' "$port" "$concurrency" > promptgate.yaml
printf '.promptgate/\nreports/\n' > .gitignore
git add -A && git commit -qm v1
sed -i 's/Answer briefly/Answer very briefly/' prompts/q.prompt

run() {
  /usr/bin/time -f '%e %M' -o time.txt "$bin" check --all --concurrency "$concurrency" "$@" >/dev/null 2>&1 || true
  # GNU time puts "Command exited with non-zero status N" first when the check fails.
  read -r secs kb < <(tail -n 1 time.txt)
  echo "$secs $kb $(grep -o 'status [0-9]*' time.txt || echo 'status 0')"
}
floor=$(python3 -c "print($cases * 2 * $latency / 1000 / $concurrency)")
read -r cold cold_kb _ cold_status < <(run --no-cache)
read -r warm_prime _ < <(run)
read -r cached cached_kb _ cached_status < <(run)
python3 - "$cases" "$concurrency" "$floor" "$cold" "$cold_kb" "$cached" "$cached_kb" "$cold_status" "$cached_status" <<'PY'
import sys
cases, conc, floor, cold, cold_kb, cached, cached_kb, cold_status, cached_status = sys.argv[1:]
floor, cold, cached = float(floor), float(cold), float(cached)
print(f"{cases} cases x 2 versions, concurrency {conc}: floor {floor:.2f} s")
ratio = f"{cold / floor:.2f}x floor" if floor > 0 else "no latency, so no floor"
print(f"  uncached: {cold:.2f} s ({ratio}), peak {int(cold_kb) / 1024:.0f} MB, exit {cold_status}")
print(f"  cached:   {cached:.2f} s, peak {int(cached_kb) / 1024:.0f} MB, exit {cached_status}")
PY
