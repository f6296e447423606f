//! Production traffic as input: the calls production made, read from JSONL or from
//! OpenTelemetry traces (OTLP JSON, one `ExportTraceServiceRequest` per line, as the
//! Collector's file exporter writes them), mapped to a prompt and its variables.
//!
//! A record that cannot be mapped is never dropped silently: it is counted under its reason,
//! with the first place it was seen. Credentials in the variables (names and values) and the
//! error are redacted as the record is read, so they reach no case, report, log or cache; the
//! output is kept as production answered, for the monitor's checks alone (a leaked credential
//! must fail them), and nothing stores it.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::errors::{Error, Location, Result};
use crate::secrets::redact;

/// One production call, mapped to a prompt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    /// Where it was read (`FILE:LINE`, and the span's index in that line for OTLP).
    pub source: Location,
    /// A stable id for the record: its file's name and line (and span).
    pub id: String,
    /// The prompt it rendered.
    pub prompt: String,
    /// The promoted version that served it (`N` of `vN`), when the record says.
    pub version: Option<u32>,
    /// The content hash of the version that served it, when the record says.
    pub content: Option<String>,
    /// The variables it was rendered with (credentials redacted).
    pub vars: Map<String, Value>,
    /// What production answered, when recorded, as it answered: the monitor's checks must see
    /// a leaked credential to fail on it. Nothing stores it (redact it before anything would).
    pub output: Option<String>,
    /// The call's error, when it failed.
    pub error: Option<String>,
    /// Wall time of the call, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Input and output tokens.
    pub tokens: Option<u64>,
    /// Cost in dollars.
    pub cost: Option<f64>,
    /// When the call started.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Why a record was not mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unmapped {
    /// The line is not JSON, or not the shape the format has (or not UTF-8, or longer than
    /// 16 MiB).
    Unreadable,
    /// An OTLP span that is not a generative AI call (no `gen_ai.operation.name`).
    NotGenAi,
    /// No prompt name (`prompt`, or the `promptgate.prompt.name` attribute).
    NoPrompt,
    /// A prompt name this project does not have.
    UnknownPrompt,
    /// No variables (`vars`, or `promptgate.prompt.variables`), or not an object.
    NoVariables,
    /// A record of another prompt than the one asked for.
    OtherPrompt,
    /// A record of another version than the one monitored.
    OtherVersion,
    /// The record does not say which version served it.
    NoVersion,
    /// Outside the time window asked for, or without a time when a window was asked for.
    OutsideWindow,
}

impl Unmapped {
    /// The reason as reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreadable => "unreadable",
            Self::NotGenAi => "not-gen-ai",
            Self::NoPrompt => "no-prompt",
            Self::UnknownPrompt => "unknown-prompt",
            Self::NoVariables => "no-variables",
            Self::OtherPrompt => "other-prompt",
            Self::OtherVersion => "other-version",
            Self::NoVersion => "no-version",
            Self::OutsideWindow => "outside-window",
        }
    }

    /// What the reason means, and what to do about it.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Unreadable => "not a JSON record of the file's format",
            Self::NotGenAi => "a span that is not a generative AI call",
            Self::NoPrompt => {
                "names no prompt: add `prompt` (JSONL) or the `promptgate.prompt.name` attribute"
            }
            Self::UnknownPrompt => "names a prompt this project does not have",
            Self::NoVariables => {
                "carries no variables object: add `vars` (JSONL) or `promptgate.prompt.variables`"
            }
            Self::OtherPrompt => "a record of another prompt",
            Self::OtherVersion => "served by another version",
            Self::NoVersion => {
                "does not say which version served it: add `version` or `content` (JSONL), or `promptgate.prompt.version`"
            }
            Self::OutsideWindow => "outside the time window",
        }
    }
}

/// Records left out for one reason: how many, and where the first was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// Why.
    pub reason: Unmapped,
    /// What that means.
    pub meaning: String,
    /// How many records.
    pub count: usize,
    /// Where the first one was (`FILE:LINE`).
    pub first: String,
}

impl std::fmt::Display for Skipped {
    /// `3 no-prompt (first at FILE:LINE)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} (first at {})",
            self.count,
            self.reason.as_str(),
            self.first
        )
    }
}

