//! `promptgate shadow`.

use promptgate::errors::Error;
use promptgate::ops;

use crate::args::Shadow;
use crate::checked::print_checked;
use crate::output::Context;

/// Runs a shadow check on a sample of the traffic files `args` name.
pub(crate) fn run(args: Shadow, cx: &Context) -> Result<i32, Error> {
    let json = args.json;
    let mut options = ops::CheckOptions::from(args);
    if let Some(traffic) = &mut options.traffic {
        // Absolute, so `--resume` finds the files from anywhere.
        let cwd = std::env::current_dir().map_err(|e| Error::io("read", ".".as_ref(), e))?;
        for file in &mut traffic.files {
            *file = cwd.join(&*file);
        }
    }
    options.calls.invoked(cx.env(), cx.command_line.clone());
    let outcome = cx.with_progress(|p| ops::shadow(&cx.root, &options, p))?;
    print_checked(cx, &outcome, json)?;
    Ok(outcome.exit_code)
}
