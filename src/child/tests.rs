use super::*;

#[test]
fn the_error_line_is_the_first_that_says_so_else_the_last() {
    let collect2 =
        "/usr/bin/ld: cannot find -lfoo\ncollect2: error: ld returned 1 exit status\nmore\n";
    assert_eq!(
        error_line(collect2),
        "collect2: error: ld returned 1 exit status"
    );
    assert_eq!(error_line("warning: a\n  the cause  \n\n"), "the cause");
    assert_eq!(error_line(""), "");
}

#[test]
fn a_fifo_or_a_device_in_the_project_is_refused_before_the_child_starts() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    std::fs::create_dir_all(project.join("crates/a")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[workspace]\nmembers = [\"crates/*\"]\n",
    )
    .unwrap();
    check_project_files(&project, None).unwrap();
    // A member's manifest that is a FIFO.
    let fifo = project.join("crates/a/Cargo.toml");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let err = check_project_files(&project, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a regular file (a FIFO, socket or device), and cargo, rustc or rustup would read it",
            fifo.display()
        )
    );
    std::fs::remove_file(&fifo).unwrap();
    // rust-toolchain.toml linked to /dev/zero, seen from a subdirectory.
    std::os::unix::fs::symlink("/dev/zero", project.join("rust-toolchain.toml")).unwrap();
    let err = check_project_files(&project.join("crates/a"), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("rust-toolchain.toml is not a regular file"),
        "{err}"
    );
    std::fs::remove_file(project.join("rust-toolchain.toml")).unwrap();
    // CARGO_HOME's config.
    let home = dir.path().join("cargo-home");
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::symlink("/dev/zero", home.join("config.toml")).unwrap();
    let err = check_project_files(&project, Some(&home)).unwrap_err();
    assert!(
        err.to_string().contains("cargo-home/config.toml is not"),
        "{err}"
    );
    // The error reaches the caller before anything is started.
    let mut command = Command::new("true");
    command.current_dir(&project).env("CARGO_HOME", &home);
    let err = output(&mut command, Limits::PROBE).unwrap_err();
    assert!(
        err.to_string().starts_with("not starting `true`: "),
        "{err}"
    );
}

#[test]
fn a_file_the_kernel_would_refuse_is_never_handed_to_sh() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    // Valid shell after a plausible ELF start: execvp's ENOEXEC fallback would run it.
    let garbage = dir.path().join("tool");
    std::fs::write(
        &garbage,
        format!("\x7fELF\x02\x01\x01\ntouch {}\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &garbage,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let limits = Limits::PROBE.outside_project();
    let err = output(&mut Command::new(&garbage), limits).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOEXEC));
    assert!(!marker.exists());
    // A script with its interpreter line, and a real binary, run.
    std::fs::write(&garbage, "#!/bin/sh\necho hi\n").unwrap();
    assert_eq!(
        output(&mut Command::new(&garbage), limits).unwrap().stdout,
        b"hi\n"
    );
    assert!(
        output(&mut Command::new("/bin/true"), limits)
            .unwrap()
            .status
            .success()
    );
}

#[test]
fn a_child_past_its_deadline_is_killed() {
    let started = Instant::now();
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::PROBE.outside_project()
    };
    let err = output(Command::new("sleep").arg("30"), limits).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(
        err.to_string(),
        "`sleep` did not finish within 300ms and was killed"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_child_gets_its_memory_bound_and_its_output() {
    let limits = Limits {
        memory: Some(512 << 20),
        ..Limits::PROBE.outside_project()
    };
    let out = output(
        Command::new("sh").args(["-c", "ulimit -v; echo err >&2"]),
        limits,
    )
    .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "524288\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
}
