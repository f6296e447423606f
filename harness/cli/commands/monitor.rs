//! `promptgate monitor`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::Monitor;
use crate::output::{Context, print_json};

/// Watches the version a label serves on the production records `args` name.
pub(crate) fn run(args: Monitor, cx: &Context) -> Result<i32, Error> {
    let options = ops::MonitorOptions {
        name: args.prompt,
        label: args.label,
        traffic: args.traffic,
        window: args.window,
        now: chrono::Utc::now(),
        rollback_on_breach: args.rollback_on_breach,
        alerts: args.alerts,
    };
    let report = ops::monitor(&cx.root, &options)?;
    if args.json {
        print_json(&report)?;
    } else {
        out!("{}", crate::render::monitored(&report));
    }
    Ok(match report.health {
        ops::Health::Breach => exit::BREACH,
        _ => exit::PASS,
    })
}
