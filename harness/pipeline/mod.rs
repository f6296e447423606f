//! The engine: a check as a chain of stages, one file each, that never names a command. Each
//! stage's output is the next one's input; commands (`ops`) compose them.
//!
//! At the bottom is the [`request`]: what a check is asked ([`request::CheckOptions`], with
//! its [`request::CallOptions`], shard and wave plan), in the shape a run's manifest stores,
//! so a stored run still resumes. A command settles it first ([`check::settle`]: the config's
//! defaults, or a resumed run's stored request; [`check::replay`] for re-deriving a run).
//!
//! 1. **select** ([`select`]): which comparisons: the candidates asked for (revisions or
//!    variants), the prompts whose content or specification changed, deletions, `--control`;
//!    a shadow run's cases sampled from its traffic ([`shadow`]).
//! 2. **plan** ([`plan`]): every comparison on its suites. [`prepare`] reads each version at
//!    its revision (partials, tools) and builds each provider once; [`panel`] prepares the
//!    judges the suites name; [`jobs`] renders every case before any call and merges
//!    identical requests into one job. A shard keeps its cases after fingerprinting the whole
//!    plan ([`shard`]); a wave's shard plans only its draws ([`draws`]). `--dry-run` stops
//!    here with an [`estimate`].
//! 3. **calls** ([`calls`]): the jobs answered wave by wave (planned calls, conversations'
//!    next steps, the judges' grading) from the run's source — fresh, resumed from an
//!    interrupted attempt's log, or replayed from a stored log — then the response cache,
//!    then the providers; each result logged as it finishes.
//! 4. **rounds** ([`rounds`]): the discordant cases confirmed, and with `--adaptive` more
//!    samples where they decide an inconclusive suite; in a merge, a round the shards did not
//!    draw becomes the next wave.
//! 5. **evidence** ([`evidence`]): every sample scored, the versions compared case by case,
//!    the tallies the gate decides from.
//! 6. **verdict** ([`verdict`]): each suite decided by the gate, the report, its exit code,
//!    and the noise the check measured (remembered for the next check).
//!
//! [`check::run`] composes stages 2 to 6 on a selection; [`progress`] is what a check tells
//! its caller while it runs, and [`project`] the project it runs in.

pub(crate) mod calls;
pub(crate) mod check;
pub(crate) mod draws;
pub(crate) mod estimate;
pub(crate) mod evidence;
pub(crate) mod jobs;
pub(crate) mod panel;
pub(crate) mod plan;
pub(crate) mod prepare;
pub(crate) mod progress;
pub(crate) mod project;
pub(crate) mod request;
pub(crate) mod rounds;
pub(crate) mod select;
pub(crate) mod shadow;
pub(crate) mod shard;
pub(crate) mod verdict;
