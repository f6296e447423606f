//! `index.html`: one self-contained page for reviewers.
//!
//! Everything from a prompt, a suite or a model is escaped for its context, and nothing from a
//! model becomes markup: the header, prompt diffs and charts are rendered here with escaping, and
//! the cases travel as JSON data that the page's script renders with `textContent` only. A
//! Content-Security-Policy allows exactly the page's own style and script (by hash) and nothing
//! else: no network, no images, no other scripts.

use std::fmt::Write;

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use similar::{DiffTag as OpTag, TextDiff};

use super::{CaseReport, CheckReport, SideReport, SuiteReport};
use crate::compare::{CaseStatus, DiffTag, word_diff};

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// Characters of one output shown in the page; the results log keeps the full text.
pub const MAX_OUTPUT_CHARS: usize = 4_000;

/// Escapes text for HTML element content and quoted attribute values alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn csp_hash(source: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(source.as_bytes()))
}

/// One case as the page's script reads it (short keys keep large reports small).
#[derive(Serialize)]
struct PageCase<'a> {
    key: String,
    /// Index of the candidate in `PageData::candidates`.
    ci: usize,
    suite: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    desc: Option<&'a str>,
    status: &'static str,
    /// The status as the suite's kind reads it (`new attack success` in an adversarial suite).
    label: &'static str,
    base: PageSide,
    #[serde(rename = "cand")]
    cand_side: PageSide,
    /// Word diff of the first samples as `[tag, text]` with tags `e`, `d`, `i`; `None` when a
    /// side has no output.
    diff: Option<Vec<(&'static str, String)>>,
    /// A conversation's first step where the two trajectories differ (1-based).
    step: Option<usize>,
}

#[derive(Serialize)]
struct PageSide {
    rate: Option<f64>,
    n: usize,
    lat: u64,
    tok: u64,
    cost: Option<f64>,
    err: Option<String>,
    /// The output when there is no diff to show it in.
    out: Option<String>,
    cut: bool,
    asserts: Vec<(String, bool, String)>,
}

#[derive(Serialize)]
struct PageData<'a> {
    candidates: Vec<String>,
    suites: Vec<&'a str>,
    cases: PageCases<'a>,
}

/// The page's cases in the order they are shown, each built only as it is serialized, so the
/// page data of 100,000 cases is never held whole.
struct PageCases<'a>(Vec<(usize, &'a SuiteReport, &'a CaseReport, String)>);

impl Serialize for PageCases<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for (cand, suite, case, key) in &self.0 {
            seq.serialize_element(&page_case(*cand, suite, case, key.clone()))?;
        }
        seq.end()
    }
}

/// Writes JSON into a `<script>` element: `<`, `>` and `&` as `\u003c`, `\u003e` and
/// `\u0026` (which JSON reads back as the same characters), so no output can close the element.
struct ScriptSafe<'w>(&'w mut dyn std::io::Write);

