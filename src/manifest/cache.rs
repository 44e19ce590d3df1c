//! `[cache]`: where sccache keeps its cache, as a backend and its settings, validated into the
//! SCCACHE_* variables sccache reads. A value never carries a secret: buildkit.toml is
//! committed.

use std::collections::BTreeMap;
use std::fmt;

/// sccache's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheBackend {
    Local,
    Redis,
    S3,
    /// GitHub Actions' cache service: only inside GitHub Actions (the generated action enables
    /// it); everywhere else sccache uses its local cache.
    Gha,
    Webdav,
    Memcached,
}

impl CacheBackend {
    pub(super) const ALL: [CacheBackend; 6] = [
        CacheBackend::Local,
        CacheBackend::Redis,
        CacheBackend::Memcached,
        CacheBackend::S3,
        CacheBackend::Gha,
        CacheBackend::Webdav,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CacheBackend::Local => "local",
            CacheBackend::Redis => "redis",
            CacheBackend::S3 => "s3",
            CacheBackend::Gha => "gha",
            CacheBackend::Webdav => "webdav",
            CacheBackend::Memcached => "memcached",
        }
    }

    /// A backend other machines share (the ones `write` and `local_first` are about).
    pub fn is_remote(self) -> bool {
        !matches!(self, CacheBackend::Local | CacheBackend::Gha)
    }

    /// The variable that makes sccache only read from this backend.
    pub fn rw_mode_var(self) -> &'static str {
        match self {
            CacheBackend::Local => "SCCACHE_LOCAL_RW_MODE",
            CacheBackend::Redis => "SCCACHE_REDIS_RW_MODE",
            CacheBackend::Memcached => "SCCACHE_MEMCACHED_RW_MODE",
            CacheBackend::S3 => "SCCACHE_S3_RW_MODE",
            CacheBackend::Gha => "SCCACHE_GHA_RW_MODE",
            CacheBackend::Webdav => "SCCACHE_WEBDAV_RW_MODE",
        }
    }

    pub(super) fn parse(name: &str) -> Option<CacheBackend> {
        CacheBackend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The settings it takes, each with the SCCACHE_* variable it becomes.
    pub fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            CacheBackend::Local => &[
                ("dir", crate::env_vars::SCCACHE_DIR),
                ("size", "SCCACHE_CACHE_SIZE"),
            ],
            CacheBackend::Redis => &[
                ("endpoint", "SCCACHE_REDIS_ENDPOINT"),
                ("key_prefix", "SCCACHE_REDIS_KEY_PREFIX"),
                ("ttl", "SCCACHE_REDIS_TTL"),
            ],
            CacheBackend::S3 => &[
                ("bucket", "SCCACHE_BUCKET"),
                ("region", "SCCACHE_REGION"),
                ("endpoint", "SCCACHE_ENDPOINT"),
                ("key_prefix", "SCCACHE_S3_KEY_PREFIX"),
                ("use_ssl", "SCCACHE_S3_USE_SSL"),
                // S3-compatible stores (MinIO, moto, Ceph) mostly want path-style requests,
                // sccache's default; AWS itself takes either.
                ("virtual_host_style", "SCCACHE_S3_ENABLE_VIRTUAL_HOST_STYLE"),
            ],
            CacheBackend::Gha => &[("version", "SCCACHE_GHA_VERSION")],
            CacheBackend::Webdav => &[
                ("endpoint", "SCCACHE_WEBDAV_ENDPOINT"),
                ("key_prefix", "SCCACHE_WEBDAV_KEY_PREFIX"),
            ],
            CacheBackend::Memcached => &[
                ("endpoint", "SCCACHE_MEMCACHED_ENDPOINT"),
                ("key_prefix", "SCCACHE_MEMCACHED_KEY_PREFIX"),
                ("expiration", "SCCACHE_MEMCACHED_EXPIRATION"),
            ],
        }
    }

    /// The variables sccache reads the backend's secrets from.
    pub fn credential_vars(self) -> &'static [&'static str] {
        match self {
            CacheBackend::Redis => &["SCCACHE_REDIS_USERNAME", "SCCACHE_REDIS_PASSWORD"],
            CacheBackend::Memcached => {
                &["SCCACHE_MEMCACHED_USERNAME", "SCCACHE_MEMCACHED_PASSWORD"]
            }
            CacheBackend::Webdav => &[
                "SCCACHE_WEBDAV_USERNAME",
                "SCCACHE_WEBDAV_PASSWORD",
                "SCCACHE_WEBDAV_TOKEN",
            ],
            CacheBackend::S3 => &[
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
                "AWS_PROFILE",
            ],
            CacheBackend::Local | CacheBackend::Gha => &[],
        }
    }

    /// The settings it cannot work without.
    pub(super) fn required(self) -> &'static [&'static str] {
        match self {
            CacheBackend::Redis | CacheBackend::Webdav | CacheBackend::Memcached => &["endpoint"],
            CacheBackend::S3 => &["bucket"],
            CacheBackend::Local | CacheBackend::Gha => &[],
        }
    }
}

