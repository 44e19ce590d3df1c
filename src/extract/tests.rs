use super::*;

#[test]
fn relative_paths_strip_top_and_refuse_escapes() {
    let top = Some("mold-1-x");
    assert_eq!(
        relative_path(Path::new("mold-1-x/bin/mold"), top),
        Ok(Some("bin/mold".into()))
    );
    assert_eq!(relative_path(Path::new("./mold-1-x/"), top), Ok(None));
    assert_eq!(
        relative_path(Path::new("other/x"), top),
        Ok(Some("other/x".into()))
    );
    assert!(relative_path(Path::new("/etc/passwd"), top).is_err());
    assert!(relative_path(Path::new("mold-1-x/../../x"), top).is_err());
}

fn sample_options() -> UnpackOptions<'static> {
    UnpackOptions {
        archive: "a.tar.gz",
        format: ArchiveFormat::TarGz,
        top_dir: Some("top"),
        keep: &[],
        max_bytes: MAX_UNPACKED_BYTES,
    }
}

fn sample_archive() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    // World-writable in the archive, as careless release scripts make them.
    for (path, data, mode) in [
        ("top/bin/tool", &b"#!/bin/sh\n"[..], 0o777),
        ("top/README", &[7u8; 3000][..], 0o666),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        builder.append_data(&mut header, path, data).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}

fn archive_of(entries: &[&str]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for path in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o755);
        builder.append_data(&mut header, path, &b"abc"[..]).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}

/// Another of upstream's builds of the release (wild's `-gnu` beside the registry's
/// `-musl`) has another top directory name: that one is stripped, and it must be the only.
#[test]
fn an_archive_with_another_single_top_directory_is_read_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = sample_options();
    let dest = dir.path().join("gnu");
    std::fs::create_dir(&dest).unwrap();
    let archive = archive_of(&["top-gnu/bin/tool", "top-gnu/README"]);
    unpack(&archive[..], &dest, &options).unwrap();
    assert!(dest.join("bin/tool").is_file() && dest.join("README").is_file());
    let wanted = std::collections::BTreeSet::from(["bin/tool".to_string()]);
    let digests = digests_of(&archive[..], ArchiveFormat::TarGz, Some("top"), &wanted).unwrap();
    assert_eq!(digests.keys().collect::<Vec<_>>(), ["bin/tool"]);
    // Two top directories: refused whole.
    let dest = dir.path().join("two");
    std::fs::create_dir(&dest).unwrap();
    let err = unpack(
        &archive_of(&["a/bin/tool", "b/bin/tool"])[..],
        &dest,
        &options,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing a.tar.gz: entry `b/bin/tool` is outside the archive's single top directory; nothing of it was installed"
    );
}

#[test]
fn every_truncation_of_an_archive_is_an_error_not_a_panic() {
    let archive = sample_archive();
    let options = sample_options();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    std::fs::create_dir(&whole).unwrap();
    unpack(&archive[..], &whole, &options).unwrap();
    assert!(whole.join("bin/tool").is_file());
    for end in (0..archive.len() - 8).step_by(7) {
        let dest = dir.path().join(format!("cut-{end}"));
        std::fs::create_dir(&dest).unwrap();
        let err = unpack(&archive[..end], &dest, &options).expect_err("a cut archive is refused");
        assert!(err.to_string().contains("a.tar.gz"), "{err}");
    }
}

#[test]
fn modes_drop_group_and_other_write_and_unpacking_stops_at_its_limit() {
    let archive = sample_archive();
    let dir = tempfile::tempdir().unwrap();
    let options = sample_options();
    let dest = dir.path().join("ok");
    std::fs::create_dir(&dest).unwrap();
    unpack(&archive[..], &dest, &options).unwrap();
    let mode = |p: &str| {
        std::fs::metadata(dest.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("bin/tool"), 0o755);
    assert_eq!(mode("README"), 0o644);
    // 3010 bytes to write, 2000 allowed: refused, whatever the compressed size.
    let dest = dir.path().join("capped");
    std::fs::create_dir(&dest).unwrap();
    let err = unpack(
        &archive[..],
        &dest,
        &UnpackOptions {
            max_bytes: 2000,
            ..options
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "refusing a.tar.gz: it unpacks to more than 2000 bytes, buildkit's limit for one tool; nothing of it was installed"
    );
}

#[test]
fn symlink_targets_are_judged_from_their_directory() {
    assert!(
        check_symlink_target(Path::new("libexec/mold/ld"), Path::new("../../bin/mold")).is_ok()
    );
    assert!(check_symlink_target(Path::new("bin/ld.mold"), Path::new("mold")).is_ok());
    assert!(check_symlink_target(Path::new("bin/x"), Path::new("../../etc")).is_err());
    assert!(check_symlink_target(Path::new("x"), Path::new("/etc/passwd")).is_err());
}
