//! The shared response cache: workers of one CI engine share responses through an object store
//! (a real S3 API on 127.0.0.1, `moto_server` from PyPI, and the local-file backend): what one
//! worker paid for, another reads; racing workers publish each entry once; a read-only worker
//! never writes; no credential reaches an object.

use std::process::{Child, Command, Stdio};

use crate::mock::Mock;
use crate::support::Project;

const PROMPT: &str =
    "---\ninput:\n  schema:\n    message: string\n---\n{{role \"user\"}}{{message}}\n";

/// The provider's key and the store's secret: neither may reach an object.
const API_KEY: &str = "sk-test-PROVIDERKEYabcdefghijklmnop";
const SECRET: &str = "S3SECRETabcdefghijklmnopqrstuvwxyz012345";

/// A project with 12 cases on the mock (which is cacheable, unlike `echo`).
fn worker(mock: &Mock) -> Project {
    let mut suite = String::from("kind: regression\nprompt: bot\ncases:\n");
    for i in 0..12 {
        suite.push_str(&format!(
            "  - {{ id: c{i:02}, vars: {{ message: \"ticket {i}\" }}, assert: [ {{ type: contains, value: TICKET }} ] }}\n"
        ));
    }
    Project::new()
        .with("prompts/bot.prompt", PROMPT)
        .with("suites/bot.yaml", &suite)
        .with(
            "promptgate.yaml",
            &format!(
                "default_provider: mock\nproviders:\n  mock: {{ kind: openai, model: tiny-1, base_url: \"{}\", api_key_env: MOCK_KEY }}\n",
                mock.base_url
            ),
        )
        .committed("init")
}

/// `moto_server` on a free port with an empty bucket `cache`; killed when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server is installed (`pip install 'moto[server]'`; .ci/run does it)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let moto = Self { child, endpoint };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        moto.python("s3.create_bucket(Bucket='cache')");
        moto
    }

    /// Runs `code` with `s3`, a boto3 client of this server, in scope; returns its output.
    fn python(&self, code: &str) -> String {
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing', aws_secret_access_key='{SECRET}', region_name='us-east-1')\n{code}\n",
            self.endpoint
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every object's key and body.
    fn objects(&self) -> Vec<(String, String)> {
        let listing = self.python(
            "import json\nkeys = [o['Key'] for p in s3.get_paginator('list_objects_v2').paginate(Bucket='cache') for o in p.get('Contents', [])]\nprint(json.dumps([[k, s3.get_object(Bucket='cache', Key=k)['Body'].read().decode()] for k in keys]))",
        );
        serde_json::from_str(&listing).unwrap()
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PROMPTGATE_CACHE_SHARED", "s3://cache/promptgate".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("MOCK_KEY", API_KEY.into()),
        ]
    }
}

