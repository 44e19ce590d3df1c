use super::*;

#[test]
fn version_words() {
    assert!(says_version(
        "mold 2.41.0 (abc; compatible with GNU ld)",
        "2.41.0"
    ));
    assert!(says_version("sccache 0.17.0", "0.17.0"));
    assert!(says_version(
        "LLD 22.1.8 (compatible with GNU linkers)",
        "22.1.8"
    ));
    assert!(!says_version("mold 2.41.01", "2.41.0"));
    assert!(!says_version("sccache 0.16.0", "0.17.0"));
}

#[test]
fn links_switch_atomically_and_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().to_path_buf());
    let a = Home::link_target("mold", "1", "bin/mold");
    let b = Home::link_target("mold", "2", "bin/mold");
    let bin = home.bin_dir();
    home.switch_link(&bin, "mold", &a).unwrap();
    home.switch_link(&bin, "mold", &a).unwrap();
    home.switch_link(&bin, "mold", &b).unwrap();
    assert_eq!(
        fs_err::read_link(bin.join("mold")).unwrap(),
        Path::new("..").join(&b)
    );
    let leftovers: Vec<_> = fs_err::read_dir(&bin).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
    // A lock's own directory is deeper; its links still resolve into the home.
    let env = home.lock_bin_dir("0123456789abcdef");
    home.switch_link(&env, "mold", &b).unwrap();
    assert_eq!(
        fs_err::read_link(env.join("mold")).unwrap(),
        Path::new("../../..").join(&b)
    );
    assert_eq!(home.links(&env)["mold"], dir.path().join(&b));
}
