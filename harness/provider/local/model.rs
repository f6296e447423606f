//! A llama-family GGUF model in memory: weights (re-quantised to Q8_0 for fast CPU kernels),
//! the tokenizer built from the file's own vocabulary and merges, and its chat template.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use candle_transformers::generation::LogitsProcessor;
use candle_transformers::models::quantized_llama::{MAX_SEQ_LEN, ModelWeights};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer};

use crate::artifact::Message;
use crate::config::EffectiveParams;
use crate::provider::call::{FinishReason, Usage};

/// GGUF token type of control tokens (`<|im_end|>` and friends).
const CONTROL_TOKEN: i32 = 3;

/// A loaded model, shared read-only by every generation.
pub(super) struct Model {
    weights: ModelWeights,
    tokenizer: Tokenizer,
    chat: minijinja::Environment<'static>,
    bos: String,
    eos: String,
    stop: Vec<u32>,
}

/// One generation's result.
pub(super) struct Generated {
    pub(super) text: String,
    pub(super) finish: FinishReason,
    pub(super) usage: Usage,
}

fn metadata<'c>(
    content: &'c gguf_file::Content,
    key: &str,
) -> Result<&'c gguf_file::Value, String> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| format!("the model file has no `{key}` metadata"))
}

fn string_list(value: &gguf_file::Value) -> Result<Vec<String>, String> {
    value
        .to_vec()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| e.to_string()))
        .collect()
}

/// A model-file error as one line: candle appends a backtrace when `RUST_BACKTRACE` is set,
/// which is no use to a person whose file is wrong.
fn describe(path: &Path, e: &candle_core::Error) -> String {
    let message = e.to_string();
    format!(
        "{}: {}",
        path.display(),
        message.lines().next().unwrap_or_default()
    )
}

impl Model {
    /// Checks that `path` is a GGUF file this provider can run, reading only its metadata.
    pub(super) fn check(path: &Path) -> Result<(), String> {
        let mut file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut magic = [0u8; 4];
        if std::io::Read::read_exact(&mut file, &mut magic).is_err() || &magic != b"GGUF" {
            return Err(format!(
                "{} is not a GGUF model file (one starts with `GGUF`); point `model_path` at a .gguf file, or run `promptgate model fetch`",
                path.display()
            ));
        }
        std::io::Seek::rewind(&mut file).map_err(|e| format!("{}: {e}", path.display()))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| describe(path, &e))?;
        let architecture = metadata(&content, "general.architecture")?
            .to_string()
            .map_err(|e| e.to_string())?
            .clone();
        if architecture != "llama" {
            return Err(format!(
                "{}: architecture `{architecture}` is not supported (expected a llama-family GGUF)",
                path.display()
            ));
        }
        build_tokenizer(&content)?;
        chat_template(&content)?;
        Ok(())
    }

    /// Loads a GGUF file. Any 4- or 5-bit matrix is re-quantised to Q8_0, which candle's CPU
    /// kernels run several times faster than Q4_1 (greedy output is unchanged in practice).
    pub(super) fn load(path: &Path) -> Result<Self, String> {
        let mut file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| describe(path, &e))?;
        let architecture = metadata(&content, "general.architecture")?
            .to_string()
            .map_err(|e| e.to_string())?
            .clone();
        if architecture != "llama" {
            return Err(format!(
                "{}: architecture `{architecture}` is not supported (expected a llama-family GGUF)",
                path.display()
            ));
        }
        let tokenizer = build_tokenizer(&content)?;
        let chat = chat_template(&content)?;
        let token = |key: &str| -> Result<String, String> {
            let id = metadata(&content, key)?
                .to_u32()
                .map_err(|e| e.to_string())?;
            tokenizer
                .id_to_token(id)
                .ok_or_else(|| format!("`{key}` {id} is not in the vocabulary"))
        };
        let (bos, eos) = (
            token("tokenizer.ggml.bos_token_id")?,
            token("tokenizer.ggml.eos_token_id")?,
        );
        let mut stop: Vec<u32> = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", eos.as_str()]
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t))
            .collect();
        stop.sort_unstable();
        stop.dedup();

        let device = Device::Cpu;
        let mut tensors = Vec::with_capacity(content.tensor_infos.len());
        let mut names: Vec<&String> = content.tensor_infos.keys().collect();
        names.sort();
        for name in names {
            let tensor = content
                .tensor(&mut file, name, &device)
                .map_err(|e| describe(path, &e))?;
            tensors.push((
                name.clone(),
                requantize(tensor, &device).map_err(|e| describe(path, &e))?,
            ));
        }
        let meta: Vec<(&str, &gguf_file::Value)> = content
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut buffer = Cursor::new(Vec::new());
        gguf_file::write(&mut buffer, &meta, &refs).map_err(|e| describe(path, &e))?;
        drop(tensors);
        buffer.set_position(0);
        let requantized = gguf_file::Content::read(&mut buffer).map_err(|e| describe(path, &e))?;
        let weights = ModelWeights::from_gguf(requantized, &mut buffer, &device)
            .map_err(|e| describe(path, &e))?;
        Ok(Self {
            weights,
            tokenizer,
            chat,
            bos,
            eos,
            stop,
        })
    }

    /// Applies the model's chat template to `messages`, with the generation prompt.
    pub(super) fn prompt(&self, messages: &[Message]) -> Result<String, String> {
        let messages: Vec<HashMap<&str, String>> = messages
            .iter()
            .map(|m| {
                let role = if m.role == "model" {
                    "assistant".to_string()
                } else {
                    m.role.clone()
                };
                HashMap::from([("role", role), ("content", m.text_content())])
            })
            .collect();
        let template = self.chat.get_template("chat").map_err(|e| e.to_string())?;
        template
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => &self.bos,
                eos_token => &self.eos,
            })
            .map_err(|e| format!("chat template: {e}"))
    }

    /// Generates a reply. Greedy at temperature 0; otherwise seeded, so a sample is reproducible.
    pub(super) fn generate(
        &self,
        messages: &[Message],
        params: &EffectiveParams,
        sample: u32,
    ) -> Result<Generated, String> {
        let prompt = self.prompt(messages)?;
        let encoding = self
            .tokenizer
            .encode(prompt.as_str(), false)
            .map_err(|e| e.to_string())?;
        let prompt_tokens = encoding.get_ids().to_vec();
        let budget = params.max_tokens as usize;
        if prompt_tokens.len() + budget > MAX_SEQ_LEN {
            return Err(format!(
                "prompt of {} tokens plus max_tokens {budget} exceeds the context of {MAX_SEQ_LEN}",
                prompt_tokens.len()
            ));
        }
        let seed = params.seed ^ u64::from(sample).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut sampler = LogitsProcessor::new(seed, Some(params.temperature), Some(params.top_p));
        let mut model = self.weights.clone();
        let device = Device::Cpu;
        let step = |model: &mut ModelWeights,
                    tokens: &[u32],
                    position: usize|
         -> candle_core::Result<Tensor> {
            let input = Tensor::new(tokens, &device)?.unsqueeze(0)?;
            model.forward(&input, position)?.squeeze(0)
        };
        let fail = |e: candle_core::Error| format!("generation failed: {e}");
        let mut logits = step(&mut model, &prompt_tokens, 0).map_err(fail)?;
        let mut output = Vec::new();
        let finish = loop {
            let next = sampler.sample(&logits).map_err(fail)?;
            if self.stop.binary_search(&next).is_ok() {
                break FinishReason::Stop;
            }
            output.push(next);
            if output.len() >= budget {
                break FinishReason::Length;
            }
            logits =
                step(&mut model, &[next], prompt_tokens.len() + output.len() - 1).map_err(fail)?;
        };
        let text = self
            .tokenizer
            .decode(&output, true)
            .map_err(|e| e.to_string())?;
        Ok(Generated {
            text,
            finish,
            usage: Usage::reported(prompt_tokens.len() as u64, output.len() as u64),
        })
    }

    /// The vocabulary strings of `text`'s tokens.
    pub(super) fn tokenize(&self, text: &str) -> Result<Vec<String>, String> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| e.to_string())?;
        let decoded = self
            .tokenizer
            .decode(encoding.get_ids(), false)
            .map_err(|e| e.to_string())?;
        if decoded != text {
            return Err(format!("tokenization does not round-trip: {decoded:?}"));
        }
        Ok(encoding.get_tokens().to_vec())
    }
}

