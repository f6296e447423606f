//! The reviewer's page in a real headless Chromium: hostile model output stays text, nothing
//! leaves the page, and the filters work. Also the JUnit file, parsed back.

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::Project;

/// Counts every connection made to it: the page must make none.
struct Tripwire {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Tripwire {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut stream = stream;
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
            }
        });
        Self { port, hits }
    }
}

fn chromium() -> String {
    if let Ok(path) = std::env::var("PROMPTGATE_CHROMIUM") {
        return path;
    }
    for candidate in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return candidate.to_string();
        }
    }
    panic!(
        "the browser test needs Chromium: install Debian's `chromium` (.ci/run does), or set PROMPTGATE_CHROMIUM"
    );
}

/// The DOM after the page's script ran, as headless Chromium serializes it.
fn dom(page: &std::path::Path, fragment: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}{fragment}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hostile(port: u16) -> Vec<String> {
    vec![
        "<script>document.title='PWNED'</script>".into(),
        "<img src=x onerror=\"document.title='PWNED'\">".into(),
        "<a href=\"javascript:document.title='PWNED'\">click</a>".into(),
        "</pre></div></section></script><script>document.title='PWNED'</script>".into(),
        format!("![exfil](http://127.0.0.1:{port}/leak.png?d=secret)"),
        format!("<img src=\"http://127.0.0.1:{port}/pixel.png\">"),
        format!(
            "<link rel=stylesheet href=\"http://127.0.0.1:{port}/x.css\"><style>@import 'http://127.0.0.1:{port}/y.css'</style>"
        ),
        "'\"><svg onload=\"document.title='PWNED'\"></svg>".into(),
        "<iframe srcdoc=\"<script>parent.document.title='PWNED'</script>\"></iframe>".into(),
    ]
}

#[test]
fn hostile_output_stays_text_and_the_filters_work() {
    let wire = Tripwire::start();
    let p = Project::new();
    let prompt = |extra: &str| {
        format!(
            "---\ntools: [lookup_order]\ninput:\n  schema:\n    message: string\n---\n{{{{role \"system\"}}}}Be safe. <b onmouseover=\"document.title='PWNED'\">{extra}</b>\n{{{{role \"user\"}}}}{{{{message}}}}\ncall lookup_order {{{{message}}}}\n"
        )
    };
    // Every payload is also a tool call's arguments, as a hostile model would write them, and
    // what the tool returns in a conversation.
    p.write("tools/lookup_order.yaml", "description: Find an order.\n");
    p.write("prompts/bot.prompt", &prompt("marker-kept"));
    let mut suite = String::from("kind: regression\nprompt: bot\ncases:\n");
    for (i, payload) in hostile(wire.port).iter().enumerate() {
        let assert = if i % 3 == 0 {
            "contains, value: marker-kept"
        } else {
            "contains, value: safe"
        };
        let payload = serde_json::to_string(payload).unwrap();
        suite.push_str(&format!(
            "  - id: attack-{i}\n    vars: {{ message: {payload} }}\n    results: [ {{ call: lookup_order, result: {payload} }} ]\n    assert:\n      - {{ type: {assert} }}\n"
        ));
    }
    p.write("suites/bot.yaml", &suite);
    p.commit("init");
    p.write("prompts/bot.prompt", &prompt("marker-dropped"));
    let out = p.promptgate(&["check"]).exits(10).output;
    let report = p.report(&out);
    let regressed = report["candidates"][0]["suites"][0]["comparison"]["regressed"]
        .as_u64()
        .unwrap() as usize;
    assert_eq!(regressed, 3);
    let page = p.path().join(out.report_dir()).join("index.html");

    let all = dom(&page, "#status=all");
    let title = all
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap();
    assert!(
        title.starts_with("promptgate FAIL"),
        "title was changed by injected script: {title}"
    );
    assert!(!all.contains("PWNED\n") && !title.contains("PWNED"));
    assert_eq!(
        all.matches("<script").count(),
        2,
        "only the page's data and script elements exist"
    );
    for forbidden in [
        "<img",
        "<iframe",
        "<svg onload",
        "<link",
        "<a href=\"javascript:",
        "<b onmouseover",
        "<style>@import",
    ] {
        assert!(
            !all.contains(forbidden),
            "hostile markup became an element: {forbidden}"
        );
    }
    assert_eq!(
        all.matches("<section class=\"case ").count(),
        9,
        "every case rendered"
    );
    assert!(
        all.contains("&lt;script&gt;document.title='PWNED'&lt;/script&gt;"),
        "the payload is shown as text"
    );
    assert!(
        all.contains("→ lookup_order(&lt;script&gt;document.title='PWNED'&lt;/script&gt;)"),
        "the tool call is shown as text"
    );
    assert!(
        all.contains("← &lt;script&gt;document.title='PWNED'&lt;/script&gt;"),
        "the tool's result is shown as text"
    );
    assert!(
        all.contains("The trajectories first differ at step 1."),
        "the first differing step is marked"
    );

    let only_regressed = dom(&page, "#status=regressed");
    assert_eq!(
        only_regressed
            .matches("<section class=\"case regressed\"")
            .count(),
        3
    );
    assert_eq!(only_regressed.matches("<section class=\"case ").count(), 3);
    let searched = dom(&page, "#q=iframe");
    assert_eq!(
        searched.matches("<section class=\"case ").count(),
        1,
        "search finds the one iframe payload"
    );
    assert!(searched.contains("1 of 9 cases"));
    let linked = dom(&page, "#status=fixed&case=c0-bot-attack-4");
    assert!(
        linked.contains("id=\"case-c0-bot-attack-4\""),
        "a case anchor shows its case"
    );

    // Let any stray request arrive before counting.
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        wire.hits.load(Ordering::SeqCst),
        0,
        "the page made a network request"
    );
}

