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
    run_shards_with(p, total, &[])
}

/// [`run_shards`], each shard with `args` too.
fn run_shards_with(p: &Project, total: u32, args: &[&str]) -> Vec<String> {
    let before = runs(p);
    let children: Vec<_> = (1..=total)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_promptgate"))
                .args(["check", "--no-cache", "--shard", &format!("{i}/{total}")])
                .args(args)
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

/// A model as an exec command: it answers `ok`, except that under a STRICT system prompt it
/// answers `no` to `coin-*` tickets on even samples, so those cases never stop disagreeing and
/// `--adaptive` samples them round after round. Every call is logged to calls.log.
const COIN_BOT: &str = r#"import json, sys
req = json.load(sys.stdin)
text = json.dumps(req["messages"])
user = req["messages"][-1]["content"][0]["text"]
answer = "ok"
if "STRICT" in text and user.startswith("coin") and req["sample"] % 2 == 0:
    answer = "no"
with open("calls.log", "a") as log:
    log.write(f"{user} {req['sample']}\n")
print(answer)
"#;

/// 24 tickets on the coin bot, three of them coins; the STRICT candidate in the work tree.
fn coin_project() -> Project {
    let prompt = "---\ndescription: Answer a ticket.\npromptgate.owner: support\npromptgate.risk_tier: low\ninput:\n  schema:\n    message: string, the ticket\n---\n{{role \"system\"}}Answer the ticket.\n{{role \"user\"}}{{message}}\n";
    let mut suite = "kind: regression\nprompt: support/answer\ntolerance: { max_pass_rate_drop: 0.05 }\ncases:\n".to_string();
    let ids = (0..3)
        .map(|i| format!("coin-{i}"))
        .chain((3..24).map(|i| format!("fine-{i}")));
    for id in ids {
        suite.push_str(&format!(
            "  - id: {id}\n    vars: {{ message: \"{id}\" }}\n    assert:\n      - {{ type: equals, value: ok, normalize: true }}\n"
        ));
    }
    let p = Project::new()
        .with(
            "promptgate.yaml",
            "default_provider: bot\nproviders:\n  bot: { kind: exec, command: [\"python3\", \"bot.py\"] }\n",
        )
        .with("bot.py", COIN_BOT)
        .with("prompts/support/answer.prompt", prompt)
        .with("suites/answer.yaml", &suite)
        .committed("baseline");
    p.write(
        "prompts/support/answer.prompt",
        &prompt.replace("Answer the ticket.", "Answer the ticket. STRICT"),
    );
    p
}

/// The wave file a merge that exited 15 tells the `total` shards to draw.
fn wave_file(stdout: &str, total: u32) -> String {
    let command = format!("promptgate check --shard I/{total} --wave ");
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(command.as_str()))
        .unwrap_or_else(|| panic!("no wave file in: {stdout}"))
        .to_string()
}

/// The calls the coin bot logged, sorted.
fn bot_calls(p: &Project) -> Vec<String> {
    let log = std::fs::read_to_string(p.path().join("calls.log")).unwrap_or_default();
    let mut calls: Vec<String> = log.lines().map(str::to_string).collect();
    calls.sort();
    calls
}

#[test]
fn adaptive_rounds_across_shards_run_as_waves_and_merge_to_the_report_of_one_machine() {
    let p = coin_project();
    let adaptive = ["--adaptive", "--max-samples", "7"];
    let mut args = vec!["check", "--no-cache"];
    args.extend(adaptive);
    // Three cases of 24 fail half their samples: a 6.25-point drop, past the 5-point tolerance.
    let single = p.promptgate(&args).exits(10);
    let expected = comparable(p.report(&single.output));
    let stats = &expected["candidates"][0]["suites"][0]["statistics"];
    assert_eq!(
        stats["extra_calls"],
        serde_json::json!({ "confirm": 12, "adaptive": 68 }),
        "the first adaptive round samples the three coins and measures the noise of a spread of the 21 agreeing cases (every second: 11), 56 calls; the second samples the coins to the cap, 12"
    );
    let calls_single = bot_calls(&p);
    std::fs::remove_file(p.path().join("calls.log")).unwrap();

    // Wave 1: the first samples, each shard confirming its own cases.
    let mut shards = run_shards_with(&p, 4, &adaptive);
    let mut waves = 1;
    let merged = loop {
        let mut args = vec!["merge"];
        args.extend(shards.iter().map(String::as_str));
        let out = p.run(&args);
        if out.code != 15 {
            assert_eq!(out.code, 10, "{}\n{}", out.stdout, out.stderr);
            break out;
        }
        waves += 1;
        assert!(waves <= 3, "two adaptive rounds are two more waves");
        let wanted = if waves == 2 { 14 } else { 3 };
        assert!(
            out.stdout.contains(&format!(
                "wave {waves}: {wanted} cases of suite answer need more samples"
            )),
            "{}",
            out.stdout
        );
        let path = wave_file(&out.stdout, 4);
        let plan: Value = serde_json::from_str(&p.read(&path)).unwrap();
        assert_eq!(plan["wave"], waves);
        assert_eq!(plan["samples"].as_array().unwrap().len(), wanted);
        let drawn = run_shards_with(&p, 4, &["--wave", &path]);
        assert_eq!(
            drawn.len(),
            4,
            "every shard runs every wave, with calls or not"
        );
        shards.extend(drawn);
    };
    assert_eq!(waves, 3);
    assert_eq!(comparable(p.report(&merged)), expected);
    assert_eq!(
        bot_calls(&p),
        calls_single,
        "the shards' waves made exactly the single machine's calls, each once"
    );
}

