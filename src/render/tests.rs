use super::cargo_config::*;
use super::*;
use std::path::Path;

/// tune's link script names each linker's directory as one shell word, whatever the path
/// holds, and is valid sh.
#[test]
fn tune_link_script_quotes_its_paths() {
    let script = tune_link_script("cc", Path::new("/h/it's $(touch x)/bin")).unwrap();
    assert!(
        script.contains("  mold) exec cc \"$@\" -B'/h/it'\\''s $(touch x)/bin' -fuse-ld=mold ;;\n"),
        "{script}"
    );
    assert!(
        script.contains(
            "  wild) exec cc \"$@\" -B'/h/it'\\''s $(touch x)/wild-ld' -fuse-ld=bfd ;;\n"
        ),
        "{script}"
    );
    assert!(script.contains("linker=${BUILDKIT_TUNE_LINKER:-default}\n"));
    let status = std::process::Command::new("sh")
        .args(["-n", "-c", &script])
        .status()
        .unwrap();
    assert!(status.success(), "{script}");
}

fn manifest(text: &str) -> Manifest {
    Manifest::for_test(text)
}

const MOLD: &str = "[toolchain]\nrust = \"1.95.0\"\n[tools.mold]\nversion = \"2.41.0\"\n[tools.sccache]\nversion = \"0.17.0\"\n[profile.dev]\ndebug = \"line-tables-only\"\n[buildkit]\nversion = \"0.1.0\"\n";
/// rust-lld through the C driver: the one linker buildkit selects with rustflags.
const LLD: &str = "[toolchain]\nrust = \"1.95.0\"\n[tools.lld]\nsource = \"rust\"\n[tools.sccache]\nversion = \"0.17.0\"\n[profile.dev]\ndebug = \"line-tables-only\"\n";
const LLD_FLAGS: &str = "\"-C\", \"link-arg=-fuse-ld=lld\"";

#[test]
fn templates_parse() {
    let env = template_env();
    for name in [
        "Dockerfile",
        "devcontainer.json",
        "action.yml",
        "github-example.yml",
        "gitlab-buildkit.yml",
        "gitlab-example.yml",
        "buildkit.toml",
        "buildkit-link",
    ] {
        assert!(env.get_template(name).is_ok(), "{name}");
    }
}

#[test]
fn merge_into_nothing_then_again_is_stable() {
    let m = manifest(LLD);
    let keys = cargo_config_keys(&m);
    let once = merge_cargo_config(None, &keys, Path::new("c"), false).unwrap();
    let twice = merge_cargo_config(Some(&once), &keys, Path::new("c"), false).unwrap();
    assert_eq!(once, twice);
    assert!(is_generated(&once));
    // sccache is selected through the environment, never committed: no rustc-wrapper.
    assert_eq!(
        leaves(&once),
        [
            "profile.dev.debug",
            "target.x86_64-unknown-linux-gnu.linker",
            "target.x86_64-unknown-linux-gnu.rustflags"
        ],
        "{once}"
    );
    assert!(
        once.contains(&format!("rustflags = [{LLD_FLAGS}]")),
        "{once}"
    );
}

#[test]
fn a_linker_that_must_be_installed_is_chosen_by_the_linker_script() {
    for text in [
        MOLD,
        "[toolchain]\nrust = \"1.85.0\"\n[tools.lld]\nsource = \"llvm\"\nversion = \"22.1.8\"\n[buildkit]\nversion = \"0.1.0\"\n",
    ] {
        let m = manifest(text);
        let keys = cargo_config_keys(&m);
        let rendered: Vec<String> = keys
            .iter()
            .map(|(path, value)| format!("{} = {}", path.join("."), value.to_string().trim()))
            .collect();
        assert!(
            rendered.contains(
                &"target.x86_64-unknown-linux-gnu.linker = \".cargo/buildkit-link\"".to_string()
            ),
            "{rendered:?}"
        );
        assert!(
            rendered.iter().all(|k| !k.contains("rustflags")),
            "no linker flags are committed: {rendered:?}"
        );
        let files = render_files(&m, &bootstrap(&m).unwrap()).unwrap();
        let script = files.iter().find(|f| f.path == LINKER_SCRIPT).unwrap();
        assert!(script.executable && is_generated(&script.contents));
    }
}