#[test]
fn junit_parses_back_with_failures_and_errors() {
    let p = Project::triage();
    p.write(
        "prompts/support/triage.prompt",
        &crate::support::TRIAGE_PROMPT.replace("billing, bug", "refund"),
    );
    p.write(
        "promptgate.yaml",
        "default_provider: echo\ntolerance:\n  standard: { max_new_failures: 0 }\nproviders:\n  broken: { kind: exec, command: [\"sh\", \"-c\", \"exit 3\"] }\n",
    );
    let out = p.promptgate(&["check"]).exits(10).output;
    let xml = p.read(&format!("{}/junit.xml", out.report_dir()));
    let junit = quick_junit::Report::deserialize_from_str(&xml).expect("junit.xml parses");
    assert_eq!(junit.test_suites.len(), 2);
    // Every gate reason is a failing test, so JUnit is red when the gate is.
    let gate = &junit.test_suites[0];
    assert_eq!(gate.name.as_str(), "gate @ support/triage@worktree");
    let reasons: Vec<&str> = gate.test_cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        reasons,
        ["max_pass_rate_drop (triage)", "max_new_failures (triage)"]
    );
    assert_eq!(gate.failures, 2);
    let suite = &junit.test_suites[1];
    assert_eq!(suite.name.as_str(), "triage @ support/triage@worktree");
    assert_eq!((suite.tests, suite.failures, suite.errors), (3, 2, 0));
    let failed: Vec<&str> = suite
        .test_cases
        .iter()
        .filter(|c| !matches!(c.status, quick_junit::TestCaseStatus::Success { .. }))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["billing", "bug"]);

    // Provider errors are <error> elements.
    let out = p
        .promptgate(&["check", "--provider", "broken"])
        .exits(12)
        .output;
    let xml = p.read(&format!("{}/junit.xml", out.report_dir()));
    let junit = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(junit.test_suites[0].errors, 1, "the run is incomplete");
    assert_eq!(junit.test_suites[1].errors, 3);

    // A stored run re-renders.
    let run_id = out.report_dir().trim_start_matches("reports/").to_string();
    std::fs::remove_file(p.path().join(out.report_dir()).join("index.html")).unwrap();
    p.promptgate(&["report", &run_id, "--format", "html"])
        .exits(0);
    assert!(p.path().join(out.report_dir()).join("index.html").is_file());
    let missing = p
        .promptgate(&["report", "20200101T000000.000Z-000000"])
        .exits(2)
        .output;
    assert!(
        missing.stderr.contains("no stored check"),
        "{}",
        missing.stderr
    );
}

