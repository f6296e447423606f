//! Rendering the reviewer's page for a 10,000-case check.
//!
//! Run with `cargo bench --bench report_html`. Besides timing the render, it writes the page to
//! `target/report-10k/index.html` so its size and load time in a browser can be measured.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use promptgate::internals::compare::{CaseStatus, SideTotals, SuiteComparison};
use promptgate::internals::config::{EffectiveParams, Tolerance};
use promptgate::internals::gate::Verdict;
use promptgate::internals::ids::{ContentHash, PromptName, RunId};
use promptgate::internals::score::AssertionResult;
use promptgate::internals::store::Version;
use promptgate::report::{
    CandidateReport, CaseReport, CheckReport, SampleReport, SideReport, SuiteReport, Totals,
    render_html,
};

const CASES: usize = 10_000;

fn side(text: String, pass: bool) -> SideReport {
    SideReport {
        pass_rate: Some(if pass { 1.0 } else { 0.0 }),
        samples: vec![SampleReport {
            output: Some(text),
            tool_calls: Vec::new(),
            trajectory: None,
            judgments: Vec::new(),
            error: None,
            latency_ms: 400,
            cost: Some(0.00002),
            tokens: 180,
            attempts: 1,
            skipped: false,
            assertions: vec![
                AssertionResult {
                    kind: "is-json".into(),
                    pass: true,
                    score: 1.0,
                    reason: String::new(),
                    advisory: false,
                },
                AssertionResult {
                    kind: "json-field".into(),
                    pass,
                    score: if pass { 1.0 } else { 0.0 },
                    reason: if pass {
                        String::new()
                    } else {
                        "`team` is \"account\", expected \"billing\"".into()
                    },
                    advisory: false,
                },
            ],
        }],
    }
}

fn report() -> CheckReport {
    let version = |rev: &str, source: &str| Version {
        name: PromptName::new("support/triage"),
        rev: rev.into(),
        commit: None,
        hash: ContentHash::of(source),
        tools: Default::default(),
        source: source.into(),
    };
    let cases: Vec<CaseReport> = (0..CASES)
        .map(|i| {
            let base = format!("{{\"topic\": \"payment {i}\", \"team\": \"billing\", \"note\": \"customer was charged twice for order {i} and wants the duplicate refunded\"}}");
            let regressed = i % 50 == 0;
            let cand = if regressed { base.replace("billing", "account") } else { base.clone() };
            CaseReport {
                id: format!("case-{i:05}"),
                description: None,
                category: None,
                status: if regressed { CaseStatus::Regressed } else { CaseStatus::UnchangedPass },
                baseline: side(base, true),
                candidate: side(cand, !regressed),
            }
        })
        .collect();
    let totals = |rate| SideTotals {
        pass_rate: Some(rate),
        cost: Some(0.2),
        mean_latency_ms: 400.0,
        tokens: 1_800_000,
        errors: 0,
        skipped: 0,
    };
    CheckReport {
        format_version: promptgate::internals::record::FORMAT_VERSION,
        promptgate: promptgate::BUILD.into(),
        run_id: RunId::parse("20261121T120000.000Z-bench0").expect("a plain id"),
        started_at: "2026-11-21T12:00:00+00:00".into(),
        duration_ms: 60_000,
        verdict: Verdict::Fail,
        complete: true,
        incomplete: None,
        totals: Totals {
            cases: CASES,
            calls: CASES + CASES / 50,
            cached: 0,
            errors: 0,
            skipped: 0,
            tokens: 3_600_000,
            estimated_tokens: 0,
            cost: Some(0.4),
        },
        traffic: None,
        readiness: Vec::new(),
        candidates: vec![CandidateReport {
            warnings: Vec::new(),
            label: "support/triage@worktree".into(),
            prompt: PromptName::new("support/triage"),
            baseline: version("HEAD", "Route to billing, bug or account.\n"),
            candidate: version("worktree", "Route to bug or account.\n"),
            verdict: Verdict::Fail,
            reasons: Vec::new(),
            on_inconclusive: promptgate::internals::config::OnInconclusive::Warn,
            control: false,
            suites: vec![SuiteReport {
                name: "triage".into(),
                kind: promptgate::internals::suite::SuiteKind::Regression,
                drift: None,
                provider: "local".into(),
                params: EffectiveParams {
                    temperature: 0.0,
                    top_p: 1.0,
                    max_tokens: 64,
                    seed: 7,
                },
                samples: 1,
                tolerance: Tolerance::default(),
                comparison: SuiteComparison {
                    cases: CASES,
                    baseline: totals(1.0),
                    candidate: totals(0.98),
                    pass_rate_delta: Some(-0.02),
                    regressed: CASES / 50,
                    fixed: 0,
                    errors: 0,
                    skipped: 0,
                },
                statistics: None,
                attacks: Vec::new(),
                cases,
            }],
        }],
    }
}

fn bench(c: &mut Criterion) {
    let report = report();
    let html = render_html(&report);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-10k");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), &html).unwrap();
    println!(
        "10,000-case page: {:.1} MB at {}",
        html.len() as f64 / 1e6,
        dir.join("index.html").display()
    );
    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    group.bench_function("render_html_10k_cases", |b| {
        b.iter(|| black_box(render_html(&report)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
