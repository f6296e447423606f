//! A property of every parser of user-written files (prompts, suites with their JSONL case
//! files, the config, cassettes): on any bytes, it neither panics nor accepts silently what it
//! cannot read, and every rejection names the file and a line in it.
//!
//! The inputs are the example project's own files, mutated (bytes flipped, inserted, deleted,
//! duplicated, truncated; invalid UTF-8; YAML and JSON punctuation), and plain random bytes,
//! from a fixed seed so a failure reproduces.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use rand_pcg::Pcg64Mcg;
use rand_pcg::rand_core::{Rng, SeedableRng};

use crate::errors::Error;

/// Inputs per parser.
const ROUNDS: usize = 400;

/// Bytes that move a YAML or JSON parser into its less travelled states.
const PUNCTUATION: &[u8] = b"-:{}[]\"'#&*!|>%@`,\n\t \\\x00\xff\xc3";

/// `seed` with a few random mutations, or (one time in eight) random bytes.
fn mutate(rng: &mut Pcg64Mcg, seed: &[u8]) -> Vec<u8> {
    let pick = |rng: &mut Pcg64Mcg, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    if rng.next_u64() % 8 == 0 {
        let len = pick(rng, 200);
        return (0..len).map(|_| rng.next_u64() as u8).collect();
    }
    let mut bytes = seed.to_vec();
    for _ in 0..1 + pick(rng, 4) {
        let at = pick(rng, bytes.len() + 1);
        match rng.next_u64() % 6 {
            0 if !bytes.is_empty() => {
                let at = at.min(bytes.len() - 1);
                bytes[at] ^= 1 << pick(rng, 8);
            }
            1 => bytes.insert(at, PUNCTUATION[pick(rng, PUNCTUATION.len())]),
            2 => {
                let end = (at + pick(rng, 40)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let end = (at + pick(rng, 60)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = pick(rng, bytes.len() + 1);
                bytes.splice(to..to, copy);
            }
            4 => bytes.truncate(at),
            _ => bytes.insert(at, rng.next_u64() as u8),
        }
    }
    bytes
}

/// Runs `parse` on mutations of `seed` written to `file` in `root`; fails on a panic, or on a
/// rejection that does not name `file` with a line.
fn holds(root: &Path, file: &str, seed: &[u8], parse: impl Fn(&Path) -> Result<(), Error>) {
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    let path = root.join(file);
    let mut rejected = 0;
    for round in 0..ROUNDS {
        let bytes = mutate(&mut rng, seed);
        std::fs::write(&path, &bytes).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| parse(root)));
        let shown = String::from_utf8_lossy(&bytes);
        let Ok(result) = outcome else {
            panic!("{file} round {round}: the parser panicked on {shown:?}");
        };
        if let Err(error) = result {
            rejected += 1;
            assert!(
                located(&error, file),
                "{file} round {round}: the rejection is not located in {file}: {error}\ninput: {shown:?}"
            );
        }
    }
    // The mutations must reach the parser's error paths, or this property says nothing.
    assert!(
        rejected >= ROUNDS / 5,
        "{file}: only {rejected} of {ROUNDS} mutations were rejected"
    );
}

/// Whether `error` (each of them, for several) names `file` and a line in it.
fn located(error: &Error, file: &str) -> bool {
    match error {
        Error::Several(errors) => errors.iter().all(|e| located(e, file)),
        Error::Variable(e) => e.location.file.ends_with(file) && e.location.line > 0,
        Error::Invalid { location, .. } => location.file.ends_with(file) && location.line > 0,
        _ => false,
    }
}

/// The example project's file `relative`, from the repository root.
fn example(relative: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)).unwrap()
}

#[test]
fn prompts_never_panic_and_every_rejection_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let file = "triage.prompt";
    holds(
        dir.path(),
        file,
        &example("prompts/support/triage.prompt"),
        |root| {
            let shown = Path::new(file);
            let text = crate::files::read_text(&root.join(file), shown)?.unwrap_or_default();
            let name = crate::ids::PromptName::new("support/triage");
            crate::artifact::parse(name, shown, &text, &Default::default()).map(drop)
        },
    );
}

#[test]
fn configs_never_panic_and_every_rejection_is_located() {
    let dir = tempfile::tempdir().unwrap();
    holds(
        dir.path(),
        crate::config::CONFIG_FILE,
        &example("promptgate.yaml"),
        |root| crate::config::Config::load(root).map(drop),
    );
}

#[test]
fn suites_and_their_case_files_never_panic_and_every_rejection_is_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("suites")).unwrap();
    std::fs::create_dir_all(dir.path().join("fixtures/extract")).unwrap();
    let cases = example("fixtures/extract/more-orders.jsonl");
    let suite = example("suites/extract.yaml");
    std::fs::write(
        dir.path().join("fixtures/extract/more-orders.jsonl"),
        &cases,
    )
    .unwrap();
    let load = |root: &Path| crate::suite::Suite::load(root, Path::new("suites/extract.yaml"));
    holds(dir.path(), "suites/extract.yaml", &suite, |root| {
        load(root).map(drop)
    });
    std::fs::write(dir.path().join("suites/extract.yaml"), &suite).unwrap();
    holds(
        dir.path(),
        "fixtures/extract/more-orders.jsonl",
        &cases,
        |root| load(root).map(drop),
    );
}

#[test]
fn cassettes_never_panic_and_every_rejection_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let file = crate::provider::cassette::file_of("gpt");
    std::fs::create_dir_all(dir.path().join(&file).parent().unwrap()).unwrap();
    let request = crate::provider::Request {
        messages: vec![crate::artifact::Message::text("user", "Where is my order?")],
        params: crate::config::Params::default().effective(),
        sample: 0,
        tools: Vec::new(),
        reply_schema: None,
    };
    let completion = crate::provider::Completion {
        text: "In transit.".into(),
        ..Default::default()
    };
    let entry =
        crate::provider::cassette::Entry::new("gpt".into(), "c".into(), request, completion);
    let line = serde_json::to_string(&entry.unwrap()).unwrap();
    let seed = format!("{line}\n{line}\n");
    holds(dir.path(), &file, seed.as_bytes(), |root| {
        crate::provider::cassette::Cassette::load(root, "gpt").map(drop)
    });
}
