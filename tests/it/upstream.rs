//! `buildkit outdated` and `buildkit lock --upgrade` against a loopback fake of GitHub's
//! releases API (BUILDKIT_GITHUB_API), whose assets the same server serves.

use crate::harness::{
    Route, Sandbox, Server, mold_archive, sccache_archive, sha256_hex, toml_keys,
};

/// The fake API and download host.
struct Upstream {
    server: Server,
}

/// One asset of a fake release.
struct Asset {
    name: String,
    bytes: Vec<u8>,
    /// `Some(hex)`: the API's `digest`; `None`: null, as on assets from before June 2025.
    digest: Option<String>,
}

impl Asset {
    fn with_digest(name: &str, bytes: Vec<u8>) -> Asset {
        let digest = Some(sha256_hex(&bytes));
        Asset {
            name: name.into(),
            bytes,
            digest,
        }
    }
    fn without_digest(name: &str, bytes: Vec<u8>) -> Asset {
        Asset {
            name: name.into(),
            bytes,
            digest: None,
        }
    }
}

/// One fake release: its tag, whether it is a pre-release, its assets.
struct Release {
    tag: &'static str,
    prerelease: bool,
    assets: Vec<Asset>,
}

fn release(tag: &'static str, assets: Vec<Asset>) -> Release {
    Release {
        tag,
        prerelease: false,
        assets,
    }
}

impl Upstream {
    fn start() -> Upstream {
        Upstream {
            server: Server::start(),
        }
    }

    fn api(&self) -> String {
        self.server.url("")
    }

    /// Serves `pages` of releases for `repo` (page 2 onwards linked with rel="next"), and every
    /// asset at /dl/<tag>/<name>.
    fn publish(&self, repo: &str, pages: Vec<Vec<Release>>) {
        let count = pages.len();
        for (index, page) in pages.into_iter().enumerate() {
            let path = if index == 0 {
                format!("/repos/{repo}/releases?per_page=100")
            } else {
                format!("/repos/{repo}/releases?per_page=100&page={}", index + 1)
            };
            let mut releases = Vec::new();
            for release in page {
                let mut assets = Vec::new();
                for asset in &release.assets {
                    let route = format!("/dl/{}/{}", release.tag, asset.name);
                    self.server.route(&route, Route::Ok(asset.bytes.clone()));
                    let digest = asset
                        .digest
                        .as_ref()
                        .map_or("null".to_string(), |d| format!("\"sha256:{d}\""));
                    assets.push(format!(
                        "{{\"name\":\"{}\",\"size\":{},\"browser_download_url\":\"{}\",\"digest\":{digest},\"content_type\":\"application/gzip\"}}",
                        asset.name,
                        asset.bytes.len(),
                        self.server.url(&route)
                    ));
                }
                releases.push(format!(
                    "{{\"tag_name\":\"{}\",\"draft\":false,\"prerelease\":{},\"assets\":[{}]}}",
                    release.tag,
                    release.prerelease,
                    assets.join(",")
                ));
            }
            let mut headers = vec![("content-type".into(), "application/json".into())];
            if index + 1 < count {
                let next = self.server.url(&format!(
                    "/repos/{repo}/releases?per_page=100&page={}",
                    index + 2
                ));
                headers.push(("link".into(), format!("<{next}>; rel=\"next\"")));
            }
            self.server.route(
                &path,
                Route::Full {
                    status: 200,
                    headers,
                    body: format!("[{}]", releases.join(",")).into_bytes(),
                },
            );
        }
    }
}

fn mold_asset(version: &str) -> String {
    format!("mold-{version}-x86_64-linux.tar.gz")
}

fn sccache_asset(version: &str) -> String {
    format!("sccache-v{version}-x86_64-unknown-linux-musl.tar.gz")
}

/// A project pinning mold 2.41.0 and sccache 0.17.0 from the embedded registry, locked.
fn project() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write(
        "buildkit.toml",
        "[tools.mold]\nversion = \"2.41.0\" # the team's pin\n\n[tools.sccache]\nversion = \"0.17.0\"\n",
    );
    sandbox.run(&["lock"]).success();
    sandbox
}