impl fmt::Display for CacheBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which environments write into a shared cache (`[cache] write`); the others only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheWriters {
    /// CI jobs that are not a pull (merge) request: what the default branch built is what
    /// everyone reads; a laptop or a pull request's job never overwrites it.
    Ci,
    /// Every environment, laptops and pull requests included.
    All,
    /// Nobody: the cache is filled some other way (or frozen).
    None,
}

impl CacheWriters {
    pub(super) const ALL: [CacheWriters; 3] =
        [CacheWriters::Ci, CacheWriters::All, CacheWriters::None];

    pub fn name(self) -> &'static str {
        match self {
            CacheWriters::Ci => "ci",
            CacheWriters::All => "all",
            CacheWriters::None => "none",
        }
    }
}

/// Where a build runs, as far as writing into the shared cache is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPlace {
    /// A laptop or the devcontainer.
    Local,
    /// A CI job building a branch.
    CiBranch,
    /// A CI job building a pull (merge) request.
    CiPullRequest,
}

impl BuildPlace {
    /// Where the build whose environment is `env` runs: CI when `CI` is set (as every CI
    /// system sets it), a pull request when GitHub or GitLab says so.
    pub fn of(env: &crate::env_vars::BuildEnv) -> BuildPlace {
        use crate::env_vars::{CI, CI_MERGE_REQUEST_IID, GITHUB_EVENT_NAME};
        let set = |name: &str| env.var(name).is_some_and(|v| !v.is_empty());
        let ci = env
            .var(CI)
            .and_then(|v| v.to_str())
            .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
        let pull_request = env
            .var(GITHUB_EVENT_NAME)
            .is_some_and(|v| v == "pull_request" || v == "pull_request_target")
            || set(CI_MERGE_REQUEST_IID);
        match (ci, pull_request) {
            (false, _) => BuildPlace::Local,
            (true, false) => BuildPlace::CiBranch,
            (true, true) => BuildPlace::CiPullRequest,
        }
    }
}

/// Where sccache keeps its cache, and the settings the backend needs (turned into SCCACHE_* vars).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub backend: CacheBackend,
    pub settings: BTreeMap<String, String>,
    /// The variables that carry the backend's secrets, by name only (`credentials = [...]`):
    /// each machine's environment or CI secret provides the value; nothing holds it here.
    pub credentials: Vec<String>,
    /// Who writes into a remote backend.
    pub writers: CacheWriters,
    /// A local disk cache in front of a remote backend (sccache's multi-level cache: hits
    /// there first, remote hits copied back into it).
    pub local_first: bool,
    /// The absolute project path the team's cache entries are made at (`project_dir`):
    /// sccache hashes absolute paths into a Rust crate's key, so only builds at this path
    /// share entries. The devcontainer mounts the project there; doctor compares.
    pub project_dir: Option<String>,
    /// Likewise `CARGO_HOME` (dependencies' sources live under it).
    pub cargo_home: Option<String>,
}

