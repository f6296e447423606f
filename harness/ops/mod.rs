//! The commands, one file each: a short composition of the engine's stages
//! ([`crate::pipeline`]) and of governance ([`crate::release`]). No command uses another, and
//! nothing here prints or reads the environment: the CLI passes in what it read and renders
//! what comes back.

mod approve;
mod cache;
mod calibrate;
mod check;
mod draw;
mod estimate;
mod hook;
mod init;
mod log;
mod merge;
mod model;
mod monitor;
mod promote;
mod readiness;
mod report;
mod rollback;
mod run;
mod shadow;
mod shard;
mod show;
mod status;
mod validate;

pub use crate::config::json_schema as config_schema;
pub use crate::judge::Agreement;
pub use crate::monitor::Health;
pub use crate::pipeline::check::{CheckOutcome, DrawnWave};
pub use crate::pipeline::estimate::Estimate;
pub use crate::pipeline::panel::Calibration;
pub use crate::pipeline::progress::{CallCounts, Progress};
pub use crate::pipeline::project::{Env, Project, find_project, model_dir, project_at};
pub use crate::pipeline::request::{
    CallOptions, CheckOptions, ErrorBudget, Shard, TrafficSample, WAVE_FILE, WavePlan, WaveSamples,
};
pub use crate::provider::local::model_pin;
pub use crate::readiness::Assessment;
pub use crate::record::REPORTS_DIR;
pub use crate::release::labels::{DEFAULT_LABEL, RollbackOptions};
pub use crate::report::{ReportFormat, RunEntry, runs};
pub use crate::runner::BudgetLimits;
pub use crate::store::{Baseline, LabelEvent, Measures, ReleaseAction};
pub use crate::suite::CaseFilter;
pub use crate::suite::json_schema as suite_schema;
pub use approve::approve;
pub use cache::{CacheStats, cache_clear, cache_stats};
pub use calibrate::{CalibrateOptions, calibrate};
pub use check::{CheckResult, check};
pub use draw::draw;
pub use estimate::estimate;
pub use hook::{HookGate, hook_gate, install_hook};
pub use init::{Scaffolded, init};
pub use log::{History, history};
pub use merge::{MergeOptions, MergeResult, NextWave, merge};
pub use model::fetch_model;
pub use monitor::{MonitorOptions, MonitorReport, monitor};
pub use promote::{PromoteOptions, Promotion, promote};
pub use readiness::readiness;
pub use report::{Rendered, rerender};
pub use rollback::rollback;
pub use run::{RunOptions, RunOutcome, run};
pub use shadow::shadow;
pub use shard::shard;
pub use show::{ShowOptions, show};
pub use status::{LabelStatus, PromptStatus, status, unfetched_releases};
pub use validate::{Validated, validate};
