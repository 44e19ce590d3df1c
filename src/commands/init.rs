//! `buildkit init`: start a project's buildkit.toml, pinned to the newest releases buildkit
//! knows, and its lock.

use std::process::ExitCode;

use super::Context;
use crate::Error;
use crate::lock::{LOCK_FILE, Lockfile};
use crate::manifest::{BuildkitSource, LinkerKind, MANIFEST_FILE, Manifest};
use crate::render::{InitTemplate, render_init};
use crate::tool::Tool;
use crate::toolchain::{RustVersion, ToolchainError};

/// Why `init` writes nothing (exit 2: the user's to change).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} already exists; edit it, or re-run with --force to start over", .0.display())]
    Exists(std::path::PathBuf),
    /// rustc was not started: a file of the project it reads is not one.
    #[error(transparent)]
    ProjectFile(ToolchainError),
    #[error(
        "package `{package}` needs rust-version {minimum}, but the newest stable Rust installed here is {stable}: install one (`rustup toolchain install {minimum}`), then run `buildkit init` again"
    )]
    RustTooOld {
        package: String,
        minimum: RustVersion,
        stable: RustVersion,
    },
}

/// Why no Rust version could be chosen: init writes the manifest without one, and says this.
#[derive(Debug, thiserror::Error)]
enum NoRust {
    #[error(transparent)]
    Rustc(ToolchainError),
    #[error("`rustc -vV` says release {0}, which names no stable Rust")]
    NotStable(String),
    /// The project's rust-toolchain file names a channel that cannot be kept, and rustc does
    /// not answer (`cause`).
    #[error("{} names Rust {channel}, {why}, and {cause}", .file.display())]
    FileChannel {
        file: std::path::PathBuf,
        channel: RustVersion,
        why: String,
        cause: Box<NoRust>,
    },
}

/// `buildkit init`'s options, as the command line gives them.
#[derive(Debug, clap::Args)]
pub struct InitOptions {
    /// The linker cargo should use (default: rustc's own, which needs nothing installed;
    /// `buildkit tune` measures the others on this project).
    #[arg(long, value_enum, default_value_t = LinkerKind::Default)]
    pub linker: LinkerKind,
    /// Leave sccache out.
    #[arg(long)]
    pub no_sccache: bool,
    /// Overwrite an existing buildkit.toml.
    #[arg(long)]
    pub force: bool,
    /// Then run `buildkit tune --apply`: measure the levers on this project and write what
    /// is faster.
    #[arg(long)]
    pub tune: bool,
    /// With --tune: where the linkers it measures are downloaded from.
    #[command(flatten)]
    pub download: super::provision::DownloadOptions,
}