/// mold 2.43.0 behind a pre-release and a release with only another target's asset, on the
/// second page; sccache 0.19.0 with its checksum file on the first.
fn publish_newer(upstream: &Upstream, sccache_checksum: Option<String>) {
    let mut pre = release(
        "v2.44.0-rc1",
        vec![Asset::with_digest(
            &mold_asset("2.44.0-rc1"),
            mold_archive("2.44.0"),
        )],
    );
    pre.prerelease = true;
    let mut pre_numbered = release(
        "v2.45.0",
        vec![Asset::with_digest(
            &mold_asset("2.45.0"),
            mold_archive("2.45.0"),
        )],
    );
    pre_numbered.prerelease = true;
    upstream.publish(
        "rui314/mold",
        vec![
            vec![
                pre,
                pre_numbered,
                release(
                    "v2.44.0",
                    vec![Asset::with_digest(
                        "mold-2.44.0-aarch64-linux.tar.gz",
                        mold_archive("2.44.0"),
                    )],
                ),
            ],
            vec![
                release(
                    "v2.43.0",
                    vec![
                        Asset::with_digest(&mold_asset("2.43.0"), mold_archive("2.43.0")),
                        Asset::with_digest(
                            "mold-2.43.0-aarch64-linux.tar.gz",
                            b"another target".to_vec(),
                        ),
                    ],
                ),
                release(
                    "v2.42.0",
                    vec![Asset::without_digest(
                        &mold_asset("2.42.0"),
                        b"old".to_vec(),
                    )],
                ),
            ],
        ],
    );
    publish_sccache(upstream, sccache_checksum);
}

/// sccache 0.19.0 with its checksum file, saying `checksum` (default: the archive's digest).
fn publish_sccache(upstream: &Upstream, checksum: Option<String>) {
    let archive = sccache_archive("0.19.0");
    let checksum = checksum.unwrap_or_else(|| sha256_hex(&archive));
    upstream.publish(
        "mozilla/sccache",
        vec![vec![release(
            "v0.19.0",
            vec![
                Asset::with_digest(&sccache_asset("0.19.0"), archive),
                Asset::without_digest(
                    &format!("{}.sha256", sccache_asset("0.19.0")),
                    checksum.into_bytes(),
                ),
            ],
        )]],
    );
}