/// What a run read from traffic, for its report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The files read.
    pub files: Vec<String>,
    /// Records mapped to the prompt.
    pub records: usize,
    /// Records the run used (the sample).
    pub used: usize,
    /// Records left out, by reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// What a scan of traffic files found: how many records were taken, and what was left out
/// by reason. The records themselves go to the scan's caller as they are read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Traffic {
    /// The files, as named.
    pub files: Vec<PathBuf>,
    /// How many records were mapped and taken.
    mapped: usize,
    left_out: BTreeMap<Unmapped, (usize, Location)>,
}

/// What a scan does with a mapped record: takes it, or leaves it out for a reason.
type Take<'t> = dyn FnMut(Record) -> std::result::Result<(), Unmapped> + 't;

/// The longest traffic line read, in bytes (an OTLP export of a batch of spans is one line).
const MAX_LINE: u64 = 16 << 20;

/// The next line of `reader`, read into `bytes`: `None` at the end; `Some(None)` for a line
/// longer than [`MAX_LINE`] (skipped to its end, never held whole) or not UTF-8.
fn next_line<'b>(
    reader: &mut impl std::io::BufRead,
    bytes: &'b mut Vec<u8>,
) -> std::io::Result<Option<Option<&'b str>>> {
    use std::io::Read;
    bytes.clear();
    let read = reader
        .by_ref()
        .take(MAX_LINE + 1)
        .read_until(b'\n', bytes)?;
    if read == 0 {
        return Ok(None);
    }
    if bytes.len() as u64 > MAX_LINE {
        if !bytes.ends_with(b"\n") {
            reader.skip_until(b'\n')?;
        }
        return Ok(Some(None));
    }
    let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Ok(Some(std::str::from_utf8(line).ok()))
}

impl Traffic {
    /// Reads every file a line at a time, handing each mapped record to `take` and keeping
    /// none, so memory stays flat however long the files are; `known` says whether a prompt
    /// name exists in the project. A line is OTLP JSON when it has `resourceSpans`, else a
    /// JSONL record.
    pub(crate) fn scan(
        files: &[PathBuf],
        known: &dyn Fn(&str) -> bool,
        take: &mut Take<'_>,
    ) -> Result<Traffic> {
        let mut traffic = Traffic {
            files: files.to_vec(),
            ..Traffic::default()
        };
        for path in files {
            let file = std::fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            let mut reader = std::io::BufReader::new(file);
            let mut bytes = Vec::new();
            for n in 0.. {
                let Some(line) =
                    next_line(&mut reader, &mut bytes).map_err(|e| Error::io("read", path, e))?
                else {
                    break;
                };
                let at = Location::new(path, n + 1, 1);
                // A line past the cap, or not UTF-8, is one unreadable record: the rest of
                // the file is still read.
                let Some(line) = line else {
                    traffic.leave_out(Unmapped::Unreadable, &at);
                    continue;
                };
                if line.trim().is_empty() {
                    continue;
                }
                let id = format!("{name}:{}", n + 1);
                match serde_json::from_str::<Value>(line) {
                    Ok(value) if value.get("resourceSpans").is_some() => {
                        traffic.read_otlp(value, (&id, &at), known, take);
                    }
                    Ok(Value::Object(object)) => {
                        let record = jsonl_record(object, id, at.clone());
                        traffic.keep(record, &at, known, take);
                    }
                    _ => traffic.leave_out(Unmapped::Unreadable, &at),
                }
            }
        }
        Ok(traffic)
    }

    fn read_otlp(
        &mut self,
        value: Value,
        (id, at): (&str, &Location),
        known: &dyn Fn(&str) -> bool,
        take: &mut Take<'_>,
    ) {
        let Ok(request) = serde_json::from_value::<otlp::TracesData>(value) else {
            self.leave_out(Unmapped::Unreadable, at);
            return;
        };
        let mut index = 0;
        for resource in request.resource_spans {
            let shared = otlp::attributes(&resource.resource.attributes);
            for scope in resource.scope_spans {
                for span in scope.spans {
                    index += 1;
                    let record = otlp::record(&span, &shared, format!("{id}#{index}"), at);
                    self.keep(record, at, known, take);
                }
            }
        }
    }

