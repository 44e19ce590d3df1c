//! The HTTP client: the system's CA bundle plus `SSL_CERT_FILE`, proxies from the environment,
//! and the pause between attempts.

use std::path::Path;
use std::time::Duration;

use super::error_chain;

/// Why no HTTP client could be made: a certificate bundle that cannot be read or is not one,
/// or a TLS set-up that fails. Kept (shared) for every download of the run.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{}: {source}", .path.display())]
    Bundle {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a PEM certificate bundle ({message})", .path.display())]
    NotPem {
        path: std::path::PathBuf,
        message: String,
    },
    /// reqwest's own error chain.
    #[error("{0}")]
    Build(String),
}

pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt.saturating_sub(1).min(5)))
}

/// Where Linux distributions keep the system's trusted roots (the first that exists is used).
pub(super) const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/ssl/cert.pem",
];

/// The roots HTTPS downloads trust: the system's bundle plus, for corporate proxies and private
/// mirrors, the certificates in SSL_CERT_FILE.
pub(super) fn trusted_roots(
    extra: Option<&Path>,
) -> Result<Vec<reqwest::Certificate>, ClientError> {
    let mut roots = Vec::new();
    let system = SYSTEM_CA_BUNDLES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file());
    for path in system.into_iter().chain(extra).map(Path::to_path_buf) {
        let pem = match crate::fsutil::read_bounded(&path, crate::fsutil::MAX_TEXT_BYTES * 4) {
            Ok(pem) => pem,
            Err(source) => return Err(ClientError::Bundle { path, source }),
        };
        let certs = match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certs) => certs,
            Err(e) => {
                return Err(ClientError::NotPem {
                    path,
                    message: e.to_string(),
                });
            }
        };
        roots.extend(certs);
    }
    Ok(roots)
}

pub(super) fn build_client(
    stall: Duration,
    extra_roots: Option<&Path>,
) -> Result<reqwest::blocking::Client, ClientError> {
    let mut builder = reqwest::blocking::Client::builder()
        .user_agent(concat!("buildkit/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        // In the blocking client this bounds each read, not the whole transfer: a server that
        // stops sending fails after the stall window (download_once also catches a drip).
        .timeout(stall)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            // Release URLs redirect to a CDN; never from https down to http, never in a loop.
            let downgrade = attempt.previous().iter().any(|u| u.scheme() == "https")
                && attempt.url().scheme() == "http";
            if downgrade {
                attempt.error("a redirect from https to http was refused")
            } else if attempt.previous().len() >= 10 {
                attempt.error("more than 10 redirects")
            } else {
                attempt.follow()
            }
        }))
        .tls_built_in_root_certs(false);
    for root in trusted_roots(extra_roots)? {
        builder = builder.add_root_certificate(root);
    }
    builder
        .build()
        .map_err(|e| ClientError::Build(error_chain(&e)))
}
