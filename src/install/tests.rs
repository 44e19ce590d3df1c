use super::*;

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
