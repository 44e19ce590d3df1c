use super::*;

#[test]
fn the_mark_goes_in_and_out_whole_after_a_byte_order_mark() {
    for text in [
        &b"fn main() {}\n"[..],
        b"\xef\xbb\xbf//! docs\nfn main() {}",
        b"",
    ] {
        let with = marked(text);
        assert_eq!(with.len(), text.len() + EDIT_MARK.len());
        assert_eq!(unmarked(&with).as_deref(), Some(text));
        assert_eq!(unmarked(text), None);
    }
    assert!(marked(b"\xef\xbb\xbfx").starts_with(BOM));
}

#[test]
fn every_cache_gets_a_change_and_the_file_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("main.rs");
    std::fs::write(&file, "fn main() {}\n").unwrap();
    let (mut edit, note) = SourceEdit::begin(&file, dir.path(), "tune").unwrap();
    assert!(note.is_none());
    let mut seen = Vec::new();
    for cache in ["a", "a", "b", "a", "b", "b"] {
        edit.change_for(cache).unwrap();
        seen.push((cache, std::fs::read(&file).unwrap().len()));
    }
    // Each cache sees the other state than its own last build.
    for cache in ["a", "b"] {
        let sizes: Vec<usize> = seen.iter().filter(|s| s.0 == cache).map(|s| s.1).collect();
        assert!(sizes.windows(2).all(|w| w[0] != w[1]), "{cache}: {sizes:?}");
    }
    drop(edit);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "fn main() {}\n");
}

#[test]
fn a_leftover_mark_is_removed_and_a_foreign_change_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lib.rs");
    std::fs::write(&file, format!("{EDIT_MARK}pub fn f() {{}}\n")).unwrap();
    let (mut edit, note) = SourceEdit::begin(&file, dir.path(), "tune").unwrap();
    assert!(note.unwrap().contains("interrupted"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "pub fn f() {}\n");
    edit.change_for("a").unwrap();
    std::fs::write(&file, "pub fn g() {}\n").unwrap();
    let err = edit.change_for("a").unwrap_err().to_string();
    assert!(
        err.contains("was changed while tune was editing it"),
        "{err}"
    );
    drop(edit);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "pub fn g() {}\n");
}

#[test]
fn a_failed_write_says_whether_the_mark_was_left() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("main.rs");
    std::fs::write(&file, "fn main() {}\n").unwrap();
    let (mut edit, _) = SourceEdit::begin(&file, dir.path(), "bench").unwrap();
    edit.change_for("a").unwrap();
    // The next write fails (here: a second name for the file, which a rename would split).
    std::fs::hard_link(&file, dir.path().join("again.rs")).unwrap();
    let err = edit.change_for("a").unwrap_err().to_string();
    assert!(
            err.ends_with("; its first line is still `// buildkit tune: a measured edit; tune removes this line when it ends`: the next tune or bench removes it, or remove it yourself"),
            "{err}"
        );
}

fn package(name: &str, bins: &[&str], default_run: Option<&str>) -> BinPackage {
    BinPackage {
        name: name.into(),
        default_run: default_run.map(str::to_string),
        bins: bins
            .iter()
            .map(|b| {
                (
                    b.to_string(),
                    PathBuf::from(format!("{name}/src/bin/{b}.rs")),
                )
            })
            .collect(),
    }
}

#[test]
fn the_binary_is_the_one_cargo_means() {
    let pick = |defaults: &[BinPackage], members: &[BinPackage], name| {
        choose_binary(defaults, members, name)
            .map(|c| (c.package.bins[c.bin].0.clone(), c.why))
            .map_err(|e| e.to_string())
    };
    // A virtual workspace whose default-members names the editor; a helper elsewhere.
    let members = [
        package("helper", &["gen"], None),
        package("editor", &["zed", "cli"], Some("zed")),
    ];
    let defaults = [package("editor", &["zed", "cli"], Some("zed"))];
    assert_eq!(
        pick(&defaults, &members, None).unwrap(),
        (
            "zed".to_string(),
            "`default-run` of package `editor`, the workspace's default member".to_string()
        )
    );
    // --bin looks among every member.
    assert_eq!(pick(&defaults, &members, Some("gen")).unwrap().0, "gen");
    assert_eq!(
        pick(&defaults, &members, Some("nope")).unwrap_err(),
        "--bin nope: no binary target of that name in the workspace"
    );
    // Several binaries, no default-run: which one is the user's to say.
    let defaults = [package("editor", &["zed", "cli"], None)];
    assert_eq!(
        pick(&defaults, &members, None).unwrap_err(),
        "package `editor` has several binaries and no `default-run`: editor (zed, cli); choose one with --bin NAME"
    );
    // No default-members in a virtual workspace: every member is a default one.
    let all = [
        package("a", &["a"], None),
        package("lib", &[], None),
        package("b", &["b"], None),
    ];
    assert_eq!(
        pick(&all, &all, None).unwrap_err(),
        "2 packages have binaries, so which build to measure is not clear: a (a); b (b); choose one with --bin NAME (or set `default-members`)"
    );
    // Default members without a binary (a library at the root): the one member that has.
    let root_lib = [package("root", &[], None)];
    let members = [package("root", &[], None), package("app", &["app"], None)];
    assert_eq!(
            pick(&root_lib, &members, None).unwrap(),
            ("app".to_string(), "the binary of package `app`, the only workspace member with a binary (the default members have none)".to_string())
        );
}

#[test]
fn a_file_outside_the_project_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let outside = dir.path().join("other.rs");
    std::fs::write(&outside, "fn f() {}").unwrap();
    let link = project.join("link.rs");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    for file in [&outside, &link] {
        let err = SourceEdit::begin(file, &project, "bench").err().unwrap();
        assert!(
            matches!(err, super::SourceEditError::Outside { .. }),
            "{err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "fn f() {}");
}