fn requantize(tensor: QTensor, device: &Device) -> candle_core::Result<QTensor> {
    let slow = matches!(
        tensor.dtype(),
        GgmlDType::Q4_0 | GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1
    );
    let fits = tensor
        .shape()
        .dims()
        .last()
        .is_some_and(|d| d % GgmlDType::Q8_0.block_size() == 0);
    if slow && fits && tensor.shape().rank() == 2 {
        QTensor::quantize(&tensor.dequantize(device)?, GgmlDType::Q8_0)
    } else {
        Ok(tensor)
    }
}

/// Byte-level BPE from the GGUF vocabulary and merges, with digits split one by one (the
/// pre-tokenisation of GPT-2-style "smollm" and "llama-bpe" vocabularies).
fn build_tokenizer(content: &gguf_file::Content) -> Result<Tokenizer, String> {
    let model = metadata(content, "tokenizer.ggml.model")?
        .to_string()
        .map_err(|e| e.to_string())?;
    if model != "gpt2" {
        return Err(format!(
            "tokenizer model `{model}` is not supported (expected a byte-level BPE, `gpt2`)"
        ));
    }
    let tokens = string_list(metadata(content, "tokenizer.ggml.tokens")?)?;
    let merges = string_list(metadata(content, "tokenizer.ggml.merges")?)?;
    let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|t| t.to_i32().unwrap_or(1))
            .collect(),
        None => Vec::new(),
    };
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let merges: Vec<(String, String)> = merges
        .iter()
        .filter_map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| e.to_string())?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(PreTokenizerWrapper::Sequence(Sequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ]))));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    let special: Vec<AddedToken> = tokens
        .iter()
        .zip(&types)
        .filter(|(_, t)| **t == CONTROL_TOKEN)
        .map(|(token, _)| AddedToken::from(token.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| e.to_string())?;
    Ok(tokenizer)
}

fn chat_template(content: &gguf_file::Content) -> Result<minijinja::Environment<'static>, String> {
    let source = match content.metadata.get("tokenizer.chat_template") {
        Some(v) => v.to_string().map_err(|e| e.to_string())?.clone(),
        // ChatML, the most common template, when the file carries none.
        None => "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}".to_string(),
    };
    let mut env = minijinja::Environment::new();
    env.add_function(
        "raise_exception",
        |message: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                message,
            ))
        },
    );
    env.add_template_owned("chat", source)
        .map_err(|e| format!("chat template: {e}"))?;
    Ok(env)
}
