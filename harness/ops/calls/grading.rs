//! Grading: the judges' calls on a run's outputs, made in one wave once the outputs are done,
//! and their judgments joined to the outcomes they grade.

use super::{CallOptions, Calls, Recorded, Wave};
use crate::errors::Result;
use crate::ops::Progress;
use crate::ops::judging::JudgeTask;
use crate::runner::{self, Outcome};

/// What grading a run's outputs came to.
pub(super) struct Graded {
    pub(super) interrupted: bool,
    /// The judges' calls, for cassettes: ((provider, label), request), outcome.
    pub(super) recorded: Vec<Recorded>,
}

/// Has the judges grade every output that has judges: one wave of their calls (two per
/// pairwise judge, one per order), each a call like any other; each output's judgments join
/// its outcome. An output whose own call failed is not graded; an interrupt before the wave
/// leaves the graded outputs skipped, so a resumed run grades them.
pub(super) fn grade(
    calls: &mut dyn Calls,
    outcomes: &mut [Outcome],
    (judges, samples): (&[Vec<JudgeTask>], &[u32]),
    options: &CallOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Graded> {
    let mut wave = Wave::default();
    let mut requests = Vec::new();
    // (job, task, replies in the wave) for each task graded by calls.
    let mut owners: Vec<(usize, usize, std::ops::Range<usize>)> = Vec::new();
    let mut settled: Vec<(usize, crate::judge::Judgment)> = Vec::new();
    for (index, tasks) in judges.iter().enumerate() {
        let Ok(completion) = &outcomes[index].result else {
            continue;
        };
        if tasks.is_empty() {
            continue;
        }
        let output = crate::report::shown_output(&completion.text, &completion.tool_calls);
        for (t, task) in tasks.iter().enumerate() {
            let baseline = match task.against {
                Some(b) if b == index => {
                    settled.push((index, task.identical()));
                    continue;
                }
                Some(b) => match &outcomes[b].result {
                    Ok(c) => Some(crate::report::shown_output(&c.text, &c.tool_calls)),
                    Err(_) => continue,
                },
                None => None,
            };
            // Each sample of a case gets a judgment of its own: judge noise is sample noise.
            let sample = samples[index];
            let start = wave.jobs.len();
            for request in task.requests(&output, baseline.as_deref(), sample)? {
                let provider = task.provider();
                wave.keys
                    .push(request.key(provider.provider.fingerprint())?);
                wave.labels
                    .push(format!("judge {} of call {index}", task.name()));
                wave.providers.push(provider.recorded_as.clone());
                if options.record {
                    requests.push(request.clone());
                }
                wave.jobs.push(runner::Job {
                    provider: provider.provider.clone(),
                    lane: provider.lane.clone(),
                    request,
                });
            }
            owners.push((index, t, start..wave.jobs.len()));
        }
    }
    for (index, judgment) in settled {
        outcomes[index].judgments.push(judgment);
    }
    if wave.jobs.is_empty() {
        return Ok(Graded {
            interrupted: false,
            recorded: Vec::new(),
        });
    }
    progress(Progress::More {
        calls: wave.jobs.len(),
    });
    let Wave {
        jobs,
        keys,
        labels,
        providers,
    } = wave;
    let (replies, interrupted) = calls.wave(jobs, keys, options, progress)?;
    for (index, t, range) in owners {
        let answered: Vec<&Outcome> = replies[range].iter().collect();
        if answered.iter().any(|o| o.skipped) {
            let why = "interrupted before its judges graded it";
            outcomes[index] = Outcome::skipped(why, 0, None);
            continue;
        }
        let judgment = judges[index][t].judgment(&answered);
        outcomes[index].judgments.push(judgment);
    }
    // Only a recording run keeps the requests (`zip` stops at the shortest).
    let recorded = providers
        .into_iter()
        .zip(labels)
        .zip(requests)
        .zip(replies)
        .collect();
    Ok(Graded {
        interrupted,
        recorded,
    })
}