#[test]
fn merge_keeps_user_keys_and_comments_and_drops_keys_no_longer_wanted() {
    let user = "# my settings\n[alias]\nb = \"build\"  # short\n\n[build]\njobs = 2 # two cores\n";
    let with_sccache = cargo_config_keys(&manifest(LLD));
    let merged = merge_cargo_config(Some(user), &with_sccache, Path::new("c"), false).unwrap();
    assert!(
        merged.contains("# my settings\n[alias]\nb = \"build\"  # short\n"),
        "{merged}"
    );
    assert!(merged.contains("jobs = 2 # two cores\n"), "{merged}");
    let without = cargo_config_keys(&manifest(
        "[toolchain]\nrust = \"1.95.0\"\n[linker]\nkind = \"default\"\n",
    ));
    let unmerged = merge_cargo_config(Some(&merged), &without, Path::new("c"), false).unwrap();
    assert_eq!(leaves(&unmerged), ["alias.b", "build.jobs"], "{unmerged}");
    assert!(
        unmerged.ends_with(user),
        "the user's text is back to what it was:\n{unmerged}"
    );
}

#[test]
fn a_users_conflicting_key_needs_force() {
    let user = "[target.x86_64-unknown-linux-gnu]\nlinker = \"gcc-12\"\n";
    let keys = cargo_config_keys(&manifest(LLD));
    let err = merge_cargo_config(Some(user), &keys, Path::new(".cargo/config.toml"), false)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err.to_string(),
        ".cargo/config.toml already sets `target.x86_64-unknown-linux-gnu.linker` = \"gcc-12\", and buildkit.toml wants \"cc\"; re-run with --force to let buildkit own that key"
    );
    let forced = merge_cargo_config(Some(user), &keys, Path::new("c"), true).unwrap();
    assert!(forced.contains("linker = \"cc\""));
}

#[test]
fn sccache_and_incremental_settings_depend_on_where_they_run() {
    let m = manifest(MOLD);
    let local = environment(&m, Place::Local);
    assert_eq!(local, vec![("RUSTC_WRAPPER".into(), "sccache".into())]);
    let ci = environment(&m, Place::Ci);
    assert!(
        ci.contains(&("CARGO_INCREMENTAL".into(), "0".into())),
        "{ci:?}"
    );
    let gha = manifest(
        "[toolchain]\nrust = \"1.95.0\"\n[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"gha\"\nversion = \"v1\"\n",
    );
    for place in [Place::Local, Place::Ci] {
        let vars = environment(&gha, place);
        assert!(
            vars.iter().all(|(k, _)| !k.starts_with("SCCACHE_GHA")),
            "the gha backend is enabled by the GitHub action only: {vars:?}"
        );
    }
}

/// A TOML text's leaves as dotted paths, sorted: what a merge left, asserted whole.
fn leaves(text: &str) -> Vec<String> {
    fn walk(prefix: &str, table: &toml::Table, keys: &mut Vec<String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(inner) => walk(&path, inner, keys),
                _ => keys.push(path),
            }
        }
    }
    let mut keys = Vec::new();
    walk("", &text.parse().expect("TOML"), &mut keys);
    keys.sort();
    keys
}

fn merge(existing: &str, manifest_text: &str, force: bool) -> Result<String, RenderError> {
    let keys = cargo_config_keys(&manifest(manifest_text));
    merge_cargo_config(Some(existing), &keys, Path::new("c.toml"), force)
}

const DEFAULT: &str = "[toolchain]\nrust = \"1.95.0\"\n[linker]\nkind = \"default\"\n";

