//! `promptgate judge calibrate`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::JudgeCommand;
use crate::output::{Context, print_json};

/// Calibrates a judge against examples humans labelled.
pub(crate) fn run(command: JudgeCommand, cx: &Context) -> Result<i32, Error> {
    let JudgeCommand::Calibrate(args) = command;
    let json = args.json;
    let mut options = ops::CalibrateOptions::from(args);
    options.calls.invoked(cx.env(), cx.command_line.clone());
    let calibration = cx.with_progress(|p| ops::calibrate(&cx.root, &options, p))?;
    if json {
        print_json(&calibration)?;
    } else {
        out!("{}", calibration_summary(&calibration));
    }
    Ok(exit::PASS)
}

/// A judge's calibration as the terminal shows it.
fn calibration_summary(c: &ops::Calibration) -> String {
    let a = &c.agreement;
    let mut out = format!(
        "judge {} (content {}) on {}
  {} examples: accuracy {:.1}%, Cohen's kappa {:.2}, self-consistency {:.1}% over {} samples
  confusion (human → judge):
",
        c.judge,
        &c.hash[..c.hash.len().min(12)],
        c.model,
        a.examples,
        a.accuracy * 100.0,
        a.kappa,
        c.self_consistency * 100.0,
        c.samples
    );
    for (human, judge, n) in &a.confusion {
        out.push_str(&format!(
            "    {human} → {judge}: {n}
"
        ));
    }
    for (i, (line, human, judge)) in c.wrong.iter().enumerate().take(10) {
        out.push_str(&format!(
            "  wrong: line {line}: human {human}, judge {judge}
"
        ));
        if let Some(reply) = c.wrong_replies.get(i) {
            out.push_str(&format!(
                "    the judge replied: {}
",
                promptgate::report::visible(reply)
            ));
        }
    }
    if c.wrong.len() > 10 {
        out.push_str(&format!(
            "  … {} more wrong
",
            c.wrong.len() - 10
        ));
    }
    for (reason, n) in &c.errors {
        out.push_str(&format!("  judge error ({n} calls): {reason}\n"));
    }
    out.push_str(&format!(
        "stored in {}/{}.json
",
        "calibrations", c.judge
    ));
    out
}
