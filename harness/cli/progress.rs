//! Progress display: a live bar on a terminal, a few plain lines otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use promptgate::ops::Progress;

/// Shows calls done, errors and tokens as a run goes; with `-q`, only the notes.
pub(crate) struct Bar {
    interactive: bool,
    quiet: bool,
    bar: Option<ProgressBar>,
    total: usize,
    next_line: usize,
}

impl Bar {
    pub(crate) fn new(interactive: bool, quiet: bool) -> Self {
        Self {
            interactive,
            quiet,
            bar: None,
            total: 0,
            next_line: 0,
        }
    }

    pub(crate) fn update(&mut self, progress: Progress) {
        match progress {
            Progress::Note(note) => eprintln!("{note}"),
            _ if self.quiet => {}
            Progress::Phase(line) => match &self.bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            },
            Progress::Started { calls } => {
                self.total = calls;
                if self.interactive {
                    let bar = ProgressBar::new(calls as u64);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{bar:30}] {pos}/{len} calls {msg} ({elapsed})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    self.bar = Some(bar);
                } else {
                    eprintln!("running {calls} calls");
                }
            }
            Progress::More { calls } => {
                self.total += calls;
                if let Some(bar) = &self.bar {
                    bar.inc_length(calls as u64);
                }
            }
            Progress::Calls(counts) => {
                let done = counts.done;
                let line = describe(&counts);
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                    bar.set_message(format!("· {line}"));
                } else if done >= self.next_line || done == self.total {
                    eprintln!("{done}/{} calls · {line}", self.total);
                    self.next_line = done + self.total.div_ceil(10).max(1);
                }
            }
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// `3 cached · 1 errors · 2 retries · 410 tokens · $0.0012`, leaving out what is zero.
fn describe(c: &promptgate::ops::CallCounts) -> String {
    let mut parts = vec![
        format!("{} cached", c.cached),
        format!("{} errors", c.errors),
    ];
    if c.retries > 0 {
        parts.push(format!("{} retries", c.retries));
    }
    if c.skipped > 0 {
        parts.push(format!("{} skipped", c.skipped));
    }
    parts.push(format!("{} tokens", c.tokens));
    parts.push(match c.cost {
        Some(cost) => format!("${cost:.4}"),
        None => "cost unknown".into(),
    });
    parts.join(" · ")
}
