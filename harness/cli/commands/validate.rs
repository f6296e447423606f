//! `promptgate validate`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::output::{Context, print_json};

/// Checks the config, every prompt and every suite without calling a provider.
pub(crate) fn run(json: bool, cx: &Context) -> Result<i32, Error> {
    let v = ops::validate(&cx.root, &cx.env())?;
    for warning in &v.warnings {
        eprintln!("warning: {warning}");
    }
    if json {
        print_json(&v)?;
    } else {
        outln!(
            "ok: {} prompts, {} suites, {} cases checked",
            v.prompts,
            v.suites,
            v.cases
        );
    }
    Ok(exit::PASS)
}