/// Runs `check --all` in each project at once with `env`; returns each one's output.
fn check_at_once(projects: &[&Project], env: &[(&str, String)]) -> Vec<std::process::Output> {
    let children: Vec<Child> = projects
        .iter()
        .map(|p| {
            Command::new(env!("CARGO_BIN_EXE_promptgate"))
                .args(["check", "--all", "--json"])
                .current_dir(p.path())
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn calls(out: &std::process::Output) -> (u64, u64) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        report["totals"]["calls"].as_u64().unwrap(),
        report["totals"]["cached"].as_u64().unwrap(),
    )
}

/// The shared tier, whatever the store: one worker pays, the next reads, racers publish each
/// entry once, a read-only worker writes nothing. `objects` lists what the store holds.
fn shares(env: &[(&str, String)], objects: &dyn Fn() -> Vec<(String, String)>) {
    let mock = Mock::start(vec![]);
    // Two workers race on a cold store: between them every call is published exactly once.
    let (a, b) = (worker(&mock), worker(&mock));
    let raced = check_at_once(&[&a, &b], env);
    for out in &raced {
        calls(out);
    }
    // 12 cases, baseline and candidate the same content: 12 distinct calls.
    let stored = objects();
    assert_eq!(
        stored.len(),
        12,
        "{:?}",
        stored.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    assert!(mock.hits() >= 12 && mock.hits() <= 24, "{}", mock.hits());

    // A third worker with an empty local cache makes no call.
    let hits = mock.hits();
    let c = worker(&mock);
    let (made, cached) = calls(&check_at_once(&[&c], env)[0]);
    assert_eq!((mock.hits(), cached), (hits, 12), "made {made}");

    // A read-only worker with new cases makes its calls and publishes nothing.
    let d = worker(&mock);
    d.write(
        "prompts/bot.prompt",
        &PROMPT.replace("{{message}}", "{{message}}!"),
    );
    let mut read_only = env.to_vec();
    read_only.push(("PROMPTGATE_CACHE_READ_ONLY", "1".into()));
    let out = &check_at_once(&[&d], &read_only)[0];
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(mock.hits() > hits);
    assert_eq!(objects().len(), 12);

    // No credential in any object, nor in what the workers printed.
    for (key, body) in objects() {
        for secret in [API_KEY, SECRET] {
            assert!(!body.contains(secret) && !key.contains(secret), "{key}");
        }
        assert!(body.contains("\"completion\""), "{key}: {body}");
    }
    for out in raced.iter().chain([out]) {
        for secret in [API_KEY, SECRET] {
            assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
        }
    }
}

#[test]
fn workers_share_responses_through_s3() {
    let moto = Moto::start();
    shares(&moto.env(), &|| moto.objects());
}

#[test]
fn workers_share_responses_through_a_folder() {
    let store = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "PROMPTGATE_CACHE_SHARED",
            format!("file://{}", store.path().display()),
        ),
        ("MOCK_KEY", API_KEY.to_string()),
    ];
    let objects = || {
        let mut found = Vec::new();
        let mut stack = vec![store.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let key = path
                        .strip_prefix(store.path())
                        .unwrap()
                        .display()
                        .to_string();
                    found.push((key, std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        found
    };
    shares(&env, &objects);
}

#[test]
fn a_shared_cache_that_cannot_be_opened_is_a_clear_error() {
    let mock = Mock::start(vec![]);
    let p = worker(&mock);
    let out = p
        .promptgate(&["check", "--all"])
        .envs(&[
            ("PROMPTGATE_CACHE_SHARED", "s3//no-scheme?token=SECRETTOKEN"),
            ("MOCK_KEY", API_KEY),
        ])
        .exits(2)
        .output;
    assert!(out.stderr.contains("is not a URL"), "{}", out.stderr);
    assert!(!out.stderr.contains("SECRETTOKEN"), "{}", out.stderr);
}

#[test]
fn a_shared_cache_in_the_checkout_or_set_by_the_change_under_check_is_not_used() {
    let mock = Mock::start(vec![]);
    let p = worker(&mock);
    let base = p.head_id();
    let config = p.read("promptgate.yaml");
    // A store inside the checkout holds what a commit wrote there: refused, however spelled.
    std::fs::create_dir_all(p.path().join("fixtures/store")).unwrap();
    for url in [
        format!("file://{}/fixtures/store", p.path().display()),
        format!("file://{}/fixtures/../fixtures/store", p.path().display()),
    ] {
        p.write(
            "promptgate.yaml",
            &format!("{config}cache: {{ shared: \"{url}\" }}\n"),
        );
        p.promptgate(&["check", "--all"])
            .envs(&[("MOCK_KEY", API_KEY)])
            .exits(13)
            .stderr_has(&["is inside the checkout", "put it outside the repository"]);
        p.promptgate(&["check", "--all"])
            .envs(&[("MOCK_KEY", API_KEY), ("PROMPTGATE_CACHE_SHARED", &url)])
            .exits(13)
            .stderr_has(&["is inside the checkout"]);
    }

    // The change under check points the shared cache elsewhere: checked against the
    // baseline, the baseline's setting (none) is the one used.
    let store = tempfile::tempdir().unwrap();
    p.write(
        "promptgate.yaml",
        &format!(
            "{config}cache: {{ shared: \"file://{}\" }}\n",
            store.path().display()
        ),
    );
    p.commit("my own shared cache");
    let entries = || walk(store.path());
    p.promptgate(&["check", "--all", "--baseline", &base])
        .envs(&[("MOCK_KEY", API_KEY)])
        .exits(0);
    assert_eq!(entries(), 0, "the change's shared cache was used");
    // Without a baseline (an author's own checkout) the working tree's config is the one.
    std::fs::remove_dir_all(p.path().join(".promptgate/cache")).unwrap();
    p.promptgate(&["check", "--all"])
        .envs(&[("MOCK_KEY", API_KEY)])
        .exits(0);
    assert!(entries() > 0, "the author's shared cache was not used");
}

/// The files under `dir`, counted.
fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| match e.path().is_dir() {
            true => walk(&e.path()),
            false => 1,
        })
        .sum()
}

#[test]
fn a_shared_entry_past_the_cap_is_left_out_and_never_read() {
    let mock = Mock::start(vec![]);
    let p = worker(&mock);
    let store = tempfile::tempdir().unwrap();
    let env = [
        (
            "PROMPTGATE_CACHE_SHARED",
            format!("file://{}", store.path().display()),
        ),
        ("MOCK_KEY", API_KEY.to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    p.promptgate(&["check", "--all"]).envs(&env).exits(0);
    let published = mock.hits();
    assert_eq!(walk(store.path()), 12, "one entry per case");
    // One entry swells to 40 MiB (a hostile writer of the store).
    let mut stack = vec![store.path().to_path_buf()];
    let entry = loop {
        let dir = stack.pop().unwrap();
        let mut found = None;
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                found = Some(e.path());
            }
        }
        if let Some(path) = found {
            break path;
        }
    };
    // Still the same valid entry, padded with 40 MiB of white space.
    let mut swollen = std::fs::read(&entry).unwrap();
    swollen.extend(std::iter::repeat_n(b' ', 40 << 20));
    std::fs::write(&entry, swollen).unwrap();
    std::fs::remove_dir_all(p.path().join(".promptgate/cache")).unwrap();
    p.promptgate(&["check", "--all"]).envs(&env).exits(0);
    assert_eq!(
        mock.hits(),
        published + 1,
        "the swollen entry's call was made again"
    );
}
