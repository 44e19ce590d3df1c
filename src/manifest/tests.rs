use super::*;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(
        text,
        Path::new("buildkit.toml"),
        &Registry::embedded(),
        crate::toolchain::TEST_DAY,
    )
}

#[test]
fn minimal_manifest_gets_documented_defaults() {
    let m = parse("[tools.mold]\nversion = \"2.41.0\"\n[tools.sccache]\nversion = \"0.17.0\"\n")
        .unwrap();
    assert_eq!(m.linker, LinkerKind::Mold);
    assert_eq!(m.driver, LinkerDriver::Cc);
    assert_eq!(m.cache.unwrap().backend, CacheBackend::Local);
    assert_eq!(m.ci_providers, vec![CiProvider::Github]);
    assert_eq!(m.rust, None);
}

#[test]
fn lld_only_defaults_to_lld() {
    let m = parse("[tools.lld]\nsource = \"rust\"\n").unwrap();
    assert_eq!(m.linker, LinkerKind::Lld);
    assert_eq!(m.lld, Some(LldSpec::Rust));
    assert!(m.cache.is_none());
}

#[test]
fn unknown_key_names_line_and_key() {
    let err = parse("[tools.mold]\nversion = \"2.41.0\"\ncolour = \"red\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("buildkit.toml:3: `colour`:"), "{err}");
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn unknown_version_lists_known_ones() {
    let err = parse("[tools.mold]\nversion = \"9.9.9\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("buildkit.toml:2: `tools.mold.version`"),
        "{err}"
    );
    assert!(err.contains("2.41.0"), "{err}");
}

#[test]
fn explicit_source_accepts_any_version() {
    let m = parse(&format!(
            "[tools.mold]\nversion = \"1.10.1\"\nurl = \"http://127.0.0.1:1/m.tar.gz\"\nsha256 = \"{}\"\n",
            "AB".repeat(32)
        ))
        .unwrap();
    let source = m.mold.unwrap().source.explicit().cloned().unwrap();
    assert_eq!(source.sha256.as_str(), "ab".repeat(32));
}

#[test]
fn bad_digest_and_lonely_url_are_errors() {
    let err =
        parse("[tools.mold]\nversion = \"1.0\"\nurl = \"https://x/m.tar.gz\"\nsha256 = \"xyz\"\n")
            .unwrap_err()
            .to_string();
    assert!(
        err.starts_with("buildkit.toml:4: `tools.mold.sha256`"),
        "{err}"
    );
    let err = parse("[tools.mold]\nversion = \"1.0\"\nurl = \"https://x/m.tar.gz\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`tools.mold.url`") && err.contains("sha256"),
        "{err}"
    );
}

#[test]
fn credentials_in_a_committed_url_are_refused() {
    let err = parse(&format!(
            "[tools.mold]\nversion = \"1.0\"\nurl = \"https://bot:t0ken@a.example/m.tar.gz\"\nsha256 = \"{}\"\n",
            "ab".repeat(32)
        ))
        .unwrap_err().to_string();
    assert!(
        err.starts_with("buildkit.toml:3: `tools.mold.url`: holds credentials"),
        "{err}"
    );
    let err = parse("[buildkit]\nurl = \"https://t0ken@a.example/bk\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`buildkit.url`: holds credentials"), "{err}");
    // An `@` in the path is not a credential.
    assert!(parse(&format!(
            "[tools.mold]\nversion = \"1.0\"\nurl = \"https://a.example/m@2.tar.gz\"\nsha256 = \"{}\"\n",
            "ab".repeat(32)
        ))
        .is_ok());
}

#[test]
fn bad_version_string_is_refused() {
    let err = parse("[tools.sccache]\nversion = \"../../etc\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`tools.sccache.version`"), "{err}");
}

