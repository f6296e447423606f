"""Writes gitleaks.json, the credential ruleset `secrets.rs` embeds, from gitleaks' default
configuration (config/gitleaks.toml of a gitleaks checkout, MIT licensed; see LICENSE-gitleaks).

    python3 harness/secrets/update.py PATH/TO/gitleaks/config/gitleaks.toml COMMIT

Only what applies to text is kept: rules scoped to file paths, and allowlists that need a path,
are left out (promptgate redacts text, not files).
"""

import json
import pathlib
import sys
import tomllib


def allowlist(entry):
    """A rule's allowlist without its path parts; None when it needs a path to apply."""
    if entry.get("paths") and entry.get("condition", "OR").upper() == "AND":
        return None
    kept = {
        "target": entry.get("regexTarget", "secret"),
        "regexes": entry.get("regexes", []),
        "stopwords": entry.get("stopwords", []),
    }
    return kept if kept["regexes"] or kept["stopwords"] else None


def main(source, commit):
    config = tomllib.loads(pathlib.Path(source).read_text())
    rules = []
    for rule in config["rules"]:
        if "regex" not in rule or "path" in rule:
            continue
        allows = [a for a in map(allowlist, rule.get("allowlists", [])) if a]
        rules.append(
            {
                "id": rule["id"],
                "regex": rule["regex"],
                "group": rule.get("secretGroup", 0),
                "entropy": rule.get("entropy", 0.0),
                "keywords": [k.lower() for k in rule.get("keywords", [])],
                "allow": allows,
            }
        )
    top = config.get("allowlist", {})
    out = {
        "source": f"gitleaks config/gitleaks.toml at {commit} (MIT License)",
        "allow": {"regexes": top.get("regexes", []), "stopwords": top.get("stopwords", [])},
        "rules": rules,
    }
    target = pathlib.Path(__file__).with_name("gitleaks.json")
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(rules)} rules written to {target}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