impl CacheConfig {
    /// sccache's own local cache, where buildkit.toml pins sccache and has no `[cache]`.
    pub(super) fn local() -> CacheConfig {
        CacheConfig {
            backend: CacheBackend::Local,
            settings: BTreeMap::new(),
            credentials: Vec::new(),
            writers: CacheWriters::Ci,
            local_first: true,
            project_dir: None,
            cargo_home: None,
        }
    }

    /// Whether a build at `place` writes into the remote backend.
    pub fn writes(&self, place: BuildPlace) -> bool {
        match self.writers {
            CacheWriters::All => true,
            CacheWriters::None => false,
            CacheWriters::Ci => place == BuildPlace::CiBranch,
        }
    }

    /// The SCCACHE_* variables this cache configuration means at `place`, sorted by name.
    pub fn env_vars_at(&self, place: BuildPlace) -> Vec<(String, String)> {
        let mut vars = self.env_vars();
        if self.backend.is_remote() && !self.writes(place) {
            vars.push((self.backend.rw_mode_var().into(), "READ_ONLY".into()));
        }
        vars.sort();
        vars
    }

    /// The local first level in front of a remote backend (`local_first`): sccache's
    /// multi-level chain and the directory of its disk level, which sccache then needs named.
    /// Only `buildkit env` sets these, where it knows this machine's cache directory (the
    /// devcontainer, recreated at will, reads the remote level directly).
    pub fn local_level_vars(&self, dir: &str) -> Vec<(String, String)> {
        if !self.backend.is_remote() || !self.local_first {
            return Vec::new();
        }
        vec![
            (crate::env_vars::SCCACHE_DIR.into(), dir.into()),
            (
                "SCCACHE_MULTILEVEL_CHAIN".into(),
                format!("disk,{}", self.backend.name()),
            ),
        ]
    }

    /// The backend's own SCCACHE_* variables (where, not who), sorted by name.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let table = self.backend.settings();
        let mut vars: Vec<(String, String)> = self
            .settings
            .iter()
            .filter_map(|(key, value)| {
                table
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, var)| (var.to_string(), value.clone()))
            })
            .collect();
        if self.backend == CacheBackend::Gha {
            vars.push(("SCCACHE_GHA_ENABLED".into(), "true".into()));
        }
        vars.sort();
        vars
    }

    /// The host and port of a remote backend's server, where buildkit.toml names one (redis,
    /// webdav, an S3-compatible `endpoint`): what to try before sending every build there.
    /// `None` for the local and gha backends, a unix socket, and AWS's own S3.
    pub fn remote_address(&self) -> Option<(String, u16)> {
        let endpoint = self.settings.get("endpoint")?;
        let (scheme, rest) = endpoint.split_once("://")?;
        let default_port = match (self.backend, scheme) {
            (CacheBackend::Redis, "redis" | "rediss") => 6379,
            (CacheBackend::Memcached, "tcp") => 11211,
            (_, "http") => 80,
            (_, "https") => 443,
            _ => return None,
        };
        let authority = rest.split(['/', '?', '#']).next()?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = match host_port.strip_prefix('[') {
            // [v6]:port
            Some(v6) => {
                let (host, after) = v6.split_once(']')?;
                (host, after.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            },
        };
        let port = match port {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        (!host.is_empty()).then(|| (host.to_string(), port))
    }

    /// The variables that send sccache to the remote backend (all of them but the local ones):
    /// left out where the backend cannot be reached, so that sccache uses its local cache.
    pub fn remote_vars(&self) -> Vec<&'static str> {
        if !self.backend.is_remote() {
            return Vec::new();
        }
        let mut vars: Vec<&'static str> = self
            .backend
            .settings()
            .iter()
            .map(|(_, var)| *var)
            .collect();
        vars.extend(["SCCACHE_MULTILEVEL_CHAIN", self.backend.rw_mode_var()]);
        vars
    }
}
