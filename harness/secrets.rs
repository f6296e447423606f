//! Credentials in text, found by a maintained ruleset and replaced before anything is stored.
//!
//! The ruleset is gitleaks' default configuration (`secrets/gitleaks.json`, converted from its
//! `config/gitleaks.toml` by `secrets/update.py`; MIT licensed, see `secrets/LICENSE-gitleaks`):
//! some 200 credential formats, each with the keywords that must appear for it to be tried, the
//! capture group that is the secret, an entropy floor and allowlists of known placeholders. A
//! few formats it leaves to scanners of files are added here: credentials in a URL's user
//! part (`postgres://user:password@host`) and `Authorization: Basic|Bearer` values.
//!
//! Text is scanned once for every rule's keywords (one automaton over all of them), and only
//! the rules whose keywords appear are run; each rule's regex is compiled the first time it is.

use std::ops::Range;
use std::sync::{LazyLock, OnceLock};

use aho_corasick::AhoCorasick;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

/// What a credential is replaced with.
pub(crate) const REDACTED: &str = "[redacted credential]";

/// The ruleset as `secrets/gitleaks.json` stores it.
#[derive(Deserialize)]
struct Stored {
    allow: StoredAllow,
    rules: Vec<StoredRule>,
}

#[derive(Deserialize)]
struct StoredRule {
    id: String,
    regex: String,
    group: usize,
    entropy: f64,
    keywords: Vec<String>,
    allow: Vec<StoredAllow>,
}

#[derive(Deserialize)]
struct StoredAllow {
    #[serde(default = "secret_target")]
    target: String,
    regexes: Vec<String>,
    stopwords: Vec<String>,
}

fn secret_target() -> String {
    "secret".into()
}

/// What an allowlist's regexes are matched against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The secret alone.
    Secret,
    /// The rule's whole match.
    Match,
    /// The line the match is on.
    Line,
}

/// Known placeholders that are not credentials.
struct Allow {
    target: Target,
    regexes: Vec<Regex>,
    stopwords: Vec<String>,
}