#[test]
fn outputs_of_the_output_handling_pack_stay_text() {
    // The echo provider repeats each attack, so every dangerous output the pack asks for reaches
    // the page: script, event handlers, iframes, forms, exfiltration images, escape sequences.
    let p = Project::new();
    let prompt = |rule: &str| {
        format!(
            "---\ninput:\n  schema:\n    message: string\n---\n{{{{role \"system\"}}}}{rule}\n{{{{role \"user\"}}}}{{{{message}}}}\n"
        )
    };
    p.write("prompts/bot.prompt", &prompt("Be safe."));
    p.write(
        "suites/attacks.yaml",
        "kind: adversarial\nprompt: bot\ntarget: message\npack: output-handling\n",
    );
    p.commit("init");
    p.write("prompts/bot.prompt", &prompt("Be very safe."));
    let out = p.run(&["check"]);
    assert_eq!(
        out.code, 0,
        "no new successes: {}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout
            .contains("output-handling: attack success 42.3% → 42.3%"),
        "{}",
        out.stdout
    );
    let page = p.path().join(out.report_dir()).join("index.html");
    let all = dom(&page, "#status=all");
    assert!(all.contains("output-handling: attack success"));
    assert_eq!(all.matches("<section class=\"case ").count(), 26);
    assert_eq!(
        all.matches("<script").count(),
        2,
        "only the page's own scripts"
    );
    for forbidden in [
        "<img",
        "<iframe",
        "<svg onload",
        "<object",
        "<form",
        "http-equiv=\"refresh\"",
        "<button",
        "<div onmouseover",
    ] {
        assert!(
            !all.contains(forbidden),
            "an attack output became an element: {forbidden}"
        );
    }
    assert!(all.contains("&lt;img src=x onerror=alert(document.cookie)&gt;"));
}

#[test]
fn the_page_leads_with_the_cases_marks_each_suite_and_folds_unchanged_prompts() {
    let p = Project::triage();
    for name in ["reply", "route"] {
        p.write(
            &format!("prompts/support/{name}.prompt"),
            "{{role \"user\"}}Hello {{name}}.\n",
        );
        p.write(
            &format!("suites/{name}.yaml"),
            &format!("kind: regression\nprompt: support/{name}\ncases:\n  - {{ id: ana, vars: {{ name: Ana }}, assert: [ {{ type: contains, value: Ana }} ] }}\n"),
        );
    }
    p.commit("two more prompts");
    // The candidate answers something that shares no word with the baseline's output.
    p.write(
        "prompts/support/triage.prompt",
        "---\npromptgate.owner: support\n---\n{{role \"system\"}}Zzz.\n{{role \"user\"}}{{message}}\n",
    );
    let out = p.promptgate(&["check", "--all"]).exits(10).output;
    let page = p.path().join(out.report_dir()).join("index.html");
    let html = dom(&page, "");
    // The two unchanged prompts are one row.
    assert!(
        html.contains("2 unchanged prompts (the same content on both sides): support/reply@worktree, support/route@worktree"),
        "{html}"
    );
    assert!(
        !html.contains("<code>support/reply@worktree</code><br>"),
        "no row of its own"
    );
    // Every suite says its verdict.
    assert!(
        html.contains("<td><code>triage</code></td><td><span class=\"verdict fail\">fail</span>"),
        "{html}"
    );
    // What readiness found comes after the cases.
    if let Some(readiness) = html.find("<h2>Readiness") {
        assert!(readiness > html.find("<h2>Cases").unwrap());
    }
}