impl std::io::Write for ScriptSafe<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut start = 0;
        for (i, byte) in buf.iter().enumerate() {
            let escaped: &[u8] = match byte {
                b'<' => b"\\u003c",
                b'>' => b"\\u003e",
                b'&' => b"\\u0026",
                _ => continue,
            };
            self.0.write_all(&buf[start..i])?;
            self.0.write_all(escaped)?;
            start = i + 1;
        }
        self.0.write_all(&buf[start..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn cut(text: &str) -> (String, bool) {
    match text.char_indices().nth(MAX_OUTPUT_CHARS) {
        Some((i, _)) => (text[..i].to_string(), true),
        None => (text.to_string(), false),
    }
}

fn page_side(side: &SideReport, with_output: bool) -> PageSide {
    let first = side.samples.first();
    let (out, was_cut) = first
        .and_then(|s| s.output.as_deref())
        .map(cut)
        .unwrap_or_default();
    let n = side.samples.len().max(1) as u64;
    PageSide {
        rate: side.pass_rate,
        n: side.samples.len(),
        lat: side.samples.iter().map(|s| s.latency_ms).sum::<u64>() / n,
        tok: side.samples.iter().map(|s| s.tokens).sum(),
        cost: side.samples.iter().map(|s| s.cost).sum(),
        err: side.samples.iter().find_map(|s| s.error.clone()),
        out: with_output.then_some(out),
        cut: was_cut,
        asserts: first
            .map(|s| {
                s.assertions
                    .iter()
                    .map(|a| (a.kind.clone(), a.pass, a.reason.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn page_case<'a>(
    cand: usize,
    suite: &'a SuiteReport,
    case: &'a CaseReport,
    key: String,
) -> PageCase<'a> {
    let output = |side: &SideReport| {
        side.samples
            .first()
            .and_then(|s| s.output.as_deref())
            .map(|o| cut(o).0)
    };
    // Two outputs that share no word are shown as they are: a diff would strike the whole
    // baseline through, passing or not.
    let spans = match (output(&case.baseline), output(&case.candidate)) {
        (Some(b), Some(c)) => Some(word_diff(&b, &c)),
        _ => None,
    };
    let diff = spans
        .filter(|spans| {
            spans
                .iter()
                .any(|s| s.tag == DiffTag::Equal && !s.text.trim().is_empty())
        })
        .map(|spans| {
            spans
                .into_iter()
                .map(|span| {
                    let tag = match span.tag {
                        DiffTag::Equal => "e",
                        DiffTag::Delete => "d",
                        DiffTag::Insert => "i",
                    };
                    (tag, span.text)
                })
                .collect()
        });
    let with_output = diff.is_none();
    PageCase {
        key,
        ci: cand,
        suite: &suite.name,
        id: &case.id,
        desc: case.description.as_deref().or(case.category.as_deref()),
        status: case.status.as_str(),
        label: super::status_label(suite.kind, case.status),
        base: page_side(&case.baseline, with_output),
        cand_side: page_side(&case.candidate, with_output),
        diff,
        step: case.first_divergence(),
    }
}

/// An anchor-safe key, unique within the page.
fn anchor(
    cand: usize,
    suite: &str,
    id: &str,
    seen: &mut std::collections::HashSet<String>,
) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let base = format!("c{cand}-{}-{}", clean(suite), clean(id));
    let mut key = base.clone();
    let mut n = 1;
    while !seen.insert(key.clone()) {
        n += 1;
        key = format!("{base}-{n}");
    }
    key
}

/// Renders the whole page.
pub fn render_html(report: &CheckReport) -> String {
    let mut page = Vec::new();
    // Writing into memory cannot fail, and the page is UTF-8 throughout.
    let _ = write_html(report, &mut page);
    String::from_utf8(page).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes the whole page to `out`, the cases' data streamed as it is serialized.
pub(crate) fn write_html(
    report: &CheckReport,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut cases = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut suites: Vec<&str> = Vec::new();
    let mut regressed: Vec<Regressed<'_>> = Vec::new();
    for (ci, c) in report.candidates.iter().enumerate() {
        for s in &c.suites {
            if !suites.contains(&s.name.as_str()) {
                suites.push(&s.name);
            }
            for case in &s.cases {
                let key = anchor(ci, &s.name, &case.id, &mut seen);
                if case.status == CaseStatus::Regressed {
                    regressed.push(Regressed {
                        candidate: &c.label,
                        suite: s,
                        case,
                        key: key.clone(),
                    });
                }
                cases.push((ci, s, case, key));
            }
        }
    }
    cases.sort_by_key(|(_, _, case, _)| case.status);
    let data = PageData {
        candidates: report.candidates.iter().map(|c| c.label.clone()).collect(),
        suites,
        cases: PageCases(cases),
    };

    let mut h = String::with_capacity(64 * 1024);
    let verdict = super::headline(report.verdict, report.complete);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; img-src 'none'; base-uri 'none'; form-action 'none'\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>promptgate {} · {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        csp_hash(JS),
        csp_hash(CSS),
        escape(&verdict.to_uppercase()),
        escape(report.run_id.as_str()),
    );
    header(&mut h, report);
    h.push_str("<main>\n");
    regressions(&mut h, &regressed);
    suites_table(&mut h, report);
    traffic(&mut h, report);
    charts(&mut h, report);
    prompt_diffs(&mut h, report);
    h.push_str(
        "<h2>Cases</h2>\n<div class=\"controls\">\
         <label>status <select id=\"f-status\"><option value=\"all\">all</option><option value=\"changed\">changed</option>\
         <option value=\"regressed\">regressed</option><option value=\"error\">error</option><option value=\"fixed\">fixed</option>\
         <option value=\"unchanged-pass\">unchanged-pass</option><option value=\"unchanged-fail\">unchanged-fail</option><option value=\"skipped\">skipped</option></select></label>\
         <label>suite <select id=\"f-suite\"><option value=\"all\">all</option></select></label>\
         <input type=\"search\" id=\"f-search\" placeholder=\"search ids, outputs, errors\">\
         <span id=\"f-count\" class=\"meta\"></span></div>\n<div id=\"cases\"></div>\n<div id=\"pager\" class=\"pager\"></div>\n",
    );
    // What readiness found is about the prompt, not this change: after the cases.
    readiness(&mut h, report);
    h.push_str("</main>\n");
    h.push_str("<script type=\"application/json\" id=\"case-data\">");
    out.write_all(h.as_bytes())?;
    serde_json::to_writer(ScriptSafe(out), &data).map_err(std::io::Error::other)?;
    write!(out, "</script>\n<script>{JS}</script>\n</body>\n</html>\n")
}

/// A regressed case, for the list at the top of the page.
struct Regressed<'a> {
    candidate: &'a str,
    suite: &'a SuiteReport,
    case: &'a CaseReport,
    key: String,
}

/// Most regressed cases listed at the top before the list is cut.
const MAX_REGRESSED: usize = 12;

/// The regressed cases first, each with what failed first, linked to its diff below.
fn regressions(h: &mut String, regressed: &[Regressed<'_>]) {
    if regressed.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<h2>Regressed ({})</h2>\n<table>\n<tr><th>candidate</th><th>suite</th><th>case</th><th>first failure</th></tr>\n",
        regressed.len()
    );
    for r in regressed.iter().take(MAX_REGRESSED) {
        let (failure, _) = cut(&r.case.first_failure().unwrap_or_default());
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td><a href=\"#case={}\"><code>{}</code></a> <span class=\"meta\">{}</span></td><td class=\"failure\">{}</td></tr>",
            escape(r.candidate),
            escape(&r.suite.name),
            escape(&r.key),
            escape(&r.case.id),
            escape(super::status_label(r.suite.kind, CaseStatus::Regressed)),
            escape(&failure),
        );
    }
    h.push_str("</table>\n");
    if regressed.len() > MAX_REGRESSED {
        let _ = writeln!(
            h,
            "<p class=\"meta\">…and {} more under Cases (status: regressed).</p>",
            regressed.len() - MAX_REGRESSED
        );
    }
}

fn header(h: &mut String, report: &CheckReport) {
    let class = super::headline(report.verdict, report.complete);
    let t = &report.totals;
    let _ = write!(
        h,
        "<header>\n<h1>promptgate <span class=\"verdict {class}\">{}</span>{}</h1>\n\
         <div class=\"meta\">run <code>{}</code> · started {} · {} · {} · {} · {} · {} · {} · <a href=\"../index.html\">all runs</a></div>\n",
        escape(class),
        match &report.incomplete {
            Some(why) if !report.complete =>
                format!(" <span class=\"meta\">{}</span>", escape(why)),
            _ => String::new(),
        },
        escape(report.run_id.as_str()),
        escape(&report.started_at),
        super::duration(report.duration_ms),
        super::plural(t.cases, "case comparison"),
        super::plural(t.calls, "call"),
        super::plural(t.errors, "error"),
        escape(&t.tokens_shown()),
        super::dollars(t.cost),
    );
    h.push_str("<table>\n<tr><th>candidate</th><th>verdict</th><th>baseline</th><th>candidate version</th><th>reasons</th></tr>\n");
    // Prompts whose content did not change and that pass are one row, not one each (in a
    // complete run: an incomplete one shows each as it stands).
    let unchanged = |c: &&super::CandidateReport| {
        report.complete
            && c.baseline.hash == c.candidate.hash
            && c.verdict == crate::gate::Verdict::Pass
            && c.reasons.is_empty()
            && c.warnings.is_empty()
            && !c.suites.is_empty()
    };
    let quiet: Vec<&str> = report
        .candidates
        .iter()
        .filter(unchanged)
        .map(|c| c.label.as_str())
        .collect();
    for c in report
        .candidates
        .iter()
        .filter(|c| !unchanged(c) || quiet.len() == 1)
    {
        let reasons: String = if c.reasons.is_empty() && c.warnings.is_empty() {
            "none".into()
        } else if c.reasons.is_empty() {
            String::new()
        } else {
            let items: String = c
                .reasons
                .iter()
                .map(|r| {
                    format!(
                        "<li title=\"{}: observed {}, limit {}\">suite <code>{}</code>: {}</li>",
                        escape(&r.metric),
                        r.observed
                            .map_or_else(|| "unknown".into(), |o| format!("{o:.4}")),
                        r.limit,
                        escape(&r.suite),
                        escape(&r.message)
                    )
                })
                .collect();
            format!("<ul class=\"reasons\">{items}</ul>")
        };
        let warnings: String = c
            .warnings
            .iter()
            .map(|w| {
                format!(
                    "<p class=\"warning\">warning, suite <code>{}</code>: {}</p>",
                    escape(&w.suite),
                    escape(&w.message)
                )
            })
            .collect();
        let reasons = reasons + &warnings;
        let version = |v: &crate::store::Version| {
            format!(
                "<code>{}</code><br><span class=\"meta\">{} · content {}</span>",
                escape(&v.label()),
                v.commit.as_deref().map_or_else(
                    || "working tree".to_string(),
                    |c| format!("commit {}", escape(&c[..12.min(c.len())]))
                ),
                escape(v.hash.short()),
            )
        };
        let providers: Vec<String> = c.suites.iter().map(|s| s.provider.clone()).collect();
        let provider = match providers.is_empty() {
            true => "no suite ran".to_string(),
            false => format!("provider {}", super::ordered(&providers).join(", ")),
        };
        let headline = super::candidate_headline(c, report.complete);
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code><br><span class=\"meta\">{}</span></td><td><span class=\"verdict {}\">{}</span></td><td>{}</td><td>{}</td><td>{reasons}</td></tr>",
            escape(&c.label),
            escape(&provider),
            match c.suites.is_empty() {
                true => "unchecked",
                false => headline,
            },
            headline,
            version(&c.baseline),
            version(&c.candidate),
        );
    }
    if quiet.len() > 1 {
        let _ = writeln!(
            h,
            "<tr class=\"unchanged\"><td colspan=\"5\"><span class=\"verdict pass\">pass</span> {} unchanged prompts (the same content on both sides): {}</td></tr>",
            quiet.len(),
            escape(&quiet.join(", "))
        );
    }
    h.push_str("</table>\n</header>\n");
}

fn suites_table(h: &mut String, report: &CheckReport) {
    h.push_str(
        "<h2>Suites</h2>\n<table>\n<tr><th>candidate</th><th>suite</th><th>verdict</th><th>provider and parameters</th><th>first samples per case</th><th class=\"num\">baseline pass</th><th class=\"num\">candidate pass</th>\
         <th class=\"num\">delta</th><th class=\"num\">regressed</th><th class=\"num\">fixed</th><th class=\"num\">errors</th>\
         <th class=\"num\">latency (ms)</th><th class=\"num\">tokens</th><th class=\"num\">cost</th></tr>\n",
    );
    for c in &report.candidates {
        for s in &c.suites {
            let cmp = &s.comparison;
            let verdict = super::headline(c.suite_verdict(s), report.complete);
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td><span class=\"verdict {verdict}\">{verdict}</span></td><td><code>{}</code><br><span class=\"meta\">temperature {} · top_p {} · max_tokens {} · seed {}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.0} → {:.0}</td><td class=\"num\">{} → {}</td><td class=\"num\">{} → {}</td></tr>",
                escape(&c.label),
                escape(&s.name),
                escape(&s.provider),
                s.params.temperature,
                s.params.top_p,
                s.params.max_tokens,
                s.params.seed,
                s.samples,
                super::percent(cmp.baseline.pass_rate),
                super::percent(cmp.candidate.pass_rate),
                super::points(cmp.pass_rate_delta),
                cmp.regressed,
                cmp.fixed,
                cmp.errors,
                cmp.baseline.mean_latency_ms,
                cmp.candidate.mean_latency_ms,
                cmp.baseline.tokens,
                cmp.candidate.tokens,
                super::dollars(cmp.baseline.cost),
                super::dollars(cmp.candidate.cost),
            );
            if let Some(stats) = &s.statistics {
                let _ = writeln!(
                    h,
                    "<tr><td></td><td colspan=\"13\" class=\"meta\">{}</td></tr>",
                    escape(&super::statistics_line(stats))
                );
            }
            for rates in &s.attacks {
                let _ = writeln!(
                    h,
                    "<tr class=\"attack\"><td></td><td colspan=\"13\" class=\"meta\">{}</td></tr>",
                    escape(&super::attack_line(rates))
                );
            }
            if let Some(drift) = &s.drift {
                let _ = writeln!(
                    h,
                    "<tr class=\"drift\"><td></td><td colspan=\"13\" class=\"meta\">{}</td></tr>",
                    escape(&super::drift_line(drift))
                );
            }
        }
    }
    h.push_str("</table>\n");
}

/// Where a shadow run's traffic came from, and what was left out of it.
fn traffic(h: &mut String, report: &CheckReport) {
    if let Some(traffic) = &report.traffic {
        let _ = writeln!(
            h,
            "<p class=\"meta\">{}</p>",
            escape(&super::traffic_line(traffic))
        );
    }
}

/// Each compared prompt's readiness scores, with the facts that decided them.
fn readiness(h: &mut String, report: &CheckReport) {
    if report.readiness.is_empty() {
        return;
    }
    h.push_str("<h2>Production readiness</h2>\n<table>\n<tr><th>prompt</th><th>dimension</th><th class=\"num\">score</th><th>facts</th></tr>\n");
    for a in &report.readiness {
        let verdict = match (a.required, a.short.is_empty()) {
            (Some((total, each)), true) => format!("{}/20, meets {total} (each ≥ {each})", a.total),
            (Some(_), false) => format!("{}/20, not ready: {}", a.total, a.short.join("; ")),
            (None, _) => format!("{}/20", a.total),
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"mono\" rowspan=\"{}\">{}<br><span class=\"meta\">{}</span></td>",
            a.scores.len(),
            escape(&a.prompt),
            escape(&verdict)
        );
        for (i, s) in a.scores.iter().enumerate() {
            if i > 0 {
                h.push_str("<tr>");
            }
            let facts: Vec<String> = s
                .facts
                .iter()
                .map(|f| {
                    let raise = if f.raise.is_empty() {
                        String::new()
                    } else {
                        format!(" → {}", escape(&f.raise))
                    };
                    format!(
                        "{} {}{raise}",
                        if f.holds { "✓" } else { "✗" },
                        escape(&f.found)
                    )
                })
                .collect();
            let _ = writeln!(
                h,
                "<td>{}</td><td class=\"num\">{}/5</td><td>{}</td></tr>",
                s.dimension.as_str(),
                s.score,
                facts.join("<br>")
            );
        }
    }
    h.push_str("</table>\n");
}

const BASE_COLOR: &str = "#8c96a8";
const CAND_COLOR: &str = "#2f6fde";

fn charts(h: &mut String, report: &CheckReport) {
    h.push_str("<h2>Charts</h2>\n<div class=\"charts\">\n");
    // Pass rate by suite: a pair of bars per candidate and suite.
    let rows: Vec<(String, Option<f64>, Option<f64>)> = report
        .candidates
        .iter()
        .flat_map(|c| {
            c.suites.iter().map(move |s| {
                (
                    format!("{} · {}", s.name, c.label),
                    s.comparison.baseline.pass_rate,
                    s.comparison.candidate.pass_rate,
                )
            })
        })
        .collect();
    let (width, label_w, bar_h) = (560.0, 220.0, 12.0);
    let height = 28.0 + rows.len() as f64 * (2.0 * bar_h + 10.0);
    let _ = write!(
        h,
        "<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"pass rate by suite\">\
         <text x=\"0\" y=\"14\" font-size=\"12\" font-weight=\"600\">Pass rate by suite</text>\
         <rect x=\"{}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{BASE_COLOR}\"/><text x=\"{}\" y=\"13\" font-size=\"11\">baseline</text>\
         <rect x=\"{}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{CAND_COLOR}\"/><text x=\"{}\" y=\"13\" font-size=\"11\">candidate</text>",
        width - 160.0,
        width - 146.0,
        width - 80.0,
        width - 66.0
    );
    let span = width - label_w - 50.0;
    for (i, (label, b, c)) in rows.iter().enumerate() {
        let y = 24.0 + i as f64 * (2.0 * bar_h + 10.0);
        let short: String = label.chars().take(34).collect();
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{}\" font-size=\"11\"><title>{}</title>{}</text>",
            y + bar_h + 3.0,
            escape(label),
            escape(&short)
        );
        for (j, (rate, color)) in [(b, BASE_COLOR), (c, CAND_COLOR)].into_iter().enumerate() {
            let yy = y + j as f64 * bar_h;
            let w = rate.unwrap_or(0.0) * span;
            let _ = write!(
                h,
                "<rect x=\"{label_w}\" y=\"{yy}\" width=\"{w:.1}\" height=\"{}\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
                bar_h - 2.0,
                label_w + w + 4.0,
                yy + bar_h - 3.0,
                super::percent(*rate)
            );
        }
    }
    h.push_str("</svg></div>\n");

    // Latency distribution of both versions over all samples.
    let latencies = |baseline: bool| -> Vec<u64> {
        report
            .candidates
            .iter()
            .flat_map(|c| &c.suites)
            .flat_map(|s| &s.cases)
            .flat_map(|k| {
                if baseline {
                    &k.baseline.samples
                } else {
                    &k.candidate.samples
                }
            })
            .filter(|s| s.error.is_none())
            .map(|s| s.latency_ms)
            .collect()
    };
    let (base, cand) = (latencies(true), latencies(false));
    let max = base.iter().chain(&cand).copied().max().unwrap_or(0).max(1);
    const BINS: usize = 12;
    let bin = |v: &[u64]| {
        let mut counts = [0usize; BINS];
        for &l in v {
            counts[((l as f64 / max as f64) * (BINS as f64 - 1.0)).round() as usize] += 1;
        }
        counts
    };
    let (bc, cc) = (bin(&base), bin(&cand));
    let peak = bc.iter().chain(&cc).copied().max().unwrap_or(1).max(1) as f64;
    let (w, hgt, plot_h) = (420.0, 190.0, 130.0);
    let _ = write!(
        h,
        "<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{hgt}\" role=\"img\" aria-label=\"latency distribution\">\
         <text x=\"0\" y=\"14\" font-size=\"12\" font-weight=\"600\">Latency per call (ms)</text>"
    );
    let col = (w - 20.0) / BINS as f64;
    for i in 0..BINS {
        for (j, (counts, color)) in [(bc, BASE_COLOR), (cc, CAND_COLOR)].into_iter().enumerate() {
            let bh = counts[i] as f64 / peak * plot_h;
            let x = 10.0 + i as f64 * col + j as f64 * col / 2.0;
            let _ = write!(
                h,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{color}\"><title>{} calls</title></rect>",
                24.0 + plot_h - bh,
                col / 2.0 - 1.0,
                counts[i]
            );
        }
    }
    let _ = write!(
        h,
        "<text x=\"10\" y=\"{}\" font-size=\"10\">0</text><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{max}</text></svg></div>\n</div>\n",
        hgt - 20.0,
        w - 10.0,
        hgt - 20.0
    );
}

fn prompt_diffs(h: &mut String, report: &CheckReport) {
    h.push_str("<h2>Prompt changes</h2>\n");
    for c in &report.candidates {
        let _ = writeln!(
            h,
            "<h3 class=\"mono\">{} → {}</h3>",
            escape(&c.baseline.label()),
            escape(&c.candidate.label())
        );
        if c.baseline.hash == c.candidate.hash {
            h.push_str("<p class=\"meta\">identical content</p>\n");
            continue;
        }
        h.push_str("<table class=\"promptdiff\">\n");
        let (before, after) = (c.baseline.text_with_tools(), c.candidate.text_with_tools());
        let diff = TextDiff::from_lines(&before, &after);
        let old: Vec<&str> = before.split_inclusive('\n').collect();
        let new: Vec<&str> = after.split_inclusive('\n').collect();
        for op in diff.ops() {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            let rows = old_range.len().max(new_range.len());
            for i in 0..rows {
                let left = old_range.clone().nth(i);
                let right = new_range.clone().nth(i);
                let class = |changed: bool, cls: &str| {
                    if changed && tag != OpTag::Equal {
                        cls.to_string()
                    } else {
                        String::new()
                    }
                };
                let _ = writeln!(
                    h,
                    "<tr><td class=\"ln\">{}</td><td class=\"{}\">{}</td><td class=\"ln\">{}</td><td class=\"{}\">{}</td></tr>",
                    left.map_or(String::new(), |l| (l + 1).to_string()),
                    class(left.is_some(), "del"),
                    left.map_or(String::new(), |l| escape(
                        old.get(l)
                            .copied()
                            .unwrap_or_default()
                            .trim_end_matches('\n')
                    )),
                    right.map_or(String::new(), |r| (r + 1).to_string()),
                    class(right.is_some(), "ins"),
                    right.map_or(String::new(), |r| escape(
                        new.get(r)
                            .copied()
                            .unwrap_or_default()
                            .trim_end_matches('\n')
                    )),
                );
            }
        }
        h.push_str("</table>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page without the parts that change with every edit of the stylesheet or script.
    fn skeleton(html: &str) -> String {
        let mut out = String::new();
        let mut rest = html;
        for (open, close, placeholder) in [
            ("<style>", "</style>", "<style>[page.css]</style>"),
            (
                "<script type=\"application/json\" id=\"case-data\">",
                "</script>",
                "<script type=\"application/json\" id=\"case-data\">[data]</script>",
            ),
            ("<script>", "</script>", "<script>[page.js]</script>"),
        ] {
            let start = rest.find(open).expect("element present");
            let end = start + rest[start..].find(close).expect("element closed") + close.len();
            out.push_str(&rest[..start]);
            out.push_str(placeholder);
            rest = &rest[end..];
        }
        out.push_str(rest);
        let csp = regex::Regex::new(r"sha256-[A-Za-z0-9+/=]+").unwrap();
        csp.replace_all(&out, "sha256-[hash]").into_owned()
    }

    #[test]
    fn page_skeleton() {
        let html = render_html(&crate::report::tests::sample_report());
        insta::assert_snapshot!(skeleton(&html));
    }

    #[test]
    fn outputs_that_share_no_word_are_shown_whole() {
        let mut report = crate::report::tests::sample_report();
        let suite = &mut report.candidates[0].suites[0];
        let case = &mut suite.cases[0];
        case.baseline.samples[0].output = Some("Refund issued.".into());
        case.candidate.samples[0].output = Some("Sorry, no.".into());
        let page = page_case(
            0,
            &report.candidates[0].suites[0],
            &report.candidates[0].suites[0].cases[0],
            "k".into(),
        );
        assert!(page.diff.is_none(), "no diff of outputs that share nothing");
        let case = &mut report.candidates[0].suites[0].cases[0];
        case.candidate.samples[0].output = Some("Refund refused.".into());
        let page = page_case(
            0,
            &report.candidates[0].suites[0],
            &report.candidates[0].suites[0].cases[0],
            "k".into(),
        );
        assert!(page.diff.is_some(), "a diff of outputs that share a word");
    }

    #[test]
    fn csp_hashes_match_the_inline_code() {
        let html = render_html(&crate::report::tests::sample_report());
        assert!(html.contains(&format!("script-src 'sha256-{}'", csp_hash(JS))));
        assert!(html.contains(&format!("<script>{JS}</script>")));
        assert!(html.contains(&format!("style-src 'sha256-{}'", csp_hash(CSS))));
    }

    #[test]
    fn escaping_covers_elements_and_attributes() {
        assert_eq!(
            escape(r#"<a href='x' title="y">&</a>"#),
            "&lt;a href=&#39;x&#39; title=&quot;y&quot;&gt;&amp;&lt;/a&gt;"
        );
        let mut written = Vec::new();
        let value = serde_json::json!({"x": "</script><script>alert(1)</script>&", "y": "é<"});
        serde_json::to_writer(ScriptSafe(&mut written), &value).unwrap();
        let json = String::from_utf8(written).unwrap();
        assert!(
            !json.contains('<') && !json.contains('>') && !json.contains('&'),
            "{json}"
        );
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["x"], "</script><script>alert(1)</script>&");
        assert_eq!(back["y"], "é<");
    }
}
