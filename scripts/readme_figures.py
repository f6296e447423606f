#!/usr/bin/env python3
"""Runs the README's examples and writes the figures it quotes, so they cannot drift.

Each figure the README quotes is written between markers, `<!-- figure:NAME -->VALUE<!--
/figure -->`. This script runs the commands the README shows (the bundled example's main
check, the agent check, the scaffold's first check on `echo`) with a release build on a fresh
clone of HEAD, writes what they did to `docs/figures.json`, and puts each value between its
markers in README.md. `tests/integration/project.rs` fails when the README and the JSON
disagree, or when the README quotes a figure the JSON does not have.

Usage: python3 scripts/readme_figures.py   (PROMPTGATE_BIN=PATH to use another build;
PROMPTGATE_MODEL_DIR is where the bundled model is kept, default target/models).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("PROMPTGATE_BIN") or os.path.join(ROOT, "target", "release", "promptgate")
MARKER = re.compile(r"<!-- figure:([a-z0-9_.]+) -->(.*?)<!-- /figure -->")


def run(args, cwd, codes=(0,), env=None):
    """Runs promptgate (or any command) in `cwd`; returns its stdout, failing on another exit code."""
    full_env = dict(os.environ)
    full_env.setdefault("PROMPTGATE_MODEL_DIR", os.path.join(ROOT, "target", "models"))
    full_env.pop("CI", None)
    full_env.update(env or {})
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=full_env)
    if done.returncode not in codes:
        sys.exit(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def check(cwd, args, codes):
    """A check's report, from `--json`, with no cache (every figure is a first run)."""
    return json.loads(run([BIN, "check", *args, "--json", "--no-cache"], cwd, codes))


def dry_calls(cwd, args):
    """The first samples' calls and their judge calls, from the dry run of the same check."""
    estimates = json.loads(run([BIN, "check", *args, "--dry-run", "--json", "--no-cache"], cwd))
    return sum(e["calls"] for e in estimates), sum(e["judge_calls"] for e in estimates)


def confirmed(report):
    """Calls the confirmation rounds made, across the suites."""
    return sum(
        (s.get("statistics") or {}).get("extra_calls", {}).get("confirm", 0)
        for c in report["candidates"]
        for s in c["suites"]
    )


def passing(report, label, suite):
    """`passed/total` cases of `suite` on the candidate `label` (every sample passed)."""
    for c in report["candidates"]:
        if c["label"] != label:
            continue
        for s in c["suites"]:
            if s["name"] == suite:
                cases = s["cases"]
                passed = sum(1 for k in cases if k["candidate"]["pass_rate"] == 1.0)
                return f"{passed} of {len(cases)}"
    sys.exit(f"no suite {suite} of {label} in the report")


def example(figures, work):
    clone = os.path.join(work, "example")
    subprocess.run(["git", "clone", "--quiet", ROOT, clone], check=True)
    main = ["--all", "--suite", "triage", "--suite", "reply", "--suite", "extract",
            "--candidate", "worktree", "--candidate", "triage.terse"]
    first, judged = dry_calls(clone, main)
    report = check(clone, main, (10,))
    terse = next(c for c in report["candidates"] if c["label"].endswith("triage.terse"))
    figures["main.calls"] = report["totals"]["calls"]
    figures["main.suite_calls"] = first
    figures["main.confirm_calls"] = confirmed(report)
    figures["main.judge_calls"] = report["totals"]["calls"] - first - confirmed(report)
    figures["main.judge_first_calls"] = judged
    figures["main.terse_broken"] = sum(
        1 for s in terse["suites"] for k in s["cases"] if k["status"] == "regressed"
    )
    for prompt, suite in [("support/triage", "triage"), ("support/reply", "reply"),
                          ("extract/order", "extract")]:
        figures[f"main.{suite}_passing"] = passing(report, f"{prompt}@worktree", suite)
    agent = check(clone, ["support/agent", "--candidate", "support/agent.no-limit"], (10,))
    figures["agent.calls"] = agent["totals"]["calls"]


def scaffold(figures, work):
    repo = os.path.join(work, "scaffold")
    os.makedirs(repo)
    subprocess.run(["git", "init", "--quiet", repo], check=True)
    for key, value in [("user.name", "Figures"), ("user.email", "figures@example.com")]:
        subprocess.run(["git", "-C", repo, "config", key, value], check=True)
    run([BIN, "init"], repo)
    config = os.path.join(repo, "promptgate.yaml")
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:
        f.write(re.sub(r"(?m)^default_provider: \S+", "default_provider: echo", text, count=1))
    subprocess.run(["git", "-C", repo, "add", "-A"], check=True)
    subprocess.run(["git", "-C", repo, "commit", "--quiet", "-m", "promptgate"], check=True)
    prompt = os.path.join(repo, "prompts", "greet.prompt")
    with open(prompt, "a") as f:
        f.write("Keep it short.\n")
    report = check(repo, [], (0, 10))
    figures["scaffold.calls"] = report["totals"]["calls"]


def write(figures):
    with open(os.path.join(ROOT, "docs", "figures.json"), "w") as f:
        json.dump(figures, f, indent=2, sort_keys=True)
        f.write("\n")
    readme = os.path.join(ROOT, "README.md")
    with open(readme) as f:
        text = f.read()
    missing = sorted({m.group(1) for m in MARKER.finditer(text)} - set(figures))
    if missing:
        sys.exit(f"the README quotes figures this script does not make: {', '.join(missing)}")
    text = MARKER.sub(
        lambda m: f"<!-- figure:{m.group(1)} -->{figures[m.group(1)]}<!-- /figure -->", text
    )
    with open(readme, "w") as f:
        f.write(text)


def main():
    if not os.access(BIN, os.X_OK):
        sys.exit(f"no promptgate build at {BIN}: run `cargo build --release`, or set PROMPTGATE_BIN")
    figures = {}
    work = tempfile.mkdtemp(prefix="promptgate-figures-")
    try:
        scaffold(figures, work)
        example(figures, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write(figures)
    print(json.dumps(figures, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