pub fn run(ctx: &Context, options: &InitOptions) -> Result<ExitCode, Error> {
    let (linker, sccache, force) = (options.linker, !options.no_sccache, options.force);
    let path = ctx
        .config
        .clone()
        .unwrap_or_else(|| ctx.cwd.join(MANIFEST_FILE));
    if path.exists() && !force {
        return Err(InitError::Exists(path).into());
    }
    let newest = |tool: Tool| Some(ctx.registry.tool(tool).newest().version.to_string());
    super::warn_without_cargo_toml(&ctx.cwd);
    let rust = choose_rust(ctx)?;
    let (buildkit, buildkit_note) = buildkit_source(ctx);
    let input = InitTemplate {
        rust: rust.as_ref().ok().map(|choice| choice.version.to_string()),
        linker: linker.as_str(),
        mold: (linker == LinkerKind::Mold)
            .then(|| newest(Tool::Mold))
            .flatten(),
        wild: (linker == LinkerKind::Wild)
            .then(|| newest(Tool::Wild))
            .flatten(),
        lld: linker == LinkerKind::Lld,
        sccache: if sccache { newest(Tool::Sccache) } else { None },
        buildkit,
    };
    let text = render_init(&input)?;
    // What init writes must be what buildkit accepts.
    let manifest = Manifest::parse(&text, &path, &ctx.registry, crate::machine::today())?;
    crate::fsutil::write_atomically(&path, text.as_bytes()).map_err(|source| Error::File {
        action: "write",
        path: path.clone(),
        source,
    })?;
    let lock_path = path.with_file_name(LOCK_FILE);
    super::project::write_lock(&Lockfile::resolve(&manifest, &ctx.registry), &lock_path)?;
    eprintln!("wrote {} and {}", path.display(), lock_path.display());
    match &rust {
        Err(why) => eprintln!(
            "warning: {why}; set [toolchain] rust in {} before `buildkit generate`",
            path.display()
        ),
        Ok(choice) => {
            if let Some(note) = &choice.note {
                eprintln!("note: {note}");
            }
        }
    }
    if let Some(note) = buildkit_note {
        eprintln!("note: {note}");
    }
    if linker == LinkerKind::Default {
        eprintln!(
            "linker: rustc's own (rust-lld): nothing to install, nothing a contributor can lack; `buildkit tune` measures mold, wild and less debug info against it on this project (`buildkit init --tune` runs it)"
        );
    }
    eprintln!(
        "next: `buildkit setup` installs the tools, `buildkit generate` writes the cargo, devcontainer and CI files"
    );
    if linker != LinkerKind::Default {
        // Since Rust 1.90 rustc links with its own lld: another linker is not faster by
        // default, and on some machines and projects it is slower. Measure, then choose.
        eprintln!(
            "then: `buildkit tune` measures {} against rustc's own linker on this project and machine, and keeps it only if it is faster",
            linker.as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The Rust version init pins, and what to say about the choice.
struct RustChoice {
    version: RustVersion,
    note: Option<String>,
}

/// The newest stable Rust installed here that the workspace's `rust-version` allows: the
/// active rustc's release (or, for a nightly or beta, the newest stable it can name) unless
/// it is below a member's `rust-version`, then the newest installed toolchain that is not.
/// Why not, when rustc does not answer (rustup's own words); an error naming the package when
/// nothing installed is new enough, or the project file rustc would read when it is not one.
fn choose_rust(ctx: &Context) -> Result<Result<RustChoice, NoRust>, Error> {
    let pinned = project_channel(&ctx.cwd);
    // `cargo metadata`, once for both choices.
    let minimum = crate::machine::required_rust(&ctx.cwd, &ctx.env.cargo);
    let choice = choose_active_rust(ctx, minimum.clone())?;
    let Some((file, channel)) = pinned else {
        return Ok(choice);
    };
    // The project's own pin, where it can be kept: what its contributors build with today.
    let installed = crate::machine::installed_stables(&ctx.cwd);
    let why_not = if let Some((package, min)) = minimum.as_ref().filter(|(_, min)| channel < *min) {
        Some(format!("below package `{package}`'s rust-version {min}"))
    } else if !installed.contains(&channel) {
        Some(format!(
            "not installed here (`rustup toolchain install {channel}` installs it)"
        ))
    } else {
        None
    };
    Ok(match (why_not, choice) {
        (None, _) => Ok(RustChoice {
            version: channel,
            note: Some(format!(
                "pinned Rust {channel}, the channel {} already names",
                file.display()
            )),
        }),
        (Some(why), Ok(choice)) => Ok(RustChoice {
            note: Some(format!(
                "{} names Rust {channel}, {why}; pinned Rust {} instead (`buildkit generate` asks before changing the file's channel){}",
                file.display(),
                choice.version,
                choice.note.map(|n| format!("; {n}")).unwrap_or_default()
            )),
            ..choice
        }),
        // rustc does not answer here (rustup cannot run the file's toolchain): the newest
        // stable installed that the workspace allows.
        (Some(why), Err(e)) => {
            let floor = minimum.as_ref().map(|(_, min)| *min);
            match installed
                .iter()
                .filter(|v| floor.is_none_or(|min| **v >= min))
                .max()
            {
                Some(newest) => Ok(RustChoice {
                    version: *newest,
                    note: Some(format!(
                        "{} names Rust {channel}, {why}; pinned Rust {newest}, the newest stable installed here, instead (`buildkit generate` asks before changing the file's channel)",
                        file.display()
                    )),
                }),
                None => Err(NoRust::FileChannel {
                    file,
                    channel,
                    why,
                    cause: Box::new(e),
                }),
            }
        }
    })
}

/// The channel the project's rust-toolchain.toml (or legacy rust-toolchain) pins, where it is a
/// release (`1.90.0`).
fn project_channel(dir: &std::path::Path) -> Option<(std::path::PathBuf, RustVersion)> {
    for name in ["rust-toolchain.toml", "rust-toolchain"] {
        let path = dir.join(name);
        let Ok(text) = crate::fsutil::read_text(&path, crate::fsutil::MAX_TEXT_BYTES) else {
            continue;
        };
        let channel = match text.parse::<toml::Table>() {
            Ok(table) => table
                .get("toolchain")
                .and_then(|t| t.get("channel"))
                .and_then(|c| c.as_str())
                .map(str::to_string),
            // The legacy file may hold a bare channel name.
            Err(_) => Some(text.trim().to_string()),
        };
        return channel
            .and_then(|c| c.parse::<RustVersion>().ok())
            .map(|v| (path, v));
    }
    None
}

/// [`choose_rust`] from the active rustc alone; `required` is the workspace's highest
/// `rust-version` and the package that declares it.
fn choose_active_rust(
    ctx: &Context,
    required: Option<(String, RustVersion)>,
) -> Result<Result<RustChoice, NoRust>, Error> {
    let active = match crate::machine::active_rustc(&ctx.cwd, &ctx.env.rustc) {
        Ok(active) => active,
        Err(e) if e.is_project_file() => return Err(InitError::ProjectFile(e).into()),
        Err(e) => return Ok(Err(NoRust::Rustc(e))),
    };
    let Some((stable, from_prerelease)) = crate::toolchain::stable_for(&active.release) else {
        return Ok(Err(NoRust::NotStable(active.release.to_string())));
    };
    let Some((package, minimum)) = required.filter(|(_, min)| stable < *min) else {
        let note = from_prerelease.then(|| {
            format!(
                "the active rustc {} is not a stable release; pinned Rust {stable}, the newest stable it can name (edit toolchain.rust to choose another)",
                active.release
            )
        });
        return Ok(Ok(RustChoice {
            version: stable,
            note,
        }));
    };
    let installed = crate::machine::installed_stables(&ctx.cwd);
    match installed.into_iter().filter(|v| *v >= minimum).max() {
        Some(version) => Ok(Ok(RustChoice {
            version,
            note: Some(format!(
                "pinned Rust {version}: package `{package}` needs rust-version {minimum}, above the active rustc {}",
                active.release
            )),
        })),
        None => Err(InitError::RustTooOld {
            package,
            minimum,
            stable,
        }
        .into()),
    }
}

/// The `[buildkit]` source to pin: where this buildkit came from, when CI can install it from
/// there too; otherwise none, and a note saying why.
fn buildkit_source(ctx: &Context) -> (Option<BuildkitSource>, Option<String>) {
    use crate::provenance::InstalledFrom;
    match crate::machine::running_buildkit() {
        Some(InstalledFrom::CratesIo { version }) => (Some(BuildkitSource::CratesIo { version }), None),
        Some(InstalledFrom::Git { url, rev }) => (Some(BuildkitSource::Git { url, rev }), None),
        Some(InstalledFrom::Path { dir }) => match crate::provenance::inside(&dir, &ctx.cwd) {
            Some(path) => (Some(BuildkitSource::Path { path }), None),
            None => (
                None,
                Some(format!(
                    "this buildkit was installed from {}, outside this project, where CI and the devcontainer cannot build it: set [buildkit] git + rev (or url + sha256) in buildkit.toml before `buildkit generate`",
                    dir.display()
                )),
            ),
        },
        None => (
            None,
            Some("this buildkit was not installed by cargo, so CI cannot install the same: set [buildkit] git + rev (or url + sha256) in buildkit.toml before `buildkit generate`".into()),
        ),
    }
}
