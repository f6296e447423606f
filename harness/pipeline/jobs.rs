//! A run's calls, planned: every case's samples on a prepared version, identical requests to
//! the same provider merged into one job, each with the conversation it starts and the
//! judges that grade it.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::panel::{JudgeLibrary, JudgeTask};
use super::prepare::{
    Prepared, SuiteProvider, check_script, check_target, effective_params, render_case,
};
use super::project::Project;
use crate::conversation::Conversation;
use crate::errors::Result;
use crate::provider::Request;
use crate::runner::Job;
use crate::suite::Suite;

/// One planned call: what the runner sends, and what the run does with it.
pub(crate) struct PlannedJob {
    pub(crate) job: Job,
    /// The content key (cache and results log).
    pub(crate) key: String,
    /// The first case that planned it (`suite/case#sample on prompt@rev`), for cassettes.
    pub(crate) label: String,
    /// The configured name of its provider, for cassettes.
    pub(crate) provider: String,
    /// The conversation it starts, when it is a conversation case's first call (boxed: most
    /// jobs start none, and 200,000 empty slots of a whole conversation are 32 MB).
    pub(crate) conversation: Option<Box<Conversation>>,
    /// The judges that grade its output once it is done.
    pub(crate) judges: Vec<JudgeTask>,
}

/// Calls, deduplicated: identical requests to the same provider become one job.
#[derive(Default)]
pub(crate) struct Jobs {
    pub(crate) planned: Vec<PlannedJob>,
    /// The judges the run's suites name.
    pub(crate) library: Arc<JudgeLibrary>,
    /// Each job by the digest of its identity, to find duplicates while planning (dropped
    /// before the calls).
    pub(crate) index: HashMap<[u8; 32], usize>,
}

impl Jobs {
    /// No jobs yet, graded by the judges of `library`.
    pub(crate) fn judged_by(library: Arc<JudgeLibrary>) -> Self {
        Self {
            library,
            ..Self::default()
        }
    }

    /// Makes room for `more` jobs at once (planning 200,000 calls one push at a time would
    /// leave a quarter of every vector empty).
    pub(crate) fn reserve(&mut self, more: usize) {
        self.planned.reserve_exact(more);
        self.index.reserve(more);
    }

    /// Has the pairwise judges of `case` grade job `candidate` against job `baseline` (the
    /// same case and sample on the baseline version).
    pub(crate) fn pair(
        &mut self,
        case: &crate::suite::Case,
        tier: crate::artifact::RiskTier,
        baseline: usize,
        candidate: usize,
    ) {
        let tasks = self.library.tasks(case, tier, Some(baseline));
        self.planned[candidate].judges.extend(tasks);
    }

    /// Adds a call, or finds the identical one already planned; returns its index.
    pub(crate) fn add(
        &mut self,
        provider: &SuiteProvider,
        request: Request,
        label: String,
    ) -> Result<usize> {
        self.add_call(provider, request, label, None, Vec::new())
    }

    /// Adds a call (a conversation's first, when it starts one) that `judges` grade; identical
    /// calls that differ in their conversation or grading stay apart.
    fn add_call(
        &mut self,
        provider: &SuiteProvider,
        request: Request,
        label: String,
        conversation: Option<Conversation>,
        judges: Vec<JudgeTask>,
    ) -> Result<usize> {
        let key = request.key(provider.provider.fingerprint())?;
        // A digest, not the text: 200,000 identities take about 9 MB rather than 25.
        let mut identity = Sha256::new().chain_update(key.as_bytes());
        if let Some(c) = &conversation {
            identity.update(format!(" {:p}", Arc::as_ptr(c.script())).as_bytes());
        }
        for task in &judges {
            identity.update([0]);
            identity.update(task.identity().as_bytes());
        }
        let identity: [u8; 32] = identity.finalize().into();
        if let Some(&i) = self.index.get(&identity) {
            return Ok(i);
        }
        let i = self.planned.len();
        self.planned.push(PlannedJob {
            job: Job {
                provider: provider.provider.clone(),
                lane: provider.lane.clone(),
                request,
            },
            key,
            label,
            provider: provider.recorded_as.clone(),
            conversation: conversation.map(Box::new),
            judges,
        });
        self.index.insert(identity, i);
        Ok(i)
    }
}

/// Samples per case and version for `suite` on `prepared`: the suite's own, but at least what
/// the prompt's risk tier requires.
pub(crate) fn samples_for(project: &Project, suite: &Suite, prepared: &Prepared) -> u32 {
    let tier = prepared.prompt.metadata.governance.risk_tier;
    suite.samples.max(project.config.tier(tier).min_samples)
}

/// Renders every case of `suite` on `prepared` and plans a call per case for each sample number
/// of `samples` (a control run's second side numbers its samples after the first's).
///
/// Returns, per case, the job index of each sample. Variable errors name the suite, case and
/// variable, and stop the run before any call.
pub(crate) fn plan_suite(
    suite: &Suite,
    prepared: &Prepared,
    provider: &SuiteProvider,
    jobs: &mut Jobs,
    samples: std::ops::Range<u32>,
) -> Result<Vec<Vec<usize>>> {
    check_target(suite, prepared)?;
    suite
        .cases
        .iter()
        .map(|case| plan_case(suite, case, prepared, provider, jobs, samples.clone()))
        .collect()
}

/// Plans the calls of `samples` of one case; returns their job indices.
pub(crate) fn plan_case(
    suite: &Suite,
    case: &crate::suite::Case,
    prepared: &Prepared,
    provider: &SuiteProvider,
    jobs: &mut Jobs,
    samples: std::ops::Range<u32>,
) -> Result<Vec<usize>> {
    let params = effective_params(suite, prepared, provider);
    let messages = render_case(suite, case, prepared)?;
    check_script(case, prepared)?;
    let tier = prepared.prompt.metadata.governance.risk_tier;
    samples
        .map(|sample| {
            let request = Request {
                messages: messages.clone(),
                params,
                sample,
                tools: prepared.tools.clone(),
                reply_schema: None,
            };
            let label = format!(
                "{}/{}#{sample} on {}",
                suite.name,
                case.id,
                prepared.version.label()
            );
            let judges = jobs.library.tasks(case, tier, None);
            match &case.script {
                Some(script) => {
                    let (conversation, first) = Conversation::start(script.clone(), request);
                    jobs.add_call(provider, first, label, Some(conversation), judges)
                }
                None => jobs.add_call(provider, request, label, None, judges),
            }
        })
        .collect()
}
