//! A shadow run's cases: the prompt's `kind: shadow` suite filled with a seeded sample of its
//! production traffic (a shadow run checks nothing else).

use super::project::Project;
use super::request::{CheckOptions, TrafficSample};
use crate::errors::{Error, Result};
use crate::ids::PromptName;
use crate::suite::Suite;
use crate::traffic::{Summary, Traffic, Unmapped};

/// The one suite a shadow run checks, and what the traffic it was sampled from held.
pub(crate) struct ShadowCases {
    pub(crate) suite: Suite,
    pub(crate) traffic: Summary,
}

/// The shadow suite of the prompt `options` name, filled with `sample` of its traffic.
pub(crate) fn cases(
    project: &Project,
    options: &CheckOptions,
    sample: &TrafficSample,
) -> Result<ShadowCases> {
    let [name] = options.prompts.as_slice() else {
        return Err(Error::Usage(
            "a shadow run checks one prompt: name it".into(),
        ));
    };
    let prompt = PromptName::new(name);
    let shadow = Suite::shadow_for(&project.suites, &prompt).ok_or_else(|| {
            Error::Usage(format!(
                "no shadow suite targets {prompt}: add one under suites/ with `kind: shadow`, `prompt: {prompt}` and reference-free checks under `defaults: {{ assert: [...] }}`"
            ))
    })?;
    let known = project.prompt_names()?;
    let mut records = Vec::new();
    let traffic = Traffic::scan(&sample.files, &|n: &str| known.contains(n), &mut |r| {
        if r.prompt != prompt.as_str() {
            return Err(Unmapped::OtherPrompt);
        }
        records.push(r);
        Ok(())
    })?;
    if records.is_empty() {
        let skipped: Vec<String> = traffic.skipped().iter().map(ToString::to_string).collect();
        return Err(Error::Usage(format!(
            "the traffic has no record of {prompt} to shadow{}",
            if skipped.is_empty() {
                String::new()
            } else {
                format!("; left out: {}", skipped.join(", "))
            }
        )));
    }
    let chosen = crate::traffic::sample(
        &records,
        sample.size,
        sample.seed,
        sample.stratify.as_deref(),
    );
    Ok(ShadowCases {
        suite: shadow.with_traffic(&chosen),
        traffic: traffic.summary(chosen.len()),
    })
}
