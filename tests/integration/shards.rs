//! Shards: one check as four shard processes and a merge gives the report one machine gives,
//! and shards that do not make one plan are refused.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::mock::Mock;
use crate::support::{Project, polite_tickets};

/// 24 cases; the candidate adds "please" to every fifth one, which its assertion forbids.
fn project(mock: &Mock) -> Project {
    polite_tickets(
        &format!(
            "default_provider: mock\nproviders:\n  mock: {{ kind: openai, model: tiny-1, base_url: \"{}\", price: {{ input_per_mtok: 1.0, output_per_mtok: 2.0 }} }}\n",
            mock.base_url
        ),
        "",
    )
}

/// The run directories under reports/, oldest first.
fn runs(p: &Project) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(p.path().join("reports")) else {
        return Vec::new();
    };
    let mut dirs: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("manifest.json").is_file())
        .map(|e| format!("reports/{}", e.file_name().to_string_lossy()))
        .collect();
    dirs.sort();
    dirs
}

/// A report with what differs between runs of one check removed: ids, times, the build.
fn comparable(mut report: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.retain(|k, _| {
                    !matches!(
                        k.as_str(),
                        "run_id" | "started_at" | "duration_ms" | "promptgate"
                    ) && !k.contains("latency")
                });
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut report);
    report
}

/// Runs `total` shards as processes at once; returns their run directories, by shard index.
fn run_shards(p: &Project, total: u32) -> Vec<String> {
    let before = runs(p);
    let children: Vec<_> = (1..=total)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_promptgate"))
                .args(["check", "--no-cache", "--shard", &format!("{i}/{total}")])
                .current_dir(p.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "a shard gates nothing: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut dirs: Vec<String> = runs(p)
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    // By shard index, whichever process finished first.
    dirs.sort_by_key(|d| {
        let manifest: Value = serde_json::from_str(&p.read(&format!("{d}/manifest.json"))).unwrap();
        manifest["shard"]["index"].as_u64().unwrap()
    });
    dirs
}

#[test]
fn four_shards_and_a_merge_give_the_report_of_one_machine() {
    let mock = Mock::start(vec![]);
    let p = project(&mock);
    let single = p.promptgate(&["check", "--no-cache"]).exits(10);
    let expected = comparable(p.report(&single.output));
    let calls_single = mock.hits();

    let shards = run_shards(&p, 4);
    assert_eq!(shards.len(), 4);
    assert_eq!(
        mock.hits() - calls_single,
        calls_single,
        "the shards make the same calls between them"
    );
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    let merged = p.promptgate(&args).exits(10).stdout_has(&["FAIL bot"]);
    assert_eq!(
        mock.hits() - calls_single,
        calls_single,
        "merge makes no call"
    );
    let report = comparable(p.report(&merged.output));
    assert_eq!(report, expected);
    let regressed = &report["candidates"][0]["suites"][0]["comparison"]["regressed"];
    assert_eq!(regressed, 5, "c00, c05, c10, c15, c20");

    // A shard's report covers its own cases; together they are all 24, each once.
    let cases: usize = shards
        .iter()
        .map(|d| {
            let r: Value = serde_json::from_str(&p.read(&format!("{d}/report.json"))).unwrap();
            r["candidates"][0]["suites"][0]["cases"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(cases, 24);
}

#[test]
fn shards_of_another_plan_a_missing_shard_and_a_shard_twice_are_refused() {
    let mock = Mock::start(vec![]);
    let p = project(&mock);
    let shards = run_shards(&p, 2);
    p.promptgate(&["merge", &shards[0]]).exits(2).stderr_has(&[
        "shard 2/2 of plan",
        "is missing; merge every shard, or pass --allow-incomplete",
    ]);
    p.promptgate(&["merge", &shards[0], &shards[0]])
        .exits(2)
        .stderr_has(&["is given twice"]);
    // Gating what is there is allowed, and incomplete.
    let partial = p
        .promptgate(&["merge", "--allow-incomplete", &shards[0]])
        .exits(12);
    let report = p.report(&partial.output);
    assert_eq!(report["complete"], false);

    // A shard planned after the suite changed belongs to another plan.
    p.write(
        "suites/bot.yaml",
        &p.read("suites/bot.yaml").replace("c23", "c23-renamed"),
    );
    let other = run_shards(&p, 2);
    p.promptgate(&["merge", &shards[0], &other[1]])
        .exits(2)
        .stderr_has(&["shards of different checks", "cannot be merged"]);
    // And the checkout merging must plan what the shards planned.
    p.promptgate(&["merge", &shards[0], &shards[1]])
        .exits(2)
        .stderr_has(&["merge on the commit, with the options, the shards ran"]);
    p.promptgate(&["check", "--shard", "3/2"])
        .exits(2)
        .stderr_has(&["the index counts from 1 to the total"]);
}
