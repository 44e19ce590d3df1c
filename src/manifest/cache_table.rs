//! Reading `[cache]`: buildkit's own keys (`CacheKey`), then each backend's settings, each value
//! checked for what it is (a path, a size, an endpoint without credentials) into a
//! `CacheConfig`.

use std::collections::BTreeMap;

use toml::Spanned;

use super::ManifestError;
use super::cache::{CacheBackend, CacheConfig, CacheWriters};
use super::source::{has_credentials, secret_query_parameter};
use super::spans::Source;

/// The keys of `[cache]` that are buildkit's own, whatever the backend (each backend's settings
/// are `CacheBackend::settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CacheKey {
    Backend,
    Write,
    LocalFirst,
    ProjectDir,
    CargoHome,
    Credentials,
}

impl CacheKey {
    pub(super) const ALL: [CacheKey; 6] = [
        CacheKey::Backend,
        CacheKey::Write,
        CacheKey::LocalFirst,
        CacheKey::ProjectDir,
        CacheKey::CargoHome,
        CacheKey::Credentials,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            CacheKey::Backend => "backend",
            CacheKey::Write => "write",
            CacheKey::LocalFirst => "local_first",
            CacheKey::ProjectDir => "project_dir",
            CacheKey::CargoHome => "cargo_home",
            CacheKey::Credentials => "credentials",
        }
    }

    fn parse(key: &str) -> Option<CacheKey> {
        CacheKey::ALL.into_iter().find(|k| k.name() == key)
    }
}

pub(super) fn cache_config(
    src: &Source<'_>,
    table: BTreeMap<String, Spanned<toml::Value>>,
    has_sccache: bool,
) -> Result<CacheConfig, ManifestError> {
    let first_offset = table.values().map(|v| v.span().start).min().unwrap_or(0);
    if !has_sccache {
        return Err(src.error(
            first_offset,
            "cache",
            "needs [tools.sccache]: the cache is sccache's",
        ));
    }
    let backend = cache_backend(src, table.get(CacheKey::Backend.name()))?;
    let settings_offsets: Vec<usize> = table.values().map(|v| v.span().start).collect();
    let mut config = CacheConfig {
        backend,
        ..CacheConfig::local()
    };
    for (key, value) in table {
        match CacheKey::parse(&key) {
            Some(CacheKey::Backend) => {}
            Some(CacheKey::ProjectDir) => {
                config.project_dir = Some(layout_path(src, &key, &value)?)
            }
            Some(CacheKey::CargoHome) => config.cargo_home = Some(layout_path(src, &key, &value)?),
            Some(shared @ (CacheKey::Write | CacheKey::LocalFirst)) => {
                shared_cache_setting(src, &mut config, shared, &value)?
            }
            Some(CacheKey::Credentials) => {
                config.credentials = credential_names(src, backend, &value)?
            }
            None => {
                let text = backend_setting(src, backend, &key, &value)?;
                config.settings.insert(key, text);
            }
        }
    }
    if let Some(missing) = backend
        .required()
        .iter()
        .find(|k| !config.settings.contains_key(**k))
    {
        let offset = table_offset(&settings_offsets);
        return Err(src.error(
            offset,
            &format!("cache.{missing}"),
            format!("is required by the {backend} backend"),
        ));
    }
    Ok(config)
}

/// `backend = "…"`, local when left out.
fn cache_backend(
    src: &Source<'_>,
    value: Option<&Spanned<toml::Value>>,
) -> Result<CacheBackend, ManifestError> {
    let Some(value) = value else {
        return Ok(CacheBackend::Local);
    };
    value
        .get_ref()
        .as_str()
        .and_then(CacheBackend::parse)
        .ok_or_else(|| {
            src.at(
                value,
                "cache.backend",
                "must be one of local, redis, memcached, s3, webdav, gha",
            )
        })
}

/// `project_dir` or `cargo_home`: an absolute path the team's entries are made at.
fn layout_path(
    src: &Source<'_>,
    key: &str,
    value: &Spanned<toml::Value>,
) -> Result<String, ManifestError> {
    let Some(path) = value.get_ref().as_str() else {
        return Err(src.at(value, &format!("cache.{key}"), "must be an absolute path"));
    };
    check_layout_path(path)
        .map_err(|problem| src.at(value, &format!("cache.{key}"), problem.to_string()))?;
    Ok(path.to_string())
}