#[test]
fn waves_that_do_not_fit_are_refused_and_final_gates_on_the_waves_so_far() {
    let p = coin_project();
    let adaptive = ["--adaptive", "--max-samples", "7"];
    let first = run_shards_with(&p, 2, &adaptive);
    let mut args = vec!["merge"];
    args.extend(first.iter().map(String::as_str));
    let out = p.promptgate(&args).exits(15).output;
    let path = wave_file(&out.stdout, 2);
    let drawn = |file: &str| {
        p.promptgate(&["check", "--no-cache", "--shard", "1/2", "--wave", file])
            .exits(2)
    };

    // A wave file is of one check: not of another shard count, nor an altered one.
    p.promptgate(&["check", "--no-cache", "--shard", "1/3", "--wave", &path])
        .exits(2)
        .stderr_has(&["the wave plan is of plan"]);
    let mut plan: Value = serde_json::from_str(&p.read(&path)).unwrap();
    plan["samples"][0]["candidate"]["end"] = serde_json::json!(1000);
    p.write("greedy.json", &plan.to_string());
    drawn("greedy.json").stderr_has(&["samples", "at most 7 per version at a time"]);
    let mut repeated: Value = serde_json::from_str(&p.read(&path)).unwrap();
    let entry = repeated["samples"][0].clone();
    repeated["samples"]
        .as_array_mut()
        .unwrap()
        .extend(std::iter::repeat_n(entry, 49));
    p.write("repeated.json", &repeated.to_string());
    drawn("repeated.json").stderr_has(&["more than once", "was altered"]);
    p.write("junk.json", "{ \"wave\": 2 }");
    drawn("junk.json").stderr_has(&["junk.json:1:", "not a wave plan"]);
    p.promptgate(&["check", "--no-cache", "--wave", &path])
        .exits(2)
        .stderr_has(&["--shard"]);

    // A wave with a shard missing is refused; a wave drawn from another plan is too.
    let second = run_shards_with(&p, 2, &["--wave", &path]);
    let mut args = vec!["merge", &first[0], &first[1], &second[0]];
    p.promptgate(&args)
        .exits(2)
        .stderr_has(&["shard 2/2 of wave 2 of plan", "is missing"]);
    args.push(&second[1]);
    let mut wrong = plan.clone();
    wrong["samples"][0]["candidate"]["start"] = serde_json::json!(0);
    wrong["samples"][0]["candidate"]["end"] = serde_json::json!(2);
    p.write("wrong.json", &wrong.to_string());
    let wrong_shards = run_shards_with(&p, 2, &["--wave", "wrong.json"]);
    p.promptgate(&[
        "merge",
        &first[0],
        &first[1],
        &wrong_shards[0],
        &wrong_shards[1],
    ])
    .exits(2)
    .stderr_has(&["the shards of wave 2 do not hold the samples this merge plans for it"]);

    // --final gates on the waves given: the third wave is never drawn.
    args.push("--final");
    let gated = p.promptgate(&args).exits(10);
    let report = p.report(&gated.output);
    assert_eq!(
        report["candidates"][0]["suites"][0]["statistics"]["extra_calls"],
        serde_json::json!({ "confirm": 12, "adaptive": 56 })
    );
}

#[test]
fn a_shard_cannot_answer_for_another_and_the_order_of_the_shards_decides_nothing() {
    let mock = Mock::start(vec![]);
    let p = project(&mock);
    let shards = run_shards(&p, 2);
    let honest = p.promptgate(&["merge", &shards[0], &shards[1]]).exits(10);
    assert_eq!(p.report(&honest.output)["verdict"], "fail");
    // Shard 1's log is altered to answer shard 2's requests as well, without the "PLEASE"
    // its assertion forbids.
    let theirs = p.read(&format!("{}/results.jsonl", shards[1]));
    assert!(theirs.contains("PLEASE"), "{theirs}");
    let forged = format!(
        "{}{}",
        p.read(&format!("{}/results.jsonl", shards[0])),
        theirs.replace("PLEASE", "THANKS")
    );
    p.write(&format!("{}/results.jsonl", shards[0]), &forged);
    for order in [[&shards[0], &shards[1]], [&shards[1], &shards[0]]] {
        p.promptgate(&["merge", order[0], order[1]])
            .exits(13)
            .stderr_has(&[
                "logged different answers to one request",
                "a shard answers only its own cases' requests",
            ]);
    }
    // Answers another shard gave alike decide nothing new: the same report as the honest merge.
    p.write(
        &format!("{}/results.jsonl", shards[0]),
        &forged.replace("THANKS", "PLEASE"),
    );
    let merged = p.promptgate(&["merge", &shards[0], &shards[1]]).exits(10);
    assert_eq!(
        comparable(p.report(&merged.output)),
        comparable(p.report(&honest.output))
    );
}
