//! `promptgate check`.

use promptgate::errors::Error;
use promptgate::ops;

use crate::args::Check;
use crate::checked::run_check;
use crate::output::Context;

/// Checks the candidates `args` name (an estimate, a shard, a wave's draw or a resumed check,
/// as its flags say).
pub(crate) fn run(args: Check, cx: &Context) -> Result<i32, Error> {
    let json = args.json;
    let shard = args.shard.clone();
    let wave = args.wave.clone();
    let failing = args.cases.failing.clone();
    let mut options = ops::CheckOptions::from(args);
    options
        .cases
        .ids
        .extend(crate::output::failing_cases(cx, failing)?);
    options.calls.invoked(cx.env(), cx.command_line.clone());
    options.shard = match shard.as_deref() {
        None => None,
        Some("auto") => Some(ops::Shard::from_env(&options.calls.env).map_err(Error::Usage)?),
        Some(given) => Some(given.parse().map_err(Error::Usage)?),
    };
    options.wave = wave.as_deref().map(ops::WavePlan::read).transpose()?;
    run_check(cx, &options, json)
}
