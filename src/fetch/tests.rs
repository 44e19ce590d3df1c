/// A waiter that gets the lock after its holder released (and removed) it holds it alone:
/// someone arriving later waits for it, instead of locking a new file of the same name.
#[test]
fn the_download_lock_stays_exclusive_across_a_release() {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let sha = "a".repeat(64);
    let first = DownloadLock::take(dir.path(), &sha).unwrap();
    let (held, got_held) = mpsc::channel();
    let waiter = {
        let (dir, sha) = (dir.path().to_path_buf(), sha.clone());
        std::thread::spawn(move || {
            let lock = DownloadLock::take(&dir, &sha).unwrap();
            held.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(500));
            let released = Instant::now();
            lock.release();
            released
        })
    };
    // The waiter is blocked on the file `first` holds; then `first` lets go.
    std::thread::sleep(Duration::from_millis(200));
    first.release();
    got_held.recv().unwrap();
    let later = DownloadLock::take(dir.path(), &sha).unwrap();
    let taken = Instant::now();
    let released = waiter.join().unwrap();
    assert!(
        taken >= released,
        "the later taker got the lock while the waiter still held it"
    );
    later.release();
}

use super::*;

#[test]
fn mirror_rewrites_host_and_path() {
    assert_eq!(
        apply_mirror(
            "https://github.com/a/b.tar.gz",
            Some("http://127.0.0.1:9/m/")
        ),
        "http://127.0.0.1:9/m/github.com/a/b.tar.gz"
    );
    assert_eq!(
        apply_mirror("https://github.com/a/b.tar.gz", Some("file:///srv/mirror")),
        "file:///srv/mirror/github.com/a/b.tar.gz"
    );
    assert_eq!(
        apply_mirror("file:///x.tar.gz", Some("http://m")),
        "file:///x.tar.gz"
    );
    assert_eq!(apply_mirror("https://h/p", None), "https://h/p");
}

#[test]
fn cache_file_names_read_back() {
    let sha = "ab".repeat(32);
    assert_eq!(
        parse_cache_file_name(&cache_file_name(&sha, ArchiveFormat::TarXz)),
        Some(CacheFile::Verified { sha256: &sha })
    );
    assert_eq!(
        parse_cache_file_name(&format!("{sha}.x7Yq2a.partial")),
        Some(CacheFile::Partial { sha256: &sha })
    );
    assert_eq!(
        parse_cache_file_name(&lock_file_name(&sha)),
        Some(CacheFile::Lock { sha256: &sha })
    );
    assert_eq!(parse_cache_file_name(&format!("{sha}.a.b.partial")), None);
    assert_eq!(parse_cache_file_name("notes.txt"), None);
    assert_eq!(parse_cache_file_name(&format!("{sha}.zip")), None);
}

#[test]
fn hashing_reader_hashes_everything() {
    let (digest, n) = HashingReader::new(&b"abc"[..]).finish().unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        digest.as_str(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

/// A server that answers each connection with one canned response, then closes.
fn canned(responses: Vec<Vec<u8>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (response, stream) in responses.into_iter().zip(listener.incoming()) {
            let mut stream = stream.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(&response);
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn downloads_stop_at_the_locked_size() {
    let body = vec![7u8; 5000];
    let announced = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n".to_vec(),
        body.clone(),
    ]
    .concat();
    let unannounced = [
        b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec(),
        body,
    ]
    .concat();
    let base = canned(vec![announced, unannounced]);
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(FetchOptions {
        cache_dir: cache.path().to_path_buf(),
        mirror: None,
        offline: false,
        attempts: 1,
        stall: Duration::from_secs(30),
        extra_roots: None,
    });
    for path in ["/announced.tar.gz", "/unannounced.tar.gz"] {
        let url = format!("{base}{path}");
        let artifact = Artifact {
            label: "tool 1",
            url: &url,
            sha256: &"ab".repeat(32).parse().unwrap(),
            size: Some(1000),
            format: ArchiveFormat::TarGz,
        };
        let err = fetcher
            .fetch_to_cache(&artifact, &crate::reporter::Silent)
            .err()
            .expect("larger than the lock says");
        assert_eq!(
            err.to_string(),
            format!(
                "download of {url} stopped: it is larger than 1000 bytes (the size buildkit.lock records); nothing was installed"
            )
        );
    }
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
}

#[test]
fn credentials_never_reach_a_message() {
    assert_eq!(
        redact_url("https://user:s3cret@mirror.example/a/b.tar.gz"),
        "https://***@mirror.example/a/b.tar.gz"
    );
    assert_eq!(
        redact_url("https://mirror.example/a@b.tar.gz"),
        "https://mirror.example/a@b.tar.gz"
    );
    let err = FetchError::Status {
        url: "https://token@mirror.example/x".into(),
        status: 404,
        hint: "",
    };
    assert!(!err.to_string().contains("token"), "{err}");
}

/// Just fast enough never to stall: a chunk of MIN_PROGRESS_BYTES every few milliseconds.
struct Trickle(usize);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0 == 0 {
            return Ok(0);
        }
        self.0 -= 1;
        std::thread::sleep(Duration::from_millis(5));
        let n = buf.len().min(MIN_PROGRESS_BYTES as usize);
        buf[..n].fill(b'x');
        Ok(n)
    }
}

#[test]
fn a_body_that_never_stalls_still_meets_its_deadline() {
    let limit = SizeLimit {
        bytes: u64::MAX,
        why: "test",
    };
    let pace = Pace {
        window: Duration::from_secs(5),
        deadline: Duration::from_millis(100),
    };
    let mut got = 0;
    let err = copy_bounded("http://h/a", &mut Trickle(1000), &limit, &pace, |c| {
        got += c.len();
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(err, FetchError::Deadline { secs: 0, .. }), "{err}");
    assert!(got < 1000 * MIN_PROGRESS_BYTES as usize);
    // The same pace lets a short body through.
    copy_bounded("http://h/a", &mut Trickle(3), &limit, &pace, |_| Ok(())).unwrap();
    // Deadlines grow with the size, from four stall windows.
    let window = Duration::from_secs(30);
    assert_eq!(Pace::download(window, 0).deadline, Duration::from_secs(120));
    assert_eq!(
        Pace::download(window, 64 << 20).deadline,
        Duration::from_secs(120 + 1024)
    );
    assert_eq!(Pace::api(window).deadline, Duration::from_secs(60));
}

#[test]
fn only_network_and_server_errors_are_retried() {
    let status = |status| FetchError::Status {
        url: "u".into(),
        status,
        hint: "",
    };
    assert!(status(500).is_transient());
    assert!(status(503).is_transient());
    assert!(!status(404).is_transient());
    assert!(
        !FetchError::ChecksumMismatch {
            url: "u".into(),
            expected: "a".repeat(64).parse().unwrap(),
            actual: "b".repeat(64).parse().unwrap()
        }
        .is_transient()
    );
}