#[test]
fn the_users_own_rustflags_stay_beside_buildkits() {
    let user = "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"--cfg\", \"my_cfg\"] # mine\n";
    let merged = merge(user, LLD, false).unwrap();
    assert!(
        merged.contains(&format!(
            "rustflags = [\"--cfg\", \"my_cfg\", {LLD_FLAGS}] # mine\n"
        )),
        "{merged}"
    );
    assert_eq!(merge(&merged, LLD, false).unwrap(), merged, "stable");
    // mold instead: the script chooses it, so buildkit's flags go and the user's stay.
    let mold = merge(&merged, MOLD, false).unwrap();
    assert!(
        mold.contains("rustflags = [\"--cfg\", \"my_cfg\"] # mine\n"),
        "{mold}"
    );
    // No linker flags at all: the user's array is back as it was.
    let back = merge(&mold, DEFAULT, false).unwrap();
    assert!(back.ends_with(user), "{back}");
    assert!(!back.contains("buildkit-owned-flags"), "{back}");
}

#[test]
fn build_rustflags_would_be_ignored_so_they_are_refused_or_moved() {
    let user = "[build]\n# why we need it\nrustflags = [\"--cfg\", \"my_cfg\"]\n";
    let err = merge(user, LLD, false).unwrap_err().to_string();
    assert_eq!(
        err,
        "c.toml sets build.rustflags = [\"--cfg\", \"my_cfg\"], which cargo ignores once target.x86_64-unknown-linux-gnu.rustflags exists (where buildkit puts the linker flags): move them into [target.x86_64-unknown-linux-gnu] rustflags, where buildkit keeps them beside its own, or re-run with --force to have buildkit move them"
    );
    let moved = merge(user, LLD, true).unwrap();
    // No [build] left: its rustflags moved beside buildkit's.
    assert_eq!(
        leaves(&moved),
        [
            "profile.dev.debug",
            "target.x86_64-unknown-linux-gnu.linker",
            "target.x86_64-unknown-linux-gnu.rustflags"
        ],
        "{moved}"
    );
    assert!(
        moved.contains("# why we need it\nrustflags = [\"--cfg\""),
        "the comment moves with the flags: {moved}"
    );
    assert!(
        moved.contains(&format!("rustflags = [\"--cfg\", \"my_cfg\", {LLD_FLAGS}]")),
        "{moved}"
    );
    // Without linker flags of buildkit's, build.rustflags keep working: nothing to refuse.
    assert!(merge(user, DEFAULT, false).unwrap().ends_with(user));
    let mold = merge(user, MOLD, false).unwrap();
    assert!(mold.contains(user), "{mold}");
}

#[test]
fn a_users_linker_flag_conflicts_and_force_drops_only_it() {
    let user = "[target.x86_64-unknown-linux-gnu]\nrustflags = [\"-C\", \"link-arg=-fuse-ld=bfd\", \"--cfg\", \"keep\"]\n";
    let err = merge(user, LLD, false).unwrap_err().to_string();
    assert!(
            err.starts_with("c.toml already sets `target.x86_64-unknown-linux-gnu.rustflags` = -C link-arg=-fuse-ld=bfd, and buildkit.toml wants -C link-arg=-fuse-ld=lld"),
            "{err}"
        );
    let forced = merge(user, LLD, true).unwrap();
    assert!(
        forced.contains(&format!("rustflags = [\"--cfg\", \"keep\", {LLD_FLAGS}]")),
        "{forced}"
    );
}

#[test]
fn an_older_header_that_owned_the_whole_array_migrates() {
    let old = "# Partly @generated by buildkit from buildkit.toml: the keys listed below are buildkit's;\n# buildkit-owned: target.x86_64-unknown-linux-gnu.linker, target.x86_64-unknown-linux-gnu.rustflags\n\n[target.x86_64-unknown-linux-gnu]\nlinker = \"cc\"\nrustflags = [\"-C\", \"link-arg=-fuse-ld=bfd\"]\n";
    let merged = merge(old, LLD, false).unwrap();
    assert!(
        merged.contains(&format!("rustflags = [{LLD_FLAGS}]")),
        "{merged}"
    );
}

