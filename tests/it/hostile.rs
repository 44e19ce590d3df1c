//! Hostile archives: each is refused as a whole, and what was installed before stays usable.

use crate::harness::*;

/// Installs a good sccache, then pins one whose archive adds `entries`; returns the refused
/// setup after checking that nothing escaped and the good install still runs.
fn refused(entries: Vec<Entry>) -> Run {
    let sandbox = Sandbox::new();
    let server = Server::start();
    // A file outside the tools' tree that a hostile archive might reach for.
    std::fs::write(sandbox.root().join("secret"), "not the archive's").unwrap();
    // A good install first: it must survive the hostile one.
    let good = sccache_archive("0.16.0");
    sandbox.pin_served(&server, "sccache", "0.16.0", "/good.tar.gz", &good);
    sandbox.run(&["setup"]).success();

    let top = "sccache-v0.17.0-x86_64-unknown-linux-musl";
    let mut all = vec![Entry::exe(
        &format!("{top}/sccache"),
        version_script("sccache 0.17.0"),
    )];
    all.extend(entries);
    let hostile = gzip(&tar(&all));
    sandbox.pin_served(&server, "sccache", "0.17.0", "/hostile.tar.gz", &hostile);
    let run = sandbox.run(&["setup"]);
    assert!(!sandbox.home().join("tools/sccache/0.17.0").exists());
    assert!(
        !sandbox.root().join("escaped").exists(),
        "nothing was written outside"
    );
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!(
        std::fs::metadata(sandbox.root().join("secret"))
            .unwrap()
            .nlink(),
        1,
        "no hard link to a file outside was made"
    );
    let staging: Vec<_> = std::fs::read_dir(sandbox.home().join("tools"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(staging, ["sccache"], "no staging directory is left");
    let still = sandbox
        .exec(sandbox.home().join("bin/sccache"), &["--version"])
        .run();
    still.assert_is("exit 0\n--- stdout\nsccache 0.16.0");
    run
}

#[test]
fn absolute_path() {
    let run = refused(vec![Entry::file("/tmp/escaped-by-buildkit-test", "x")]);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    wrote [SANDBOX]/project/buildkit.lock
    downloading sccache 0.17.0
    error: refusing http://[LOOPBACK]/hostile.tar.gz: entry `/tmp/escaped-by-buildkit-test` is an absolute path; nothing of it was installed
    ");
}

#[test]
fn parent_dir_component() {
    let run = refused(vec![Entry::file(
        "sccache-v0.17.0-x86_64-unknown-linux-musl/../../../escaped",
        "x",
    )]);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    wrote [SANDBOX]/project/buildkit.lock
    downloading sccache 0.17.0
    error: refusing http://[LOOPBACK]/hostile.tar.gz: entry `sccache-v0.17.0-x86_64-unknown-linux-musl/../../../escaped` has a `..` component; nothing of it was installed
    ");
}

#[test]
fn symlink_to_an_absolute_path() {
    let run = refused(vec![Entry::symlink(
        "sccache-v0.17.0-x86_64-unknown-linux-musl/etc",
        "/etc",
    )]);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    wrote [SANDBOX]/project/buildkit.lock
    downloading sccache 0.17.0
    error: refusing http://[LOOPBACK]/hostile.tar.gz: entry `sccache-v0.17.0-x86_64-unknown-linux-musl/etc` is a symlink to an absolute path; nothing of it was installed
    ");
}

#[test]
fn symlink_climbing_out() {
    let run = refused(vec![Entry::symlink(
        "sccache-v0.17.0-x86_64-unknown-linux-musl/up",
        "../../..",
    )]);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    wrote [SANDBOX]/project/buildkit.lock
    downloading sccache 0.17.0
    error: refusing http://[LOOPBACK]/hostile.tar.gz: entry `sccache-v0.17.0-x86_64-unknown-linux-musl/up` is a symlink pointing outside the tool's directory; nothing of it was installed
    ");
}

#[test]
fn symlink_chain_climbing_out() {
    let top = "sccache-v0.17.0-x86_64-unknown-linux-musl";
    let run = refused(vec![
        Entry::symlink(&format!("{top}/a"), "."),
        Entry::symlink(&format!("{top}/b"), "a/a/a/.."),
    ]);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    wrote [SANDBOX]/project/buildkit.lock
    downloading sccache 0.17.0
    error: refusing http://[LOOPBACK]/hostile.tar.gz: entry `b` is a symlink that does not resolve to a file inside the tool's directory; nothing of it was installed
    ");
}

#[test]
fn write_through_a_symlinked_directory() {
    let top = "sccache-v0.17.0-x86_64-unknown-linux-musl";
    let run = refused(vec![
        Entry::symlink(&format!("{top}/dir"), "."),
        Entry::file(&format!("{top}/dir/escaped"), "x"),
    ]);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    wrote [SANDBOX]/project/buildkit.lock
    downloading sccache 0.17.0
    error: refusing http://[LOOPBACK]/hostile.tar.gz: entry `sccache-v0.17.0-x86_64-unknown-linux-musl/dir/escaped` is inside a symlinked directory; nothing of it was installed
    ");
}

#[test]
fn hard_link_outside() {
    let run = refused(vec![Entry::hard_link(
        "sccache-v0.17.0-x86_64-unknown-linux-musl/passwd",
        "../../etc/passwd",
    )]);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    wrote [SANDBOX]/project/buildkit.lock
    downloading sccache 0.17.0
    error: refusing http://[LOOPBACK]/hostile.tar.gz: entry `sccache-v0.17.0-x86_64-unknown-linux-musl/passwd` is a hard link pointing outside the tool's directory; nothing of it was installed
    ");
}

#[test]
fn hard_link_to_an_absolute_path() {
    let run = refused(vec![Entry::hard_link(
        "sccache-v0.17.0-x86_64-unknown-linux-musl/passwd",
        "/etc/passwd",
    )]);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    wrote [SANDBOX]/project/buildkit.lock
    downloading sccache 0.17.0
    error: refusing http://[LOOPBACK]/hostile.tar.gz: entry `sccache-v0.17.0-x86_64-unknown-linux-musl/passwd` is a hard link pointing outside the tool's directory; nothing of it was installed
    ");
}

/// A hard link made through a symlink that resolves outside, after which the symlink is
/// replaced by a plain file: the final "every link stays inside" pass sees nothing wrong, but
/// the tree would hold a hard link to a file outside it (here the sandbox's `secret`).
#[test]
fn hard_link_through_a_symlink_replaced_later() {
    let top = "sccache-v0.17.0-x86_64-unknown-linux-musl";
    let run = refused(vec![
        Entry::symlink(&format!("{top}/a"), "."),
        // From tools/.staging-*/: a/a/a is the staging dir, ../../.. the sandbox root.
        Entry::symlink(&format!("{top}/b"), "a/a/a/../../.."),
        Entry::hard_link(&format!("{top}/stolen"), &format!("{top}/b/secret")),
        Entry::file(&format!("{top}/b"), "now a plain file"),
    ]);
    insta::assert_snapshot!(run, @"
    exit 1
    --- stderr
    wrote [SANDBOX]/project/buildkit.lock
    downloading sccache 0.17.0
    error: refusing http://[LOOPBACK]/hostile.tar.gz: entry `sccache-v0.17.0-x86_64-unknown-linux-musl/stolen` is a hard link pointing outside the tool's directory; nothing of it was installed
    ");
}
