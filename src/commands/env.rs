//! `buildkit env`: the variables an environment needs, in the syntax of the shell that reads them.

use std::process::ExitCode;

use super::Context;
use crate::Error;
use crate::encode;
use crate::render::Place;

/// The syntax `buildkit env` prints in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// POSIX sh, bash, zsh: `export NAME='value'` (for `eval "$(buildkit env)"`).
    Sh,
    /// fish: `set -gx NAME 'value'` (for `buildkit env --shell fish | source`).
    Fish,
    /// GitHub Actions' $GITHUB_ENV file: `NAME=value` lines.
    Github,
    /// A JSON object: the directories to put first on PATH, and the variables.
    Json,
}

pub fn run(ctx: &Context, shell: Shell) -> Result<ExitCode, Error> {
    let project = ctx.project()?;
    // The project's own lock selects its bin directory, so two projects on one machine each
    // build with the versions they lock; without a project, `bin/` (the last setup's).
    let mut socket = None;
    let (bin, mut vars) = match &project {
        Some(p) => {
            let lock = ctx.resolve_lock(p)?.0;
            let mut vars = crate::render::environment(&p.manifest, Place::Local);
            // Each sccache version gets its own server (a socket in the home), so a project
            // never talks to a server another project's sccache started.
            socket = lock
                .tool(crate::tool::Tool::Sccache)
                .and_then(|sccache| sccache.version())
                .and_then(|version| ctx.home.sccache_socket(version));
            if let Some(socket) = &socket {
                vars.push((
                    crate::env_vars::SCCACHE_SERVER_UDS.into(),
                    socket.display().to_string(),
                ));
            }
            (ctx.home.lock_bin_dir(&lock.id()), vars)
        }
        None => (ctx.home.bin_dir(), Vec::new()),
    };
    let cache = project.as_ref().and_then(|p| p.manifest.cache.as_ref());
    if let Some(cache) = cache.filter(|c| c.backend.is_remote()) {
        shared_cache_vars(ctx, cache, &mut vars)?;
    }
    // A remote cache this machine cannot use would fail every build (sccache will not start):
    // sccache keeps to its local cache instead, and says why here. Credentials are never
    // printed: sccache reads them by name from the environment.
    if let Some(cache) = cache
        && let Some(why) = unusable_remote(&ctx.env, cache)
    {
        let remote = cache.remote_vars();
        vars.retain(|(name, _)| !remote.contains(&name.as_str()));
        eprintln!("note: {why}; sccache uses its local cache");
    }
    // Reachable is not yet usable: sccache checks the backend when its server starts (a wrong
    // password, a missing bucket) and, refused, does not start, which fails every compile.
    // So the server starts here, with exactly these variables: a refusal leaves this machine
    // on its local cache, said in one line; a started server serves the builds that follow.
    if let Some(cache) = cache.filter(|c| c.backend.is_remote()) {
        let remote = cache.remote_vars();
        let sccache = bin.join("sccache");
        let sends_remote = vars.iter().any(|(name, _)| remote.contains(&name.as_str()));
        if sends_remote
            && sccache.is_file()
            && let Some(socket) = &socket
            && std::os::unix::net::UnixStream::connect(socket).is_err()
            && let Err(why) = start_sccache(&sccache, &vars)
        {
            vars.retain(|(name, _)| !remote.contains(&name.as_str()));
            let check = if cache.credentials.is_empty() {
                String::new()
            } else {
                format!("; check {}", cache.credentials.join(", "))
            };
            eprintln!(
                "note: sccache refused the {} cache ({why}{check}); sccache uses its local cache",
                cache.backend
            );
        }
    }
    vars.sort();
    let bin = utf8_path(&bin)?;
    if cache.is_some_and(|c| c.backend == crate::manifest::CacheBackend::Gha) {
        eprintln!(
            "note: cache.backend = \"gha\" works only inside GitHub Actions (the generated action enables it there); here sccache uses its local cache"
        );
    }
    print(shell, bin, &vars)?;
    Ok(ExitCode::SUCCESS)
}

/// Whether this build writes into a shared cache is known only here, at run time: a CI job
/// building a branch writes (with `write = "ci"`), a pull request's job and a laptop read. And
/// the local level in front of it: the directory this machine's sccache would use anyway.
fn shared_cache_vars(
    ctx: &Context,
    cache: &crate::manifest::CacheConfig,
    vars: &mut Vec<(String, String)>,
) -> Result<(), Error> {
    let rw = cache.backend.rw_mode_var();
    vars.retain(|(name, _)| name != rw);
    vars.extend(
        cache
            .env_vars_at(crate::manifest::BuildPlace::of(&ctx.env))
            .into_iter()
            .filter(|(name, _)| name == rw),
    );
    // The local level: the directory this machine's sccache would use anyway.
    let dir = ctx
        .env
        .var(crate::env_vars::SCCACHE_DIR)
        .map(std::path::PathBuf::from)
        .or_else(|| directories::BaseDirs::new().map(|d| d.cache_dir().join("sccache")));
    if let Some(dir) = dir {
        let dir = utf8_path(&dir)?.to_string();
        vars.retain(|(name, _)| name != crate::env_vars::SCCACHE_DIR);
        vars.extend(cache.local_level_vars(&dir));
    }
    Ok(())
}