/// The encoders alone, without the manifest's validation in front of them: sources and
/// settings that validation would refuse go straight into the typed manifest, every file
/// is rendered, and `tests/it/run_generated.py` runs every shell line of it. Rendering may
/// refuse a value (a line break in a Dockerfile ENV value); it never lets one run.
mod encoders_alone {
    use super::*;
    use crate::manifest::{BuildkitSource, CacheConfig, CacheWriters};
    use proptest::prelude::*;

    const HOSTILE: &[&str] = &[
        "$(touch MARK/dollar)",
        "`touch MARK/backtick`",
        ";touch MARK/semicolon;",
        "'",
        "\"",
        "\\",
        "\n",
        "\r",
        "\u{2028}",
        "#",
        ": ",
        "${{ github.token }}",
        "$HOME",
        " ",
        "x",
        "/",
        "--link",
        "\t",
    ];

    fn value(parts: &[usize], marks: &std::path::Path) -> String {
        parts
            .iter()
            .map(|&i| HOSTILE[i].replace("MARK", &marks.display().to_string()))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn rendered_files_never_run_a_value(
            parts in prop::collection::vec(0..HOSTILE.len(), 1..5),
            source in 0..4usize,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let marks = dir.path().join("marks");
            let project = dir.path().join("project");
            std::fs::create_dir_all(&marks).unwrap();
            std::fs::create_dir_all(project.join(".cargo")).unwrap();
            let v = value(&parts, &marks);
            let mut m = manifest("[toolchain]\nrust = \"1.95.0\"\n[tools.sccache]\nversion = \"0.17.0\"\n[ci]\nproviders = [\"github\", \"gitlab\"]\n");
            m.buildkit = Some(match source {
                0 => BuildkitSource::Git { url: format!("ssh://h/{v}"), rev: "0123456789abcdef0123456789abcdef01234567".into() },
                1 => BuildkitSource::Path { path: v.clone() },
                2 => BuildkitSource::Prebuilt { url: format!("https://h/{v}.tar.gz"), sha256: "a".repeat(64).parse().unwrap() },
                _ => BuildkitSource::CratesIo { version: v.clone() },
            });
            m.toolchain.components = Some(vec![v.clone()]);
            m.toolchain.targets = Some(vec![format!("x{v}")]);
            m.toolchain.file = source % 2 == 0;
            m.cache = Some(CacheConfig {
                credentials: Vec::new(),
                backend: CacheBackend::Local,
                settings: [("dir".to_string(), format!("/{v}"))].into(),
                writers: CacheWriters::Ci,
                local_first: true,
                // Hostile layout paths reach the devcontainer's mount option and JSON.
                project_dir: Some(format!("/{v}")),
                cargo_home: Some(format!("/{v}/cargo")),
            });
            let files = match bootstrap(&m).and_then(|b| render_files(&m, &b)) {
                Ok(files) => files,
                Err(RenderError::Encode { .. }) => return Ok(()),
                Err(e) => panic!("{e}"),
            };
            for file in files {
                let path = project.join(file.path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, file.contents).unwrap();
            }
            std::fs::write(project.join(".cargo/config.toml"), "").unwrap();
            let toolchain = merge_rust_toolchain(None, &toolchain_keys(&m), Path::new("t"), false).unwrap();
            std::fs::write(project.join("rust-toolchain.toml"), toolchain).unwrap();
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/run_generated.py");
            let out = std::process::Command::new("python3")
                .args([script, project.to_str().unwrap(), marks.to_str().unwrap()])
                .output()
                .expect("python3 runs tests/it/run_generated.py");
            prop_assert!(out.status.success(), "value {:?}: {}{}", v,
                String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
    }
}
