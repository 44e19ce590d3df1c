//! Progress reporting, decoupled from the terminal: the core calls a `Reporter`; only the UI
//! layer knows indicatif, so `--quiet`, `--json` and pipes simply get a reporter that is silent.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One download's progress.
pub trait Progress: Send {
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

pub trait Reporter: Sync {
    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn Progress>;
    fn retrying(&self, label: &str, reason: &str);
}

/// Says nothing: `--quiet`, `--json`, or stderr is not a terminal.
pub struct Silent;

struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

impl Reporter for Silent {
    fn start(&self, _: &str, _: Option<u64>) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
    fn retrying(&self, _: &str, _: &str) {}
}

/// Plain lines on stderr: used when stderr is not a terminal but the user did not ask for quiet.
pub struct Lines;

impl Reporter for Lines {
    fn start(&self, label: &str, _: Option<u64>) -> Box<dyn Progress> {
        eprintln!("downloading {label}");
        Box::new(NoProgress)
    }
    fn retrying(&self, label: &str, reason: &str) {
        eprintln!("warning: retrying {label}: {reason}");
    }
}

/// Progress bars on a terminal, one per download in flight.
pub struct Bars {
    multi: MultiProgress,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Reporter for Bars {
    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn Progress> {
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{msg:>16} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg:>16} {spinner} {bytes} {bytes_per_sec}")
                    .expect("valid template"),
            ),
        };
        let bar = self.multi.add(bar.with_message(label.to_string()));
        bar.enable_steady_tick(Duration::from_millis(120));
        Box::new(Bar(bar))
    }

    fn retrying(&self, label: &str, reason: &str) {
        let _ = self
            .multi
            .println(format!("warning: retrying {label}: {reason}"));
    }
}
