//! `promptgate report`.

use promptgate::errors::{Error, exit};
use promptgate::ops;

use crate::args::Report;
use crate::output::Context;

/// Re-renders a stored check's reports, and opens the HTML one when asked.
pub(crate) fn run(args: Report, cx: &Context) -> Result<i32, Error> {
    let formats: Vec<ops::ReportFormat> = if args.format.is_empty() {
        ops::ReportFormat::ALL.to_vec()
    } else {
        args.format.into_iter().map(Into::into).collect()
    };
    let run_id = crate::output::run_id_of(cx, &args.run_id);
    let run_dir = match ops::rerender(&cx.root, &run_id, &formats)? {
        ops::Rendered::Check(run_dir) => run_dir,
        ops::Rendered::Run(report) => {
            let shown = format!("{}/{run_id}", ops::REPORTS_DIR);
            cx.style
                .print(&promptgate::report::run_summary(&report, &shown));
            outln!(
                "(run {run_id} is a `promptgate run`: its results are shown above; the HTML, JUnit and Markdown reports are written for checks)"
            );
            if args.open {
                return Err(Error::Usage(format!(
                    "--open: run {run_id} is a `promptgate run`, which has no HTML report; `promptgate check` writes one"
                )));
            }
            return Ok(exit::PASS);
        }
    };
    for format in formats.iter().filter(|f| **f != ops::ReportFormat::Json) {
        outln!("{}", run_dir.join(format.file_name()).display());
    }
    if args.open {
        open_in_browser(&run_dir.join(ops::ReportFormat::Html.file_name()))?;
    }
    Ok(exit::PASS)
}

/// Opens a file with the desktop's default application; a machine with none is an error that
/// says to open the file by hand (the opener's own messages are not shown).
fn open_in_browser(path: &std::path::Path) -> Result<(), Error> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let opened = std::process::Command::new(opener)
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match opened {
        Ok(status) if status.success() => Ok(()),
        Ok(_) | Err(_) => Err(Error::Usage(format!(
            "--open: no browser could be started here (`{opener}` failed); open {} in one",
            path.display()
        ))),
    }
}