/// `write` or `local_first`: settings only a cache other machines share has.
fn shared_cache_setting(
    src: &Source<'_>,
    config: &mut CacheConfig,
    key: CacheKey,
    value: &Spanned<toml::Value>,
) -> Result<(), ManifestError> {
    let backend = config.backend;
    if !backend.is_remote() {
        return Err(src.at(
            value,
            &format!("cache.{}", key.name()),
            format!("is about a cache other machines share; the {backend} backend is not one"),
        ));
    }
    if key == CacheKey::LocalFirst {
        config.local_first = value
            .get_ref()
            .as_bool()
            .ok_or_else(|| src.at(value, "cache.local_first", "must be true or false"))?;
    } else {
        config.writers = value
            .get_ref()
            .as_str()
            .and_then(|w| CacheWriters::ALL.into_iter().find(|c| c.name() == w))
            .ok_or_else(|| {
                src.at(
                    value,
                    "cache.write",
                    "must be \"ci\" (CI jobs that are not a pull request), \"all\" or \"none\"",
                )
            })?;
    }
    Ok(())
}

/// One of the backend's own settings, as the text of its SCCACHE_* variable.
fn backend_setting(
    src: &Source<'_>,
    backend: CacheBackend,
    key: &str,
    value: &Spanned<toml::Value>,
) -> Result<String, ManifestError> {
    let allowed = backend.settings();
    if !allowed.iter().any(|(k, _)| *k == key) {
        let names: Vec<&str> = allowed.iter().map(|(k, _)| *k).collect();
        return Err(src.at(
            value,
            &format!("cache.{key}"),
            format!(
                "is not a setting of the {backend} backend (it takes: {})",
                names.join(", ")
            ),
        ));
    }
    let text = match value.get_ref() {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => {
            return Err(src.at(
                value,
                &format!("cache.{key}"),
                "must be a string, integer or boolean",
            ));
        }
    };
    check_cache_setting(backend, key, &text)
        .map_err(|problem| src.at(value, &format!("cache.{key}"), problem.to_string()))?;
    Ok(text)
}

pub(super) fn table_offset(offsets: &[usize]) -> usize {
    offsets.iter().copied().min().unwrap_or(0)
}

/// Why a `[cache]` value is not one sccache (or every environment) reads the same way; shown
/// after the key and line it was found at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ValueProblem {
    #[error("`{0}` is not an absolute path")]
    NotAbsolute(String),
    #[error(
        "`{0}`: give a plain absolute path (no `~`, `$`, `..`, comma, quote or backslash): it must mean the same in every environment"
    )]
    NotPlain(String),
    #[error(
        "`{0}` is not expanded the same way in every environment (a shell, the devcontainer, CI): give an absolute path, or leave `dir` out for sccache's default (~/.cache/sccache)"
    )]
    HomeRelative(String),
    #[error(
        "`{0}` is relative; sccache would resolve it against each compiler call's directory: give an absolute path"
    )]
    Relative(String),
    #[error(
        "`{0}` is not a size sccache reads: digits with an optional K, M, G or T (e.g. \"10G\")"
    )]
    Size(String),
    /// An endpoint that is not a URL of the backend's schemes (`expected` says which).
    #[error("`{value}` is not {expected}")]
    Url {
        value: String,
        expected: &'static str,
    },
    #[error("`{0}` is not a number of seconds")]
    Seconds(String),
    #[error("`{0}` is not true or false")]
    Bool(String),
    #[error("must be a non-empty single line")]
    NotOneLine,
    /// An endpoint holding a secret (`what`), which a committed file must not.
    #[error(
        "holds {0}; buildkit.toml is committed: give them to sccache through each machine's environment instead (SCCACHE_REDIS_PASSWORD, SCCACHE_WEBDAV_PASSWORD, AWS_ACCESS_KEY_ID, …)"
    )]
    CommittedSecret(String),
}

/// A layout path: absolute, plain (no `~`, variable, `..`, or a comma, which would end the
/// devcontainer's mount option), the same text in every environment.
fn check_layout_path(path: &str) -> Result<(), ValueProblem> {
    if !path.starts_with('/') {
        return Err(ValueProblem::NotAbsolute(path.to_string()));
    }
    if path.contains(['$', '~', ',', '"', '\\']) || path.split('/').any(|c| c == "..") {
        return Err(ValueProblem::NotPlain(path.to_string()));
    }
    Ok(())
}

