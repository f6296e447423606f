//! One wave of calls and where it is answered: what every answerer of a wave (the ledger, the
//! log replay) takes and gives, and what cassettes record of each call.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::errors::Result;
use crate::pipeline::progress::Progress;
use crate::pipeline::request::CallOptions;
use crate::provider::{Provider, Request};
use crate::runner::{self, Outcome};

/// Outcomes a run logged, by request key.
pub(crate) type Logged = HashMap<String, Outcome>;

/// How long calls in flight may take to finish after a first Ctrl-C.
pub(crate) const INTERRUPT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a wave's calls are answered: made and logged (the ledger), or read back from a
/// stored run's log (the log replay).
pub(crate) trait Calls {
    /// The outcomes of `jobs`, in order, and whether an interrupt stopped the wave.
    fn wave(
        &mut self,
        jobs: Vec<runner::Job>,
        keys: Vec<String>,
        options: &CallOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(Vec<Outcome>, bool)>;

    /// Closes the run directory; returns its path.
    fn finish(self: Box<Self>, run_id: &crate::ids::RunId, root: &Path) -> Result<PathBuf>;
}

/// Where a call goes: its provider and the provider's lane.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) lane: Arc<runner::Lane>,
}

/// One wave of calls, with what the results log and cassettes record of each.
#[derive(Default)]
pub(crate) struct Wave {
    pub(crate) jobs: Vec<runner::Job>,
    /// Each call's request key (cache and results log).
    pub(crate) keys: Vec<String>,
    /// Each call's label, for cassettes.
    pub(crate) labels: Vec<String>,
    /// The configured name of each call's provider, for cassettes.
    pub(crate) providers: Vec<String>,
}

impl Wave {
    /// Adds `request` to the wave, sent on `route`, labelled `label` for cassettes of the
    /// provider configured as `provider`.
    pub(crate) fn push(
        &mut self,
        route: &Route,
        request: Request,
        label: String,
        provider: String,
    ) -> Result<()> {
        self.keys.push(request.key(route.provider.fingerprint())?);
        self.labels.push(label);
        self.providers.push(provider);
        self.jobs.push(runner::Job {
            provider: route.provider.clone(),
            lane: route.lane.clone(),
            request,
        });
        Ok(())
    }
}

/// A call as a cassette keeps it: the provider's configured name, the case's label, the
/// request, and what became of it.
pub(crate) struct Recorded {
    pub(crate) provider: String,
    pub(crate) label: String,
    pub(crate) request: Request,
    pub(crate) outcome: Outcome,
}

impl Recorded {
    /// The calls of a wave as cassettes keep them; empty unless the run records (its
    /// `requests` are kept only then).
    pub(crate) fn of_wave(
        providers: Vec<String>,
        labels: Vec<String>,
        requests: Vec<Request>,
        outcomes: &[Outcome],
    ) -> Vec<Self> {
        providers
            .into_iter()
            .zip(labels)
            .zip(requests)
            .zip(outcomes.iter().cloned())
            .map(|(((provider, label), request), outcome)| Self {
                provider,
                label,
                request,
                outcome,
            })
            .collect()
    }
}

/// What the waves of a run made so far beyond their outcomes.
#[derive(Default)]
pub(crate) struct Made {
    /// Whether an interrupt stopped a wave.
    pub(crate) interrupted: bool,
    /// The calls for cassettes (only when the run records).
    pub(crate) recorded: Vec<Recorded>,
}
/// Answers one wave; its calls are kept for cassettes when the run records.
pub(crate) fn answer(
    calls: &mut dyn Calls,
    wave: Wave,
    options: &CallOptions,
    made: &mut Made,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<Outcome>> {
    let Wave {
        jobs,
        keys,
        labels,
        providers,
    } = wave;
    let requests: Vec<Request> = match options.record {
        true => jobs.iter().map(|j| j.request.clone()).collect(),
        false => Vec::new(),
    };
    let (answered, stopped) = calls.wave(jobs, keys, options, progress)?;
    made.interrupted |= stopped;
    if options.record {
        let recorded = Recorded::of_wave(providers, labels, requests, &answered);
        made.recorded.extend(recorded);
    }
    Ok(answered)
}
