#!/usr/bin/env bash
# Shard benchmark on the `echo` provider (no model, so the harness alone is measured).
#
#   benches/shards.sh [CASES]            (PROMPTGATE_BIN=PATH times another build)
#
# Builds a throwaway project with CASES cases in a JSONL case file and a prompt that differs
# between HEAD and the working tree (CASES x 2 calls), then prints wall time and peak memory
# (`/usr/bin/time`: seconds, KB) of the check in one process, of each of 4 shards, and of the
# merge, with the sizes of the files they write.
set -euo pipefail
n=${1:-20000}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${PROMPTGATE_BIN:-$root/target/release/promptgate}"
[ -x "$bin" ] || cargo build --release --bin promptgate --manifest-path "$root/Cargo.toml"
work=$(mktemp -d)
cd "$work"
git init -q && git config user.email b@example.com && git config user.name b
mkdir -p prompts suites
printf -- '---\ninput:\n  schema:\n    n: integer\n---\nAnswer briefly. Question {{n}}: what is the capital of France?\n' > prompts/q.prompt
printf 'kind: regression\nprompt: q\ndefaults:\n  assert: [ { type: contains, value: Paris } ]\ncases:\n  - file: cases.jsonl\n' > suites/q.yaml
for i in $(seq "$n"); do printf '{"id": "c%d", "vars": {"n": %d}}\n' "$i" "$i"; done > cases.jsonl
printf 'default_provider: echo\nproviders:\n  echo: { kind: echo }\n' > promptgate.yaml
printf '.promptgate/\nreports/\n' > .gitignore
git add -A && git commit -qm v1
sed -i 's/Answer briefly/Answer very briefly/' prompts/q.prompt
t() { /usr/bin/time -f '%e %M' -o time.txt "$bin" "$@" > out.txt 2>&1 || true; echo "$* -> $(cat time.txt) (s, KB peak)"; }
t check --all
single=$(ls -d reports/*/ | head -1)
du -b "$single"/results.jsonl "$single"/report.json "$single"/index.html | awk '{print $2": "$1" bytes"}'
for i in 1 2 3 4; do t check --all --shard "$i/4"; done
dirs=$(ls -d reports/*/ | tail -n 4 | tr '\n' ' ')
# shellcheck disable=SC2086
t merge $dirs
merged=$(ls -td reports/*/ | head -1)
du -b "$merged"/results.jsonl "$merged"/report.json | awk '{print $2": "$1" bytes"}'
rm -rf "$work"