impl Allow {
    fn of(stored: StoredAllow) -> Self {
        Self {
            target: match stored.target.as_str() {
                "match" => Target::Match,
                "line" => Target::Line,
                _ => Target::Secret,
            },
            regexes: stored.regexes.iter().filter_map(|r| compile(r)).collect(),
            stopwords: stored
                .stopwords
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether the finding (`secret`, in `found`, on `line`) is allowed.
    fn allows(&self, secret: &str, found: &str, line: &str) -> bool {
        let target = match self.target {
            Target::Secret => secret,
            Target::Match => found,
            Target::Line => line,
        };
        if self.regexes.iter().any(|r| r.is_match(target)) {
            return true;
        }
        let secret = secret.to_ascii_lowercase();
        self.stopwords.iter().any(|w| secret.contains(w.as_str()))
    }
}

/// One credential format.
struct Rule {
    #[cfg_attr(not(test), expect(dead_code, reason = "named when a test fails"))]
    id: String,
    pattern: String,
    regex: OnceLock<Option<Regex>>,
    group: usize,
    entropy: f64,
    allow: Vec<Allow>,
    /// Whether gitleaks' global allowlist of placeholders applies (to its own rules; the ones
    /// added here redact whatever they match: a redacted placeholder costs nothing).
    global_allow: bool,
}

impl Rule {
    fn regex(&self) -> Option<&Regex> {
        self.regex.get_or_init(|| compile(&self.pattern)).as_ref()
    }

    /// The spans of the secrets this rule finds in `text`, allowlists and entropy applied.
    fn find(&self, text: &str, global: &Allow, spans: &mut Vec<Range<usize>>) {
        let Some(regex) = self.regex() else {
            return;
        };
        for captures in regex.captures_iter(text) {
            let whole = captures.get(0).expect("a match has group 0");
            // The secret is the rule's group, else its first non-empty one, else the match.
            let secret = match self.group {
                0 => captures
                    .iter()
                    .skip(1)
                    .flatten()
                    .find(|g| !g.is_empty())
                    .unwrap_or(whole),
                n => match captures.get(n) {
                    Some(group) => group,
                    None => continue,
                },
            };
            if self.entropy > 0.0 && entropy(secret.as_str()) <= self.entropy {
                continue;
            }
            let line = line_around(text, whole.range());
            let allowed = std::iter::once(global)
                .filter(|_| self.global_allow)
                .chain(&self.allow)
                .any(|a| a.allows(secret.as_str(), whole.as_str(), line));
            if !allowed {
                spans.push(secret.range());
            }
        }
    }
}

/// The ruleset, compiled.
struct Ruleset {
    rules: Vec<Rule>,
    /// Every rule's keywords, lowercase, as one automaton; `owners[i]` are the rules of
    /// keyword `i`.
    keywords: AhoCorasick,
    owners: Vec<Vec<usize>>,
    /// Rules without keywords: always run.
    always: Vec<usize>,
    global: Allow,
}

static RULESET: LazyLock<Ruleset> = LazyLock::new(|| {
    let stored: Stored = serde_json::from_str(include_str!("secrets/gitleaks.json"))
        .expect("the embedded ruleset is valid JSON");
    let own = OWN_RULES.iter().map(|(id, pattern, keywords)| StoredRule {
        id: id.to_string(),
        regex: pattern.to_string(),
        group: 1,
        entropy: 0.0,
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        allow: Vec::new(),
    });
    let mut rules = Vec::new();
    let mut by_rule: Vec<Vec<String>> = Vec::new();
    let theirs = stored.rules.len();
    for (i, rule) in stored.rules.into_iter().chain(own).enumerate() {
        by_rule.push(rule.keywords);
        rules.push(Rule {
            id: rule.id,
            pattern: rule.regex,
            regex: OnceLock::new(),
            group: rule.group,
            entropy: rule.entropy,
            allow: rule.allow.into_iter().map(Allow::of).collect(),
            global_allow: i < theirs,
        });
    }
    let mut words: Vec<String> = Vec::new();
    let mut owners: Vec<Vec<usize>> = Vec::new();
    let mut always = Vec::new();
    for (rule, kws) in by_rule.iter().enumerate() {
        if kws.is_empty() {
            always.push(rule);
        }
        for kw in kws {
            match words.iter().position(|w| w == kw) {
                Some(at) => owners[at].push(rule),
                None => {
                    words.push(kw.clone());
                    owners.push(vec![rule]);
                }
            }
        }
    }
    Ruleset {
        rules,
        keywords: AhoCorasick::new(&words).expect("keywords build an automaton"),
        owners,
        always,
        global: Allow::of(stored.allow),
    }
});

/// Formats the gitleaks ruleset leaves to file scanners, or matches only in their issued
/// shape (any `sk-` key of the OpenAI and Anthropic styles, as the `api-keys` pattern set
/// finds them): (id, regex with the secret as group 1, lowercase keywords).
const OWN_RULES: [(&str, &str, &[&str]); 3] = [
    (
        "sk-key",
        r"\b(sk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})",
        &["sk-"],
    ),
    (
        "url-credentials",
        r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s/:@]{1,100}:([^\s/@]{1,200})@[^\s/@]",
        &["://"],
    ),
    (
        "authorization-header",
        r"(?i)\b(?:basic|bearer)\s+([A-Za-z0-9._~+/-]{8,}=*)",
        &["basic", "bearer"],
    ),
];

/// `text` with every credential the ruleset finds replaced by [`REDACTED`].
pub(crate) fn redact(text: &str) -> String {
    let spans = spans(text);
    if spans.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        out.push_str(&text[at..span.start]);
        out.push_str(REDACTED);
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The id of the first credential format found in `text`, if any.
#[cfg(test)]
fn found(text: &str) -> Option<&'static str> {
    let ruleset = &*RULESET;
    candidates(ruleset, text).into_iter().find_map(|i| {
        let mut spans = Vec::new();
        ruleset.rules[i].find(text, &ruleset.global, &mut spans);
        (!spans.is_empty()).then(|| ruleset.rules[i].id.as_str())
    })
}

/// The rules whose keywords appear in `text` (and those without keywords), in rule order.
fn candidates(ruleset: &Ruleset, text: &str) -> Vec<usize> {
    let lower = text.to_ascii_lowercase();
    let mut chosen: Vec<usize> = ruleset.always.clone();
    for hit in ruleset.keywords.find_overlapping_iter(&lower) {
        chosen.extend(&ruleset.owners[hit.pattern().as_usize()]);
    }
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// The credentials' spans in `text`, sorted and merged where they overlap.
fn spans(text: &str) -> Vec<Range<usize>> {
    let ruleset = &*RULESET;
    let mut spans = Vec::new();
    for rule in candidates(ruleset, text) {
        ruleset.rules[rule].find(text, &ruleset.global, &mut spans);
    }
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// A rule's pattern compiled, or `None` when this regex engine cannot take it.
fn compile(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(pattern).size_limit(64 << 20).build().ok()
}

/// The line of `text` that holds `range`'s start.
fn line_around(text: &str, range: Range<usize>) -> &str {
    let start = text[..range.start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[range.end..]
        .find('\n')
        .map_or(text.len(), |i| range.end + i);
    &text[start..end]
}

/// The Shannon entropy of `text`'s bytes, in bits per byte (as gitleaks measures it).
fn entropy(text: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in text.bytes() {
        counts[b as usize] += 1;
    }
    let n = text.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Credentials in real formats (made up, never issued): `fixtures/secrets/corpus.jsonl`,
    /// which the integration tests plant in every input a run reads too.
    /// (format, the text planted, the value in it that must not survive).
    fn corpus() -> Vec<(String, String, String)> {
        include_str!("../fixtures/secrets/corpus.jsonl")
            .lines()
            .map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).unwrap();
                let field = |k: &str| entry[k].as_str().unwrap().to_string();
                (field("format"), field("secret"), field("value"))
            })
            .collect()
    }

    #[test]
    fn every_rule_of_the_ruleset_compiles() {
        let failing: Vec<&str> = RULESET
            .rules
            .iter()
            .filter(|r| r.regex().is_none())
            .map(|r| r.id.as_str())
            .collect();
        assert!(failing.is_empty(), "rules that do not compile: {failing:?}");
        assert!(RULESET.rules.len() > 200);
    }

    #[test]
    fn every_credential_of_the_corpus_is_redacted_whole() {
        for (format, secret, value) in corpus() {
            let text = format!("before {secret} after");
            let redacted = redact(&text);
            assert!(redacted.contains(REDACTED), "{format}: {redacted}");
            // Not the value, nor any 12 characters of it (no line of a multi-line key).
            for window in value.as_bytes().windows(12) {
                let run = String::from_utf8_lossy(window);
                assert!(
                    !redacted.contains(&*run),
                    "{format}: `{run}` survived in {redacted}"
                );
            }
            assert!(
                redacted.starts_with("before ") && redacted.ends_with(" after"),
                "{format}: {redacted}"
            );
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "Dear Ana, about your late parcel: we are on it.",
            "The API key field is optional; see the docs at https://example.com/docs.",
            "password: ********",
            "token = ${API_TOKEN}",
            "Order 12345 ships on Monday.",
        ] {
            assert_eq!(redact(text), text, "{:?}", found(text));
        }
    }

    #[test]
    fn entropy_is_measured_in_bits_per_byte() {
        assert_eq!(entropy("aaaa"), 0.0);
        assert!((entropy("abcd") - 2.0).abs() < 1e-12);
    }
}