#[test]
fn outdated_lists_newer_releases_following_pages_and_skipping_prereleases() {
    let sandbox = project();
    let upstream = Upstream::start();
    publish_newer(&upstream, None);
    let run = sandbox
        .buildkit(&["outdated"])
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .run();
    insta::assert_snapshot!(run, @r"
    exit 1
    --- stdout
    tool     locked  newest  status
    mold     2.41.0  2.43.0  behind: `buildkit lock --upgrade mold` moves the pin
    sccache  0.17.0  0.19.0  behind: `buildkit lock --upgrade sccache` moves the pin
    ");
    let run = sandbox
        .buildkit(&["outdated", "--json"])
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .run();
    insta::assert_snapshot!(run, @r#"
    exit 1
    --- stdout
    {"tool":"mold","locked":"2.41.0","newest":"2.43.0","behind":true}
    {"tool":"sccache","locked":"0.17.0","newest":"0.19.0","behind":true}
    "#);
    // Nothing downloaded: outdated only asks the API.
    assert!(
        upstream
            .server
            .requests()
            .iter()
            .all(|(path, _)| path.starts_with("/repos/")),
        "{:?}",
        upstream.server.requests()
    );
}

#[test]
fn lock_upgrade_pins_upstream_digests_and_setup_installs_them() {
    let sandbox = project();
    let upstream = Upstream::start();
    publish_newer(&upstream, None);
    let run = sandbox
        .buildkit(&["lock", "--upgrade"])
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .env("GITHUB_TOKEN", "t0ken")
        .run();
    let mold = sha256_hex(&mold_archive("2.43.0"));
    let sccache = sha256_hex(&sccache_archive("0.19.0"));
    run.assert_is(&format!(
        "exit 0
--- stdout
mold 2.41.0 -> 2.43.0 (sha256 from the releases API's asset digest)
sccache 0.17.0 -> 0.19.0 (sha256 from the releases API's asset digest and upstream's checksum file, agreeing)
--- stderr
upgraded 2 in buildkit.toml
wrote [SANDBOX]/project/buildkit.lock
  mold 2.43.0 sha256:{}
  sccache 0.19.0 sha256:{}",
        &mold[..12],
        &sccache[..12]
    ));
    assert_eq!(
        sandbox.read("buildkit.toml"),
        format!(
            "[tools.mold]\nversion = \"2.43.0\" # the team's pin\nurl = \"{}\"\nsha256 = \"{mold}\"\nsize = {}\n\n[tools.sccache]\nversion = \"0.19.0\"\nurl = \"{}\"\nsha256 = \"{sccache}\"\nsize = {}\n\n[buildkit]\nversion = \"0.1.0\"\n",
            upstream
                .server
                .url(&format!("/dl/v2.43.0/{}", mold_asset("2.43.0"))),
            mold_archive("2.43.0").len(),
            upstream
                .server
                .url(&format!("/dl/v0.19.0/{}", sccache_asset("0.19.0"))),
            sccache_archive("0.19.0").len(),
        )
    );
    let lock = sandbox.read("buildkit.lock");
    assert!(lock.contains(&format!("sha256 = \"{mold}\"")), "{lock}");
    let keys = toml_keys(&lock);
    assert!(keys.iter().any(|k| k.ends_with(".sha256")), "{lock}");
    assert!(
        keys.iter().all(|k| !k.ends_with(".trust")),
        "the digests were published, so no tool says how it was trusted: {lock}"
    );
    // The token went to the API and nowhere else.
    for (path, authorization) in upstream.server.requests() {
        let expected = path
            .starts_with("/repos/")
            .then(|| "Bearer t0ken".to_string());
        assert_eq!(authorization, expected, "{path}");
    }
    // The archives were verified into the cache: setup installs them without the network.
    sandbox.run(&["setup", "--offline", "--quiet"]).success();
    sandbox
        .exec(sandbox.home().join("bin/mold"), &["--version"])
        .run()
        .success();
    // Current now: outdated says so and exits 0; a second upgrade changes nothing.
    let run = sandbox
        .buildkit(&["outdated"])
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .run();
    insta::assert_snapshot!(run, @r"
    exit 0
    --- stdout
    tool     locked  newest  status
    mold     2.43.0  2.43.0  up to date
    sccache  0.19.0  0.19.0  up to date
    ");
}

#[test]
fn lock_upgrade_of_named_tools_only() {
    let sandbox = project();
    let upstream = Upstream::start();
    publish_newer(&upstream, None);
    let run = sandbox
        .buildkit(&["lock", "--upgrade", "sccache"])
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .run()
        .success();
    assert_eq!(
        run.stdout,
        "sccache 0.17.0 -> 0.19.0 (sha256 from the releases API's asset digest and upstream's checksum file, agreeing)\n"
    );
    assert!(
        sandbox
            .read("buildkit.toml")
            .contains("version = \"2.41.0\" # the team's pin")
    );
    let run = sandbox
        .buildkit(&["lock", "--upgrade", "wild"])
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .run();
    insta::assert_snapshot!(run, @r"
    exit 2
    --- stderr
    error: buildkit.toml pins no tool `wild` to upgrade (it pins: mold, sccache)
    ");
}

/// Every refusal leaves buildkit.toml and buildkit.lock as they were.
#[track_caller]
fn refused(sandbox: &Sandbox, upstream: &Upstream, args: &[&str], expected: &str) {
    let toml = sandbox.read("buildkit.toml");
    let lock = sandbox.read("buildkit.lock");
    sandbox
        .buildkit(args)
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .run()
        .assert_is(expected);
    assert_eq!(sandbox.read("buildkit.toml"), toml);
    assert_eq!(sandbox.read("buildkit.lock"), lock);
}

#[test]
fn a_digest_that_does_not_match_the_asset_is_refused() {
    let sandbox = project();
    let upstream = Upstream::start();
    let mut asset = Asset::with_digest(&mold_asset("2.43.0"), mold_archive("2.43.0"));
    asset.digest = Some(sha256_hex(b"what the API claims"));
    upstream.publish("rui314/mold", vec![vec![release("v2.43.0", vec![asset])]]);
    refused(
        &sandbox,
        &upstream,
        &["lock", "--upgrade", "mold"],
        &format!(
            "exit 1\n--- stderr\nerror: checksum mismatch for http://[LOOPBACK]/dl/v2.43.0/mold-2.43.0-x86_64-linux.tar.gz: expected sha256 {}, got {}; nothing was installed (the pinned digest is the only trust: check the url and the pin)",
            sha256_hex(b"what the API claims"),
            sha256_hex(&mold_archive("2.43.0"))
        ),
    );
}

#[test]
fn a_checksum_file_that_disagrees_with_the_api_is_refused() {
    let sandbox = project();
    let upstream = Upstream::start();
    let wrong = sha256_hex(b"the checksum file says otherwise");
    publish_newer(&upstream, Some(wrong.clone()));
    refused(
        &sandbox,
        &upstream,
        &["lock", "--upgrade", "sccache"],
        &format!(
            "exit 2\n--- stderr\nerror: sccache 0.19.0: the releases API says sha256 {} for sccache-v0.19.0-x86_64-unknown-linux-musl.tar.gz, its checksum file http://[LOOPBACK]/dl/v0.19.0/sccache-v0.19.0-x86_64-unknown-linux-musl.tar.gz.sha256 says {wrong}; refusing both (one of them was changed after the release)",
            sha256_hex(&sccache_archive("0.19.0"))
        ),
    );
}

#[test]
fn a_release_without_any_digest_needs_trust_download() {
    let sandbox = project();
    let upstream = Upstream::start();
    let archive = mold_archive("2.43.0");
    upstream.publish(
        "rui314/mold",
        vec![vec![release(
            "v2.43.0",
            vec![Asset::without_digest(
                &mold_asset("2.43.0"),
                archive.clone(),
            )],
        )]],
    );
    refused(
        &sandbox,
        &upstream,
        &["lock", "--upgrade", "mold"],
        "exit 1\n--- stderr\nerror: mold 2.43.0: upstream publishes no digest for mold-2.43.0-x86_64-linux.tar.gz (no asset digest in the releases API, no checksum file); `buildkit lock --upgrade --trust-download` hashes the download and records `trust = \"first-download\"`",
    );
    let run = sandbox
        .buildkit(&["lock", "--upgrade", "mold", "--trust-download"])
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .run();
    let digest = sha256_hex(&archive);
    run.assert_is(&format!(
        "exit 0
--- stdout
mold 2.41.0 -> 2.43.0 (sha256 from the first download, hashed (--trust-download))
--- stderr
upgraded 1 in buildkit.toml
wrote [SANDBOX]/project/buildkit.lock
  mold 2.43.0 sha256:{} (trust: first download, published by nobody)
  sccache 0.17.0 sha256:67c4a96dd237",
        &digest[..12]
    ));
    assert!(sandbox.read("buildkit.toml").contains(&format!(
        "sha256 = \"{digest}\"\nsize = {}\ntrust = \"first-download\"\n",
        archive.len()
    )));
    assert!(
        sandbox
            .read("buildkit.lock")
            .contains("trust = \"first-download\"")
    );
    // Downloaded again, verified against the digest just taken, and cached for setup.
    assert!(sandbox.cache().join(format!("{digest}.tar.gz")).is_file());
}

#[test]
fn a_rate_limit_says_when_to_retry() {
    let sandbox = project();
    let upstream = Upstream::start();
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    upstream.server.route(
        "/repos/rui314/mold/releases?per_page=100",
        Route::Full {
            status: 403,
            headers: vec![
                ("x-ratelimit-remaining".into(), "0".into()),
                ("x-ratelimit-reset".into(), reset.to_string()),
            ],
            body: b"{\"message\":\"API rate limit exceeded\"}".to_vec(),
        },
    );
    let toml = sandbox.read("buildkit.toml");
    for args in [&["outdated"][..], &["lock", "--upgrade"][..]] {
        let run = sandbox
            .buildkit(args)
            .env("BUILDKIT_GITHUB_API", upstream.api())
            .run()
            .failure(2);
        let at = run.stderr.split("retry after ").nth(1).unwrap_or_default();
        assert!(
            run.stderr.starts_with("error: mold: GitHub's API rate limit was reached at http://[LOOPBACK]/repos/rui314/mold/releases?per_page=100; retry after ")
                && (at.contains("(in 59m") || at.contains("(in 1h"))
                && run.stderr.ends_with(", or set GITHUB_TOKEN (5,000 requests an hour instead of 60)\n"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(sandbox.read("buildkit.toml"), toml);
}

#[test]
fn a_digest_that_differs_from_the_registry_is_refused() {
    // mold 2.42.0 is in the embedded registry; upstream's asset now has other bytes.
    let sandbox = project();
    let upstream = Upstream::start();
    upstream.publish(
        "rui314/mold",
        vec![vec![release(
            "v2.42.0",
            vec![Asset::with_digest(
                &mold_asset("2.42.0"),
                mold_archive("2.42.0"),
            )],
        )]],
    );
    refused(
        &sandbox,
        &upstream,
        &["lock", "--upgrade", "mold"],
        &format!(
            "exit 1\n--- stderr\nerror: mold 2.42.0: upstream's sha256 {} for mold-2.42.0-x86_64-linux.tar.gz differs from the f5ed2f6e31d1ada4f07fe766fe0de7a73104d1c5cdc59086fcecc16a43720b6d buildkit's registry pins; the asset was replaced after its release, so nothing is pinned",
            sha256_hex(&mold_archive("2.42.0"))
        ),
    );
}

#[test]
fn offline_upgrade_uses_the_embedded_registry() {
    let sandbox = project();
    let run = sandbox
        .buildkit(&["lock", "--upgrade", "--offline", "mold"])
        .run()
        .success();
    assert_eq!(run.stdout, "");
    assert!(
        sandbox
            .read("buildkit.toml")
            .contains("version = \"2.42.0\" # the team's pin")
    );
    assert!(
        sandbox
            .read("buildkit.toml")
            .contains("version = \"0.17.0\"\n")
    );
}

/// scripts/update-registry against the same fake: new releases with their digests and sizes,
/// sizes filled in for known ones, releases without a digest left out, a changed digest refused.
#[test]
fn update_registry_script_regenerates_versions_from_the_api() {
    let sandbox = Sandbox::new();
    let upstream = Upstream::start();
    let registry = sandbox.root().join("registry.toml");
    let original = include_str!("../../src/registry.toml");
    std::fs::write(&registry, original).unwrap();
    let known_mold = "f5ed2f6e31d1ada4f07fe766fe0de7a73104d1c5cdc59086fcecc16a43720b6d";
    let mut old = Asset::without_digest(&mold_asset("2.42.0"), vec![0; 321]);
    old.digest = Some(known_mold.into());
    upstream.publish(
        "rui314/mold",
        vec![
            vec![release(
                "v2.43.0",
                vec![Asset::with_digest(
                    &mold_asset("2.43.0"),
                    mold_archive("2.43.0"),
                )],
            )],
            vec![release("v2.42.0", vec![old])],
        ],
    );
    upstream.publish(
        "wild-linker/wild",
        vec![vec![release(
            "0.11.0",
            vec![Asset::without_digest(
                "wild-linker-0.11.0-x86_64-unknown-linux-musl.tar.gz",
                b"wild".to_vec(),
            )],
        )]],
    );
    publish_sccache(&upstream, None);
    upstream.publish("llvm/llvm-project", vec![vec![]]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/update-registry");
    let run = sandbox
        .exec(
            "python3",
            &[script, "--registry", registry.to_str().unwrap()],
        )
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .run();
    run.assert_is(
        "exit 0\n--- stderr\nwild: no published digest for 0.11.0: left out\nupdate-registry: wrote [SANDBOX]/registry.toml",
    );
    let text = std::fs::read_to_string(&registry).unwrap();
    let mold = format!(
        "versions = [\n  {{ version = \"2.43.0\", sha256 = \"{}\", size = {} }},\n  {{ version = \"2.42.0\", sha256 = \"{known_mold}\", size = 321 }},\n  {{ version = \"2.41.0\", sha256 = \"a3696680d99e692970590a178bc3a33d78d60d1c6dc9db7a11b557b02b751f5d\" }},",
        sha256_hex(&mold_archive("2.43.0")),
        mold_archive("2.43.0").len()
    );
    assert!(text.contains(&mold), "{text}");
    let sccache = format!(
        "versions = [\n  {{ version = \"0.19.0\", sha256 = \"{}\", size = {} }},\n  {{ version = \"0.17.0\",",
        sha256_hex(&sccache_archive("0.19.0")),
        sccache_archive("0.19.0").len()
    );
    assert!(text.contains(&sccache), "{text}");
    // Comments and the other keys stay as they were.
    assert_eq!(
        text.lines().filter(|l| l.starts_with('#')).count(),
        original.lines().filter(|l| l.starts_with('#')).count()
    );
    assert!(!text.contains("0.11.0"));
    // Nothing new upstream: nothing to write; --check agrees.
    let run = sandbox
        .exec(
            "python3",
            &[script, "--registry", registry.to_str().unwrap(), "--check"],
        )
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .run();
    run.assert_is("exit 0\n--- stderr\nwild: no published digest for 0.11.0: left out\nupdate-registry: up to date");

    // An asset replaced upstream: its new digest stops the run, the file unchanged.
    let mut replaced = Asset::without_digest(&mold_asset("2.42.0"), vec![0; 321]);
    replaced.digest = Some("00".repeat(32));
    upstream.publish(
        "rui314/mold",
        vec![vec![release("v2.42.0", vec![replaced])]],
    );
    let run = sandbox
        .exec(
            "python3",
            &[script, "--registry", registry.to_str().unwrap()],
        )
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .run();
    run.assert_is(&format!(
        "exit 2\n--- stderr\nupdate-registry: mold 2.42.0: the registry pins {known_mold}, upstream now says {} (asset replaced?)",
        "00".repeat(32)
    ));
    assert_eq!(std::fs::read_to_string(&registry).unwrap(), text);
}

#[test]
fn a_next_page_on_another_origin_is_refused_and_gets_no_token() {
    let sandbox = project();
    let upstream = Upstream::start();
    let elsewhere = Server::start();
    elsewhere.route(
        "/steal?page=2",
        Route::Full {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"[]".to_vec(),
        },
    );
    upstream.server.route(
        "/repos/rui314/mold/releases?per_page=100",
        Route::Full {
            status: 200,
            headers: vec![(
                "link".into(),
                format!("<{}>; rel=\"next\"", elsewhere.url("/steal?page=2")),
            )],
            body: b"[]".to_vec(),
        },
    );
    for args in [&["outdated"][..], &["lock", "--upgrade", "mold"][..]] {
        let toml = sandbox.read("buildkit.toml");
        sandbox
            .buildkit(args)
            .env("BUILDKIT_GITHUB_API", upstream.api())
            .env("GITHUB_TOKEN", "t0ken")
            .run()
            .assert_is("exit 2\n--- stderr\nerror: mold: http://[LOOPBACK]/repos/rui314/mold/releases?per_page=100 links its next page to http://[LOOPBACK]/steal?page=2, outside the API at http://[LOOPBACK]; refused (GITHUB_TOKEN goes to the API's scheme, host and port only)");
        assert_eq!(sandbox.read("buildkit.toml"), toml);
    }
    // The other origin was never asked, so it never saw the token.
    assert_eq!(elsewhere.requests(), Vec::new());
}

#[test]
fn a_dripping_api_response_fails_within_the_stall_window() {
    let sandbox = project();
    let upstream = Upstream::start();
    upstream.server.route(
        "/repos/rui314/mold/releases?per_page=100",
        Route::Drip {
            body: vec![b' '; 100_000],
            every: std::time::Duration::from_millis(200),
        },
    );
    for args in [&["outdated"][..], &["lock", "--upgrade", "mold"][..]] {
        let started = std::time::Instant::now();
        sandbox
            .buildkit(args)
            .env("BUILDKIT_GITHUB_API", upstream.api())
            .env("BUILDKIT_STALL_SECONDS", "2")
            .env("BUILDKIT_DOWNLOAD_ATTEMPTS", "1")
            .run()
            .assert_is("exit 2\n--- stderr\nerror: no data from http://[LOOPBACK]/repos/rui314/mold/releases?per_page=100 for 2 s; the server or the network stalled (try again, or use --mirror)");
        // Bounded by the stall window, not by the body's length (100,000 s at this pace).
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
}

#[test]
fn a_dripping_checksum_file_fails_within_its_deadline() {
    let sandbox = project();
    let upstream = Upstream::start();
    publish_newer(&upstream, None);
    upstream.server.route(
        &format!("/dl/v0.19.0/{}.sha256", sccache_asset("0.19.0")),
        Route::Drip {
            body: vec![b'0'; 64],
            every: std::time::Duration::from_millis(200),
        },
    );
    let toml = sandbox.read("buildkit.toml");
    let started = std::time::Instant::now();
    sandbox
        .buildkit(&["lock", "--upgrade", "sccache"])
        .env("BUILDKIT_GITHUB_API", upstream.api())
        .env("BUILDKIT_STALL_SECONDS", "2")
        .env("BUILDKIT_DOWNLOAD_ATTEMPTS", "1")
        .run()
        .assert_is("exit 2\n--- stderr\nerror: no data from http://[LOOPBACK]/dl/v0.19.0/sccache-v0.19.0-x86_64-unknown-linux-musl.tar.gz.sha256 for 2 s; the server or the network stalled (try again, or use --mirror)");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(sandbox.read("buildkit.toml"), toml);
}

/// An asset the API says is a petabyte is never pinned: its size would become the download's
/// limit, lifting buildkit's own.
#[test]
fn an_asset_larger_than_any_download_is_not_pinned() {
    let sandbox = project();
    let upstream = Upstream::start();
    let archive = mold_archive("2.43.0");
    let name = mold_asset("2.43.0");
    upstream
        .server
        .route(&format!("/dl/v2.43.0/{name}"), Route::Ok(archive.clone()));
    upstream.server.route(
        "/repos/rui314/mold/releases?per_page=100",
        Route::Full {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: format!(
                "[{{\"tag_name\":\"v2.43.0\",\"draft\":false,\"prerelease\":false,\"assets\":[{{\"name\":\"{name}\",\"size\":1000000000000000,\"browser_download_url\":\"{}\",\"digest\":\"sha256:{}\"}}]}}]",
                upstream.server.url(&format!("/dl/v2.43.0/{name}")),
                sha256_hex(&archive)
            )
            .into_bytes(),
        },
    );
    refused(
        &sandbox,
        &upstream,
        &["lock", "--upgrade", "mold"],
        "exit 1\n--- stderr\nerror: mold 2.43.0: upstream's asset mold-2.43.0-x86_64-linux.tar.gz is 1000000000000000 bytes, says the releases API: more than buildkit downloads for one archive (4294967296 bytes); not pinned",
    );
}