/// The variables in `shell`'s syntax, PATH first (GitHub's lines leave PATH to `setup --ci`).
fn print(shell: Shell, bin: &str, vars: &[(String, String)]) -> Result<(), Error> {
    let encode_err = super::CommandError::Encode;
    match shell {
        Shell::Sh => {
            crate::outln!("export PATH={}:\"$PATH\"", encode::sh_word(bin));
            for (k, v) in vars {
                let k = encode::variable_name(k).map_err(encode_err)?;
                crate::outln!("export {k}={}", encode::sh_word(v));
            }
        }
        Shell::Fish => {
            crate::outln!("set -gx PATH {} $PATH", encode::fish_word(bin));
            for (k, v) in vars {
                let k = encode::variable_name(k).map_err(encode_err)?;
                crate::outln!("set -gx {k} {}", encode::fish_word(v));
            }
        }
        Shell::Github => {
            // The $GITHUB_ENV format. PATH is not set here: `setup --ci` appends the bin dir to
            // $GITHUB_PATH, which the runner prepends for every later step. Every line is
            // checked before any is printed: a refused value sets nothing.
            let lines = vars
                .iter()
                .map(|(k, v)| encode::github_env_line(k, v))
                .collect::<Result<Vec<_>, _>>()
                .map_err(encode_err)?;
            for line in lines {
                crate::outln!("{line}");
            }
        }
        Shell::Json => {
            let object = serde_json::json!({
                "path_prepend": [bin],
                "vars": vars.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            });
            crate::outln!(
                "{}",
                serde_json::to_string_pretty(&object).expect("serializes")
            );
        }
    }
    Ok(())
}

/// A directory that goes into PATH as text: a name that is not UTF-8 cannot be written in the
/// formats buildkit prints (and would silently become another directory if replaced).
pub fn utf8_path(path: &std::path::Path) -> Result<&str, Error> {
    path.to_str()
        .ok_or_else(|| super::CommandError::NotUtf8(path.to_path_buf()).into())
}

/// Why this environment cannot use the remote cache buildkit.toml configures, if it cannot: a
/// credential it names is not set here, or its server cannot be reached.
pub(super) fn unusable_remote(
    env: &crate::env_vars::BuildEnv,
    cache: &crate::manifest::CacheConfig,
) -> Option<String> {
    let missing: Vec<&str> = cache
        .credentials
        .iter()
        .map(String::as_str)
        .filter(|name| !env.is_set(name))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "the {} cache needs {} (buildkit.toml [cache] credentials), not set here",
            cache.backend,
            missing.join(", ")
        ));
    }
    let (host, port) = cache.remote_address()?;
    reach(&host, port).err().map(|why| {
        format!(
            "the {} cache at {host}:{port} cannot be reached from here ({why})",
            cache.backend
        )
    })
}

/// Why sccache's server did not start, or a remote cache cannot be reached.
#[derive(Debug, thiserror::Error)]
pub(super) enum Unreachable {
    #[error("cannot run {}: {source}", .sccache.display())]
    NotRun {
        sccache: std::path::PathBuf,
        source: std::io::Error,
    },
    /// sccache's own error line (its `sccache: error: ` prefix dropped).
    #[error("{0}")]
    Refused(String),
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Connect(std::io::Error),
    #[error("no address")]
    NoAddress,
}

/// Starts sccache's server with `vars` (it checks its storage first); why it did not start.
fn start_sccache(sccache: &std::path::Path, vars: &[(String, String)]) -> Result<(), Unreachable> {
    // No memory bound: the server it starts inherits it, and runs every compile of the build.
    let limits = crate::child::Limits {
        memory: None,
        ..crate::child::Limits::PROBE.outside_project()
    };
    let output = crate::child::output(
        std::process::Command::new(sccache)
            .arg("--start-server")
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .env_remove(crate::env_vars::RUSTC_WRAPPER),
        limits,
    )
    .map_err(|source| Unreachable::NotRun {
        sccache: sccache.to_path_buf(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(Unreachable::Refused(
        stderr
            .lines()
            .map(str::trim)
            .rfind(|l| l.contains("error"))
            .or_else(|| stderr.lines().map(str::trim).rfind(|l| !l.is_empty()))
            .unwrap_or("it exited without saying why")
            .trim_start_matches("sccache: error: ")
            .to_string(),
    ))
}

/// Whether a TCP connection to `host:port` opens within two seconds.
pub(super) fn reach(host: &str, port: u16) -> Result<(), Unreachable> {
    use std::net::ToSocketAddrs as _;
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|source| Unreachable::Resolve {
            host: host.to_string(),
            source,
        })?;
    let mut last = Unreachable::NoAddress;
    for address in addresses {
        match std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) => last = Unreachable::Connect(e),
        }
    }
    Err(last)
}
