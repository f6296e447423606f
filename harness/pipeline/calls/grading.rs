//! Grading: the judges' calls on a run's outputs, made in one wave once the outputs are done,
//! and their judgments joined to the outcomes they grade.

use super::wave::{Calls, Made, Route, Wave, answer};
use crate::errors::Result;
use crate::judge::Judgment;
use crate::pipeline::panel::JudgeTask;
use crate::pipeline::progress::Progress;
use crate::pipeline::request::CallOptions;
use crate::runner::Outcome;

/// The judges' tasks of every job of a run, and the sample number of each job.
pub(crate) struct Graders<'a> {
    pub(crate) tasks: &'a [Vec<JudgeTask>],
    pub(crate) samples: &'a [u32],
}

/// The judges' wave: their calls, which task each range of them answers, and the judgments
/// given without a call.
#[derive(Default)]
struct Planned {
    wave: Wave,
    /// (job, task, the task's replies in the wave).
    owners: Vec<(usize, usize, std::ops::Range<usize>)>,
    settled: Vec<(usize, Judgment)>,
}

/// Has the judges grade every output that has judges: one wave of their calls (two per
/// pairwise judge, one per order), each a call like any other; each output's judgments join
/// its outcome. An output whose own call failed is not graded; an interrupt before the wave
/// leaves the graded outputs skipped, so a resumed run grades them.
pub(crate) fn grade(
    calls: &mut dyn Calls,
    outcomes: &mut [Outcome],
    graders: Graders<'_>,
    options: &CallOptions,
    made: &mut Made,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let Planned {
        wave,
        owners,
        settled,
    } = plan_wave(outcomes, &graders)?;
    for (index, judgment) in settled {
        outcomes[index].judgments.push(judgment);
    }
    if wave.jobs.is_empty() {
        return Ok(());
    }
    progress(Progress::Phase(format!(
        "judging {} {} ({})",
        owners.len(),
        if owners.len() == 1 {
            "reply"
        } else {
            "replies"
        },
        crate::report::plural(wave.jobs.len(), "judge call")
    )));
    progress(Progress::More {
        calls: wave.jobs.len(),
    });
    let replies = answer(calls, wave, options, made, progress)?;
    for (index, t, range) in owners {
        let answered: Vec<&Outcome> = replies[range].iter().collect();
        if answered.iter().any(|o| o.skipped) {
            let why = "interrupted before its judges graded it";
            outcomes[index] = Outcome::skipped(why, 0, None);
            continue;
        }
        let judgment = graders.tasks[index][t].judgment(&answered);
        outcomes[index].judgments.push(judgment);
    }
    Ok(())
}

/// The judges' calls on every output that has judges (an output whose own call failed is not
/// graded, and a pairwise task whose two sides made one call is settled without one).
fn plan_wave(outcomes: &[Outcome], graders: &Graders<'_>) -> Result<Planned> {
    let mut planned = Planned::default();
    for (index, tasks) in graders.tasks.iter().enumerate() {
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
                    planned.settled.push((index, task.identical()));
                    continue;
                }
                Some(b) => match &outcomes[b].result {
                    Ok(c) => Some(crate::report::shown_output(&c.text, &c.tool_calls)),
                    Err(_) => continue,
                },
                None => None,
            };
            // Each sample of a case gets a judgment of its own: judge noise is sample noise.
            let sample = graders.samples[index];
            let start = planned.wave.jobs.len();
            let provider = task.provider();
            let route = Route {
                provider: provider.provider.clone(),
                lane: provider.lane.clone(),
            };
            for request in task.requests(&output, baseline.as_deref(), sample)? {
                let label = format!("judge {} of call {index}", task.name());
                let recorded_as = provider.recorded_as.clone();
                planned.wave.push(&route, request, label, recorded_as)?;
            }
            planned
                .owners
                .push((index, t, start..planned.wave.jobs.len()));
        }
    }
    Ok(planned)
}
