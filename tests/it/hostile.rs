//! Hostile archives: each is refused as a whole, and what was installed before stays usable.

use crate::harness::*;

fn assert_refused(entries: Vec<Entry>, expected: &str) {
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
    let run = sandbox.run(&["setup"]).failure(1);
    assert!(
        run.stderr
            .contains("error: refusing http://[LOOPBACK]/hostile.tar.gz: entry"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(expected),
        "expected `{expected}` in: {}",
        run.stderr
    );
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
    let out = std::process::Command::new(sandbox.home().join("bin/sccache"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sccache 0.16.0\n");
}

#[test]
fn absolute_path() {
    assert_refused(
        vec![Entry::file("/tmp/escaped-by-buildkit-test", "x")],
        "is an absolute path",
    );
}

#[test]
fn parent_dir_component() {
    assert_refused(
        vec![Entry::file(
            "sccache-v0.17.0-x86_64-unknown-linux-musl/../../../escaped",
            "x",
        )],
        "has a `..` component",
    );
}

#[test]
fn symlink_to_an_absolute_path() {
    assert_refused(
        vec![Entry::symlink(
            "sccache-v0.17.0-x86_64-unknown-linux-musl/etc",
            "/etc",
        )],
        "is a symlink to an absolute path",
    );
}

#[test]
fn symlink_climbing_out() {
    assert_refused(
        vec![Entry::symlink(
            "sccache-v0.17.0-x86_64-unknown-linux-musl/up",
            "../../..",
        )],
        "is a symlink pointing outside",
    );
}

#[test]
fn symlink_chain_climbing_out() {
    let top = "sccache-v0.17.0-x86_64-unknown-linux-musl";
    assert_refused(
        vec![
            Entry::symlink(&format!("{top}/a"), "."),
            Entry::symlink(&format!("{top}/b"), "a/a/a/.."),
        ],
        "entry `b` is a symlink that does not resolve to a file inside the tool's directory",
    );
}

#[test]
fn write_through_a_symlinked_directory() {
    let top = "sccache-v0.17.0-x86_64-unknown-linux-musl";
    assert_refused(
        vec![
            Entry::symlink(&format!("{top}/dir"), "."),
            Entry::file(&format!("{top}/dir/escaped"), "x"),
        ],
        "is inside a symlinked directory",
    );
}

#[test]
fn hard_link_outside() {
    assert_refused(
        vec![Entry::hard_link(
            "sccache-v0.17.0-x86_64-unknown-linux-musl/passwd",
            "../../etc/passwd",
        )],
        "is a hard link pointing outside",
    );
}

#[test]
fn hard_link_to_an_absolute_path() {
    assert_refused(
        vec![Entry::hard_link(
            "sccache-v0.17.0-x86_64-unknown-linux-musl/passwd",
            "/etc/passwd",
        )],
        "is a hard link pointing outside",
    );
}

/// A hard link made through a symlink that resolves outside, after which the symlink is
/// replaced by a plain file: the final "every link stays inside" pass sees nothing wrong, but
/// the tree would hold a hard link to a file outside it (here the sandbox's `secret`).
#[test]
fn hard_link_through_a_symlink_replaced_later() {
    let top = "sccache-v0.17.0-x86_64-unknown-linux-musl";
    assert_refused(
        vec![
            Entry::symlink(&format!("{top}/a"), "."),
            // From tools/.staging-*/: a/a/a is the staging dir, ../../.. the sandbox root.
            Entry::symlink(&format!("{top}/b"), "a/a/a/../../.."),
            Entry::hard_link(&format!("{top}/stolen"), &format!("{top}/b/secret")),
            Entry::file(&format!("{top}/b"), "now a plain file"),
        ],
        "is a hard link pointing outside the tool's directory",
    );
}