/// One `[cache]` setting's value, as sccache will read it.
pub(super) fn check_cache_setting(
    backend: CacheBackend,
    key: &str,
    value: &str,
) -> Result<(), ValueProblem> {
    if key == "endpoint" {
        check_no_secret(value)?;
    }
    let owned = || value.to_string();
    let url = |schemes: &[&str], expected: &'static str| {
        if is_url(value, schemes) {
            Ok(())
        } else {
            Err(ValueProblem::Url {
                value: owned(),
                expected,
            })
        }
    };
    match (backend, key) {
        (CacheBackend::Local, "dir") => check_local_dir(value),
        (CacheBackend::Local, "size") => check_size(value),
        (CacheBackend::Redis, "endpoint") => url(
            &["redis://", "rediss://", "redis+unix://", "unix://"],
            "a redis URL (redis://HOST:PORT, rediss://…, or unix://PATH)",
        ),
        (CacheBackend::Memcached, "endpoint") => {
            url(&["tcp://"], "a memcached URL (tcp://HOST:PORT)")
        }
        (CacheBackend::Webdav, "endpoint") => url(&["https://", "http://"], "an http(s):// URL"),
        (CacheBackend::Memcached, "expiration") | (CacheBackend::Redis, "ttl") => {
            match value.parse::<u64>() {
                Ok(_) => Ok(()),
                Err(_) => Err(ValueProblem::Seconds(owned())),
            }
        }
        (CacheBackend::S3, "use_ssl" | "virtual_host_style") => match value {
            "true" | "false" => Ok(()),
            _ => Err(ValueProblem::Bool(owned())),
        },
        _ if value.is_empty() || value.contains(['\n', '\r']) => Err(ValueProblem::NotOneLine),
        _ => Ok(()),
    }
}

/// A scheme of `schemes`, something after it, and no whitespace.
fn is_url(value: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|s| value.starts_with(s))
        && !value.contains(char::is_whitespace)
        && value.len() > value.find("://").map_or(0, |i| i + 3)
}

/// A cache endpoint holds no secret: sccache takes it from each machine's environment.
fn check_no_secret(endpoint: &str) -> Result<(), ValueProblem> {
    if has_credentials(endpoint) {
        return Err(ValueProblem::CommittedSecret(
            "credentials (`user:password@`)".into(),
        ));
    }
    match secret_query_parameter(endpoint) {
        Some(name) => Err(ValueProblem::CommittedSecret(format!(
            "a secret in its query (`{name}=`)"
        ))),
        None => Ok(()),
    }
}

/// The local backend's `dir`: absolute, not relative to a home that differs by environment.
fn check_local_dir(value: &str) -> Result<(), ValueProblem> {
    if value.starts_with('~') || value.starts_with("$HOME") || value.starts_with("${HOME}") {
        return Err(ValueProblem::HomeRelative(value.to_string()));
    }
    if !value.starts_with('/') {
        return Err(ValueProblem::Relative(value.to_string()));
    }
    Ok(())
}

/// The local backend's `size`: digits with at most one unit letter.
fn check_size(value: &str) -> Result<(), ValueProblem> {
    let digits = value.trim_end_matches(['K', 'M', 'G', 'T']);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || value.len() - digits.len() > 1
    {
        return Err(ValueProblem::Size(value.to_string()));
    }
    Ok(())
}

/// `credentials = ["SCCACHE_REDIS_PASSWORD", …]`: names of the variables sccache reads the
/// backend's secrets from, each one the backend knows.
fn credential_names(
    src: &Source<'_>,
    backend: CacheBackend,
    value: &Spanned<toml::Value>,
) -> Result<Vec<String>, ManifestError> {
    let known = backend.credential_vars();
    let refuse = |message: String| src.at(value, "cache.credentials", message);
    let Some(items) = value.get_ref().as_array() else {
        return Err(refuse("must be a list of variable names".into()));
    };
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(name) if known.contains(&name) => Ok(name.to_string()),
            Some(name) if known.is_empty() => Err(refuse(format!(
                "`{name}`: the {backend} backend takes no credentials"
            ))),
            Some(name) => Err(refuse(format!(
                "`{name}` is not a variable the {backend} backend reads its secrets from ({})",
                known.join(", ")
            ))),
            None => Err(refuse("must be a list of variable names".into())),
        })
        .collect()
}