    fn keep(
        &mut self,
        record: std::result::Result<Record, Unmapped>,
        at: &Location,
        known: &dyn Fn(&str) -> bool,
        take: &mut Take<'_>,
    ) {
        let taken = match record {
            Ok(record) if known(&record.prompt) => take(record),
            Ok(_) => Err(Unmapped::UnknownPrompt),
            Err(reason) => Err(reason),
        };
        match taken {
            Ok(()) => self.mapped += 1,
            Err(reason) => self.leave_out(reason, at),
        }
    }

    /// Counts a record left out for `reason`.
    fn leave_out(&mut self, reason: Unmapped, at: &Location) {
        self.left_out
            .entry(reason)
            .or_insert_with(|| (0, at.clone()))
            .0 += 1;
    }

    /// The summary a report carries, with `used` records used.
    pub(crate) fn summary(&self, used: usize) -> Summary {
        Summary {
            files: self.files.iter().map(|f| f.display().to_string()).collect(),
            records: self.mapped,
            used,
            skipped: self.skipped(),
        }
    }

    /// What was left out, by reason.
    pub(crate) fn skipped(&self) -> Vec<Skipped> {
        self.left_out
            .iter()
            .map(|(&reason, (count, first))| Skipped {
                reason,
                meaning: reason.meaning().to_string(),
                count: *count,
                first: format!("{}:{}", first.file.display(), first.line),
            })
            .collect()
    }
}

/// A seeded sample of `size` records (all of them when there are fewer), stratified by
/// the variable `stratify` when given: each value of it gets its share of the sample
/// (largest remainder, at least one per value while the sample has room), so rare values
/// are not lost. The order is the records' order in the files.
pub(crate) fn sample<'r>(
    records: &'r [Record],
    size: usize,
    seed: u64,
    stratify: Option<&str>,
) -> Vec<&'r Record> {
    use rand_pcg::rand_core::{Rng, SeedableRng};
    if records.len() <= size {
        return records.iter().collect();
    }
    let mut strata: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, record) in records.iter().enumerate() {
        let key = stratify
            .map(|field| match record.vars.get(field) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            })
            .unwrap_or_default();
        strata.entry(key).or_default().push(i);
    }
    let total = records.len();
    let mut shares: Vec<(usize, f64)> = strata
        .values()
        .map(|members| {
            let exact = size as f64 * members.len() as f64 / total as f64;
            (exact.floor() as usize, exact - exact.floor())
        })
        .collect();
    let mut left = size - shares.iter().map(|s| s.0).sum::<usize>();
    // Every value gets one before any gets a second.
    for share in shares.iter_mut().filter(|s| s.0 == 0) {
        if left == 0 {
            break;
        }
        share.0 = 1;
        share.1 = 0.0;
        left -= 1;
    }
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| shares[b].1.total_cmp(&shares[a].1).then(a.cmp(&b)));
    for &i in order.iter().take(left) {
        shares[i].0 += 1;
    }
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let mut chosen = Vec::with_capacity(size);
    for (mut members, (take, _)) in strata.into_values().zip(shares) {
        // A partial Fisher-Yates shuffle: the first `take` are a uniform sample.
        for i in 0..take.min(members.len()) {
            let j = i + (rng.next_u64() % (members.len() - i) as u64) as usize;
            members.swap(i, j);
        }
        chosen.extend(members.into_iter().take(take));
    }
    chosen.sort_unstable();
    chosen.into_iter().map(|i| &records[i]).collect()
}

/// A JSONL record: `{"prompt", "version" | "content", "vars", "output", "error", "latency_ms",
/// "usage": {"input_tokens", "output_tokens"}, "cost", "at"}`; other fields are ignored.
fn jsonl_record(
    mut object: Map<String, Value>,
    id: String,
    source: Location,
) -> std::result::Result<Record, Unmapped> {
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let prompt = text(object.remove("prompt")).ok_or(Unmapped::NoPrompt)?;
    let Some(Value::Object(vars)) = object.remove("vars") else {
        return Err(Unmapped::NoVariables);
    };
    let version = match object.remove("version") {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(Value::String(s)) => parse_version(&s),
        _ => None,
    };
    let usage = object.remove("usage");
    let count = |key: &str| {
        usage
            .as_ref()
            .and_then(|u| u.get(key))
            .and_then(Value::as_u64)
    };
    let tokens = match (count("input_tokens"), count("output_tokens")) {
        (None, None) => None,
        (i, o) => Some(i.unwrap_or(0) + o.unwrap_or(0)),
    };
    let error = match object.remove("error") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    };
    Ok(Record {
        source,
        id,
        prompt,
        version,
        content: text(object.remove("content")),
        vars: redact_map(vars),
        output: text(object.remove("output")),
        error: error.map(|e| redact(&e)),
        latency_ms: object
            .get("latency_ms")
            .and_then(Value::as_f64)
            .map(|ms| ms.round() as u64),
        tokens,
        cost: object.get("cost").and_then(Value::as_f64).and_then(cost),
        at: text(object.remove("at")).and_then(|at| {
            chrono::DateTime::parse_from_rfc3339(&at)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc))
        }),
    })
}