#[test]
fn syntax_error_names_line() {
    let err = parse("[tools.mold]\nversion = 2.41.0\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("buildkit.toml:2:"), "{err}");
}

#[test]
fn linker_kind_needs_its_tool() {
    let err = parse("[linker]\nkind = \"mold\"\n[tools.sccache]\nversion = \"0.17.0\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("buildkit.toml:2: `linker.kind`"), "{err}");
}

#[test]
fn cache_settings_are_checked_per_backend() {
    let ok = parse("[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"redis\"\nendpoint = \"redis://127.0.0.1\"\n").unwrap();
    assert_eq!(
        ok.cache.unwrap().env_vars(),
        vec![(
            "SCCACHE_REDIS_ENDPOINT".to_string(),
            "redis://127.0.0.1".to_string()
        )]
    );
    let err = parse(
        "[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"redis\"\nbucket = \"b\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("buildkit.toml:5: `cache.bucket`"), "{err}");
}

#[test]
fn cache_settings_are_checked_as_sccache_reads_them() {
    let with = |cache: &str| {
        parse(&format!(
            "[tools.sccache]\nversion = \"0.17.0\"\n[cache]\n{cache}"
        ))
    };
    assert!(with("dir = \"/var/cache/sccache\"\nsize = \"10G\"\n").is_ok());
    assert!(with("size = \"1048576\"\n").is_ok());
    for (cache, expected) in [
        (
            "dir = \"~/.cache/sccache-proj\"\n",
            "buildkit.toml:4: `cache.dir`: `~/.cache/sccache-proj` is not expanded",
        ),
        (
            "dir = \"$HOME/x\"\n",
            "buildkit.toml:4: `cache.dir`: `$HOME/x` is not expanded",
        ),
        (
            "dir = \"cache\"\n",
            "buildkit.toml:4: `cache.dir`: `cache` is relative",
        ),
        (
            "size = \"lots\"\n",
            "buildkit.toml:4: `cache.size`: `lots` is not a size",
        ),
        (
            "size = \"10GB\"\n",
            "buildkit.toml:4: `cache.size`: `10GB` is not a size",
        ),
        (
            "backend = \"redis\"\nendpoint = \"cache:6379\"\n",
            "buildkit.toml:5: `cache.endpoint`: `cache:6379` is not a redis URL",
        ),
        (
            "backend = \"redis\"\n",
            "buildkit.toml:4: `cache.endpoint`: is required by the redis backend",
        ),
        (
            "backend = \"s3\"\nregion = \"eu\"\n",
            "buildkit.toml:4: `cache.bucket`: is required by the s3 backend",
        ),
    ] {
        let err = with(cache).unwrap_err().to_string();
        assert!(err.starts_with(expected), "{cache}: {err}");
    }
}

#[test]
fn every_prefix_of_a_manifest_parses_or_errors_without_panicking() {
    let full = "[toolchain]\nrust = \"1.95.0\"\n[linker]\nkind = \"mold\"\ndriver = \"clang\"\n[tools.mold]\nversion = \"1.10.1\"\nurl = \"https://x/m.tar.gz\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"s3\"\nbucket = \"b\"\n[profile.dev]\ndebug = 1\n[ci]\nproviders = [\"gitlab\"]\n[buildkit]\ngit = \"https://g\"\nrev = \"0123456789abcdef0123456789abcdef01234567\"\n";
    assert!(parse(full).is_ok());
    for end in (0..full.len()).filter(|&i| full.is_char_boundary(i)) {
        if let Err(message) = parse(&full[..end]).map_err(|e| e.to_string()) {
            assert!(message.starts_with("buildkit.toml:"), "{end}: {message}");
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }
}

#[test]
fn remote_cache_addresses_are_read_from_the_endpoint() {
    let address = |cache: &str| {
        parse(&format!(
            "[tools.sccache]\nversion = \"0.17.0\"\n[cache]\n{cache}"
        ))
        .unwrap()
        .cache
        .unwrap()
        .remote_address()
    };
    assert_eq!(
        address("backend = \"redis\"\nendpoint = \"redis://cache.example:6380/1\""),
        Some(("cache.example".into(), 6380))
    );
    assert_eq!(
        address("backend = \"redis\"\nendpoint = \"rediss://cache\""),
        Some(("cache".into(), 6379))
    );
    assert_eq!(
        address("backend = \"redis\"\nendpoint = \"redis://[::1]:7000\""),
        Some(("::1".into(), 7000))
    );
    assert_eq!(
        address("backend = \"webdav\"\nendpoint = \"https://dav.example/cache\""),
        Some(("dav.example".into(), 443))
    );
    assert_eq!(address("backend = \"s3\"\nbucket = \"b\""), None);
    assert_eq!(address("backend = \"local\""), None);
}

#[test]
fn each_buildkit_source_is_a_pin_and_only_one_is_given() {
    let source = |body: &str| {
        parse(&format!("[buildkit]\n{body}"))
            .map(|m| m.buildkit.expect("a source"))
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        source("version = \"0.2.0\"\n"),
        Ok(BuildkitSource::CratesIo {
            version: "0.2.0".into()
        })
    );
    assert_eq!(
        parse("").unwrap().buildkit,
        None,
        "no [buildkit]: no source (there is no default to fall back on)"
    );
    assert_eq!(
            parse("[buildkit]\n")
                .map(|m| m.buildkit)
                .map_err(|e| e.to_string()),
            Err("buildkit.toml:1: `buildkit`: names no source: give one of `version`, `git` + `rev`, `path`, or `url` + `sha256`".into())
        );
    let rev = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(
        source(&format!("git = \"https://g.example/b\"\nrev = \"{rev}\"\n")),
        Ok(BuildkitSource::Git {
            url: "https://g.example/b".into(),
            rev: rev.into()
        })
    );
    assert_eq!(
        source("path = \"tools/buildkit/\"\n"),
        Ok(BuildkitSource::Path {
            path: "tools/buildkit".into()
        })
    );
    let digest = "AB".repeat(32);
    assert_eq!(
        source(&format!(
            "url = \"https://a.example/bk.tar.gz\"\nsha256 = \"{digest}\"\n"
        )),
        Ok(BuildkitSource::Prebuilt {
            url: "https://a.example/bk.tar.gz".into(),
            sha256: digest.parse().unwrap()
        })
    );
}

#[test]
fn a_buildkit_source_that_is_no_pin_is_refused_at_its_key() {
    let source = |body: &str| {
        parse(&format!("[buildkit]\n{body}"))
            .map(|m| m.buildkit.expect("a source"))
            .map_err(|e| e.to_string())
    };
    let refused = [
        (
            "git = \"https://g.example/b\"\nrev = \"main\"\n",
            "buildkit.toml:3: `buildkit.rev`: `main` is not a pin",
        ),
        (
            "git = \"https://g.example/b\"\n",
            "buildkit.toml:2: `buildkit.git`: needs `rev`",
        ),
        (
            "git = \"https://g.example/$(id)\"\nrev = \"0123456789abcdef0123456789abcdef01234567\"\n",
            "buildkit.toml:2: `buildkit.git`: must be",
        ),
        (
            "path = \"../buildkit\"\n",
            "buildkit.toml:2: `buildkit.path`: leaves the project",
        ),
        (
            "path = \"/opt/buildkit\"\n",
            "buildkit.toml:2: `buildkit.path`: must be relative",
        ),
        (
            "path = \"a b\"\n",
            "buildkit.toml:2: `buildkit.path`: may hold only",
        ),
        (
            "url = \"https://a.example/bk\"\n",
            "buildkit.toml:2: `buildkit.url`: has no `sha256`",
        ),
        (
            "url = \"https://a.example/bk\"\nsha256 = \"12\"\n",
            "buildkit.toml:3: `buildkit.sha256`: must be 64",
        ),
        (
            "url = \"ftp://a.example/bk\"\nsha256 = \"12\"\n",
            "buildkit.toml:2: `buildkit.url`: must be",
        ),
        (
            "version = \"0.1.0\"\npath = \".\"\n",
            "buildkit.toml:3: `buildkit.path`: and `buildkit.version` are two sources",
        ),
        (
            "version = \"latest\"\n",
            "buildkit.toml:2: `buildkit.version`: is not a version",
        ),
    ];
    for (body, expected) in refused {
        let err = source(body).unwrap_err().to_string();
        assert!(err.starts_with(expected), "{body}: {err}");
    }
}

#[test]
fn rust_versions_must_be_released_stable_ones() {
    let err = parse("[toolchain]\nrust = \"1.300.0\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("buildkit.toml:2: `toolchain.rust`: Rust 1.300.0 is not released yet"),
        "{err}"
    );
    let err = parse("[toolchain]\nrust = \"nightly\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a stable Rust version"), "{err}");
    assert!(parse("[toolchain]\nrust = \"1.85\"\n").is_ok());
}
