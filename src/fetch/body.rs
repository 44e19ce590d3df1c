//! Reading a body within bounds: the stall rule (so many bytes per window), a deadline for the
//! whole body, and a size limit, whatever the server does.

use std::io::{self, Read};
use std::time::Duration;

use super::{FetchError, error_chain, is_timeout};

/// Bytes a transfer must move per stall window to count as progressing.
pub(super) const MIN_PROGRESS_BYTES: u64 = 16 * 1024;

/// How fast a transfer must go: at least MIN_PROGRESS_BYTES per `window`, and all of it
/// before `deadline`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    pub(super) window: Duration,
    pub(super) deadline: Duration,
}

/// The average rate below which a download of known size misses its deadline (on top of a
/// few stall windows for the start): far below any working link, far above a drip.
pub(super) const MIN_AVERAGE_BYTES_PER_SEC: u64 = 64 * 1024;

impl Pace {
    /// An archive of `bytes`: four stall windows, plus its size at MIN_AVERAGE_BYTES_PER_SEC.
    pub(super) fn download(window: Duration, bytes: u64) -> Pace {
        Pace {
            window,
            deadline: window
                .saturating_mul(4)
                .saturating_add(Duration::from_secs(bytes / MIN_AVERAGE_BYTES_PER_SEC)),
        }
    }

    /// An API response (a page of JSON, a checksum file): two stall windows for all of it.
    pub(super) fn api(window: Duration) -> Pace {
        Pace {
            window,
            deadline: window.saturating_mul(2),
        }
    }
}

/// Reads `reader` to its end, handing each chunk to `sink`, and fails past `limit`, on a
/// stall (less than MIN_PROGRESS_BYTES in one window) and past the deadline.
pub(super) fn copy_bounded(
    url: &str,
    reader: &mut impl Read,
    limit: &SizeLimit,
    pace: &Pace,
    mut sink: impl FnMut(&[u8]) -> Result<(), FetchError>,
) -> Result<(), FetchError> {
    let stalled = || FetchError::Stalled {
        url: url.into(),
        secs: pace.window.as_secs(),
    };
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 1 << 16];
    let (mut window_start, mut window_bytes) = (started, 0u64);
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if is_timeout(&err) => return Err(stalled()),
            Err(err) => {
                return Err(FetchError::Transport {
                    url: url.into(),
                    message: format!("reading the body: {}", error_chain(&err)),
                });
            }
        };
        total += n as u64;
        if total > limit.bytes {
            return Err(limit.exceeded(url));
        }
        sink(&buf[..n])?;
        window_bytes += n as u64;
        if window_bytes >= MIN_PROGRESS_BYTES {
            (window_start, window_bytes) = (std::time::Instant::now(), 0);
        } else if window_start.elapsed() > pace.window {
            return Err(stalled());
        }
        if started.elapsed() > pace.deadline {
            return Err(FetchError::Deadline {
                url: url.into(),
                secs: pace.deadline.as_secs(),
            });
        }
    }
}

/// The most bytes one download may bring, and why that many.
pub(super) struct SizeLimit {
    pub(super) bytes: u64,
    pub(super) why: &'static str,
}

impl SizeLimit {
    pub(super) fn exceeded(&self, url: &str) -> FetchError {
        FetchError::TooLarge {
            url: url.into(),
            limit: self.bytes,
            why: self.why,
        }
    }
}