/// `value` as a call's cost in dollars: none when it is not finite, or negative (a record
/// cannot switch cost monitoring off, or make a window look cheaper, with one).
fn cost(value: f64) -> Option<f64> {
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// `v3` or `3` as a version number.
fn parse_version(text: &str) -> Option<u32> {
    text.trim().trim_start_matches('v').parse().ok()
}

/// `map` with every credential in its values, and in its keys, replaced.
fn redact_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| (redact(&k), redact_value(v)))
        .collect()
}

fn redact_value(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(redact(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_value).collect()),
        Value::Object(map) => Value::Object(redact_map(map)),
        other => other,
    }
}

/// The subset of the OTLP JSON encoding (the protobuf JSON mapping of
/// `ExportTraceServiceRequest`) that traffic reads.
mod otlp {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::Value;

    use super::{Record, Unmapped, cost, parse_version, redact, redact_map};
    use crate::errors::Location;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct TracesData {
        #[serde(default)]
        pub(super) resource_spans: Vec<ResourceSpans>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct ResourceSpans {
        #[serde(default)]
        pub(super) resource: Resource,
        #[serde(default)]
        pub(super) scope_spans: Vec<ScopeSpans>,
    }

    #[derive(Deserialize, Default)]
    pub(super) struct Resource {
        #[serde(default)]
        pub(super) attributes: Vec<KeyValue>,
    }

    #[derive(Deserialize)]
    pub(super) struct ScopeSpans {
        #[serde(default)]
        pub(super) spans: Vec<Span>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Span {
        #[serde(default)]
        start_time_unix_nano: Option<Value>,
        #[serde(default)]
        end_time_unix_nano: Option<Value>,
        #[serde(default)]
        attributes: Vec<KeyValue>,
        #[serde(default)]
        status: Option<Status>,
    }

    #[derive(Deserialize)]
    pub(super) struct Status {
        #[serde(default)]
        code: Option<Value>,
        #[serde(default)]
        message: Option<String>,
    }

    #[derive(Deserialize)]
    pub(super) struct KeyValue {
        key: String,
        #[serde(default)]
        value: AnyValue,
    }

    /// One attribute value; ints are strings in the JSON mapping (64-bit), or numbers.
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct AnyValue {
        string_value: Option<String>,
        int_value: Option<Value>,
        double_value: Option<f64>,
        bool_value: Option<bool>,
    }

    /// A plain view of attribute values.
    #[derive(Debug, Clone)]
    pub(super) enum Attr {
        Text(String),
        Number(f64),
    }

    impl Attr {
        fn text(&self) -> Option<&str> {
            match self {
                Self::Text(s) => Some(s),
                Self::Number(_) => None,
            }
        }

        /// The attribute as a finite number (`"NaN"` and `"inf"` are none).
        fn number(&self) -> Option<f64> {
            match self {
                Self::Number(n) => Some(*n),
                Self::Text(s) => s.parse().ok(),
            }
            .filter(|n: &f64| n.is_finite())
        }
    }

    /// `value` as a finite number (`"NaN"` and `"inf"` are none).
    fn number(value: &Value) -> Option<f64> {
        match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .filter(|n: &f64| n.is_finite())
    }

    pub(super) fn attributes(list: &[KeyValue]) -> BTreeMap<String, Attr> {
        list.iter()
            .filter_map(|kv| {
                let v = &kv.value;
                let attr = if let Some(s) = &v.string_value {
                    Attr::Text(s.clone())
                } else if let Some(n) = v.int_value.as_ref().and_then(number) {
                    Attr::Number(n)
                } else if let Some(n) = v.double_value {
                    Attr::Number(n)
                } else {
                    Attr::Text(v.bool_value?.to_string())
                };
                Some((kv.key.clone(), attr))
            })
            .collect()
    }

    /// The text of the assistant's parts in `gen_ai.output.messages`
    /// (`[{"role", "parts": [{"type": "text", "content"}]}]`).
    fn output_text(messages: &str) -> Option<String> {
        let messages: Vec<Value> = serde_json::from_str(messages).ok()?;
        let text: Vec<&str> = messages
            .iter()
            .filter(|m| m.get("role").and_then(Value::as_str) != Some("user"))
            .flat_map(|m| {
                m.get("parts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("content").and_then(Value::as_str))
            .collect();
        Some(text.join(""))
    }

    /// A span as a record, with the resource's attributes under the span's.
    pub(super) fn record(
        span: &Span,
        shared: &BTreeMap<String, Attr>,
        id: String,
        at: &Location,
    ) -> Result<Record, Unmapped> {
        let own = attributes(&span.attributes);
        let get = |key: &str| own.get(key).or_else(|| shared.get(key));
        if get("gen_ai.operation.name").is_none() {
            return Err(Unmapped::NotGenAi);
        }
        let prompt = get("promptgate.prompt.name")
            .and_then(Attr::text)
            .ok_or(Unmapped::NoPrompt)?
            .to_string();
        let vars = get("promptgate.prompt.variables")
            .and_then(Attr::text)
            .and_then(|v| serde_json::from_str::<Value>(v).ok());
        let Some(Value::Object(vars)) = vars else {
            return Err(Unmapped::NoVariables);
        };
        let start = span.start_time_unix_nano.as_ref().and_then(number);
        let end = span.end_time_unix_nano.as_ref().and_then(number);
        let failed = span
            .status
            .as_ref()
            .and_then(|s| s.code.as_ref())
            .is_some_and(|c| number(c) == Some(2.0) || c.as_str() == Some("STATUS_CODE_ERROR"));
        let error = failed.then(|| {
            span.status
                .as_ref()
                .and_then(|s| s.message.clone())
                .filter(|m| !m.is_empty())
                .or_else(|| get("error.type").and_then(Attr::text).map(str::to_string))
                .unwrap_or_else(|| "error".into())
        });
        let tokens = ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"]
            .iter()
            .filter_map(|k| get(k).and_then(Attr::number))
            .map(|n| n as u64)
            .reduce(|a, b| a + b);
        Ok(Record {
            source: at.clone(),
            id,
            prompt,
            version: get("promptgate.prompt.version")
                .and_then(Attr::text)
                .and_then(parse_version),
            content: get("promptgate.prompt.content")
                .and_then(Attr::text)
                .map(str::to_string),
            vars: redact_map(vars),
            output: get("gen_ai.output.messages")
                .and_then(Attr::text)
                .and_then(output_text),
            error: error.map(|e| redact(&e)),
            latency_ms: start
                .zip(end)
                .map(|(s, e)| ((e - s).max(0.0) / 1e6).round() as u64),
            tokens,
            cost: get("promptgate.cost").and_then(Attr::number).and_then(cost),
            at: start.and_then(|ns| {
                chrono::DateTime::from_timestamp((ns / 1e9) as i64, (ns % 1e9) as u32)
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a scan of `text` found, and the records it took.
    fn read(text: &str) -> (Traffic, Vec<Record>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traffic.jsonl");
        std::fs::write(&path, text).unwrap();
        let mut records = Vec::new();
        let known = |name: &str| name == "support/reply";
        let traffic = Traffic::scan(&[path], &known, &mut |r| {
            records.push(r);
            Ok(())
        })
        .unwrap();
        (traffic, records)
    }

    #[test]
    fn otlp_costs_that_are_not_finite_or_negative_are_no_cost() {
        for cost in ["NaN", "inf", "-inf", "-1"] {
            let line = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
                "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000500000000",
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": "promptgate.prompt.name", "value": {"stringValue": "support/reply"}},
                    {"key": "promptgate.prompt.variables", "value": {"stringValue": "{}"}},
                    {"key": "promptgate.cost", "value": {"stringValue": cost}},
                ],
            }]}]}]});
            let (_, records) = read(&format!("{line}\n"));
            assert_eq!(records.len(), 1, "{cost}");
            assert_eq!(records[0].cost, None, "{cost}");
        }
    }

    #[test]
    fn a_line_not_utf8_or_past_the_cap_is_one_unreadable_record_and_the_rest_is_read() {
        let good =
            r#"{"prompt":"support/reply","version":"v2","vars":{"name":"Ana"},"output":"Hi"}"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traffic.jsonl");
        let mut bytes = format!("{good}\n").into_bytes();
        bytes.extend_from_slice(b"{\"prompt\": \"support/reply\xff\"}\n");
        bytes.extend(std::iter::repeat_n(b'x', MAX_LINE as usize + 10));
        bytes.extend_from_slice(format!("\n{good}\r\n").as_bytes());
        std::fs::write(&path, bytes).unwrap();
        let mut taken = Vec::new();
        let traffic = Traffic::scan(&[path], &|n: &str| n == "support/reply", &mut |r| {
            taken.push(r.id);
            Ok(())
        })
        .unwrap();
        assert_eq!(taken, ["traffic.jsonl:1", "traffic.jsonl:4"]);
        let reasons: Vec<_> = traffic
            .skipped()
            .iter()
            .map(|s| (s.reason, s.count))
            .collect();
        assert_eq!(reasons, [(Unmapped::Unreadable, 2)]);
    }

    #[test]
    fn jsonl_records_map_and_the_rest_are_counted_by_reason() {
        let (t, records) = read(concat!(
            r#"{"prompt":"support/reply","version":"v2","vars":{"name":"Ana"},"output":"Hi","latency_ms":120,"usage":{"input_tokens":10,"output_tokens":5},"cost":0.001}"#,
            "\n",
            r#"{"prompt":"support/other","vars":{}}"#,
            "\n",
            r#"{"vars":{}}"#,
            "\nnot json\n",
            r#"{"prompt":"support/reply","vars":"x"}"#,
            "\n"
        ));
        assert_eq!(records.len(), 1);
        assert_eq!(t.summary(1).records, 1);
        let r = &records[0];
        assert_eq!(
            (r.version, r.tokens, r.latency_ms),
            (Some(2), Some(15), Some(120))
        );
        assert_eq!(r.id, "traffic.jsonl:1");
        let reasons: Vec<_> = t.skipped().iter().map(|s| (s.reason, s.count)).collect();
        assert_eq!(
            reasons,
            vec![
                (Unmapped::Unreadable, 1),
                (Unmapped::NoPrompt, 1),
                (Unmapped::UnknownPrompt, 1),
                (Unmapped::NoVariables, 1)
            ]
        );
        assert!(t.skipped()[0].first.ends_with("traffic.jsonl:4"));
    }

    #[test]
    fn credentials_are_redacted_as_records_are_read() {
        let (_, records) = read(
            r#"{"prompt":"support/reply","vars":{"issue":"my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123"},"output":"Authorization: Bearer abcdefghijklmnop1234","error":null}"#,
        );
        let r = &records[0];
        assert_eq!(r.vars["issue"], "my key is [redacted credential]");
        // The output stays as production answered, for the monitor's checks to see a leak.
        assert_eq!(
            r.output.as_deref(),
            Some("Authorization: Bearer abcdefghijklmnop1234")
        );
    }

    #[test]
    fn a_stratified_sample_is_seeded_and_keeps_rare_values() {
        let mut text = String::new();
        for i in 0..100 {
            let tier = if i % 50 == 0 { "rare" } else { "common" };
            text.push_str(&format!(
                "{{\"prompt\":\"support/reply\",\"vars\":{{\"tier\":\"{tier}\",\"i\":{i}}}}}\n"
            ));
        }
        let (_, records) = read(&text);
        let ids = |seed| -> Vec<String> {
            sample(&records, 10, seed, Some("tier"))
                .iter()
                .map(|r| r.id.clone())
                .collect()
        };
        assert_eq!(ids(1).len(), 10);
        assert_eq!(ids(1), ids(1));
        assert_ne!(ids(1), ids(2));
        // 2 rare records in 100: a plain sample of 10 misses both four times in five; the
        // stratified one never does.
        for seed in 0..50 {
            let rare = sample(&records, 10, seed, Some("tier"))
                .iter()
                .filter(|r| r.vars["tier"] == "rare")
                .count();
            assert!(rare >= 1, "seed {seed}");
        }
        assert_eq!(sample(&records, 1000, 1, None).len(), 100);
    }
}
