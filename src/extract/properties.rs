use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Kind {
    File,
    Dir,
    Symlink(String),
    HardLink(String),
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("top".to_string()),
        Just("secret".to_string()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(segment(), 1..5)).prop_map(|(absolute, parts)| {
        format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"))
    })
}

fn random_entry() -> impl Strategy<Value = (String, Kind)> {
    (
        path(),
        prop_oneof![
            Just(Kind::File),
            Just(Kind::Dir),
            path().prop_map(Kind::Symlink),
            path().prop_map(Kind::HardLink),
        ],
    )
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![Just("top/a".to_string()), Just("top/b".to_string())]
}

/// The pieces escapes are made of (a link to `.`, a link climbing through it, a hard link
/// or a file through a link, a name replaced later), so that random orders and mixes of
/// them, and of random entries, explore where the danger is.
fn entry() -> impl Strategy<Value = (String, Kind)> {
    prop_oneof![
        name().prop_map(|n| (n, Kind::Symlink(".".into()))),
        (
            name(),
            prop_oneof![Just("a/.."), Just("b/.."), Just("a/a/.."), Just("a/../..")]
        )
            .prop_map(|(n, t)| (n, Kind::Symlink(t.into()))),
        (prop_oneof![Just("top/h"), Just("top/a/h")], name())
            .prop_map(|(h, via)| (h.to_string(), Kind::HardLink(format!("{via}/secret")))),
        name().prop_map(|n| (format!("{n}/escaped"), Kind::File)),
        name().prop_map(|n| (n, Kind::File)),
        name().prop_map(|n| (n, Kind::Dir)),
        random_entry(),
    ]
}

/// A tar built raw, bypassing the tar crate's own refusals.
fn archive(entries: &[(String, Kind)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind) in entries {
        let mut header = tar::Header::new_gnu();
        let name = &mut header.as_old_mut().name;
        let bytes = path.as_bytes();
        name[..bytes.len().min(99)].copy_from_slice(&bytes[..bytes.len().min(99)]);
        header.set_mode(0o777);
        let data: &[u8] = match kind {
            Kind::File => b"data",
            _ => b"",
        };
        match kind {
            Kind::File => header.set_entry_type(tar::EntryType::Regular),
            Kind::Dir => header.set_entry_type(tar::EntryType::Directory),
            Kind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_link_name_literal(target).unwrap();
            }
            Kind::HardLink(target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_link_name_literal(target).unwrap();
            }
        }
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    io::Write::write_all(&mut gz, &tar).unwrap();
    gz.finish().unwrap()
}

proptest! {
    #[test]
    fn no_order_of_entries_reaches_outside(entries in prop::collection::vec(entry(), 1..12)) {
        let outer = tempfile::tempdir().unwrap();
        // Beside the destination: what a hostile archive would reach for.
        let secret = outer.path().join("secret");
        std::fs::write(&secret, "outside").unwrap();
        let dest = outer.path().join("top");
        std::fs::create_dir(&dest).unwrap();
        let bytes = archive(&entries);
        let result = unpack(
            io::BufReader::new(&bytes[..]),
            &dest,
            &UnpackOptions { archive: "fuzz.tar.gz", format: ArchiveFormat::TarGz, top_dir: Some("top"), keep: &[], max_bytes: 1 << 20 },
        );
        // Nothing outside changed: the outer dir holds exactly what it held.
        let mut names: Vec<String> = std::fs::read_dir(outer.path()).unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        prop_assert_eq!(names, vec!["secret".to_string(), "top".to_string()]);
        prop_assert_eq!(std::fs::read_to_string(&secret).unwrap(), "outside");
        prop_assert_eq!(std::fs::metadata(&secret).unwrap().nlink(), 1, "no hard link to outside");
        if let Err(err) = &result {
            let message = err.to_string();
            prop_assert!(!message.contains('\n'), "one line: {}", message);
        } else {
            // Installed: every link resolves inside, no file is group/other writable.
            let root = std::fs::canonicalize(&dest).unwrap();
            let mut pending = vec![dest.clone()];
            while let Some(dir) = pending.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let entry = entry.unwrap();
                    let kind = entry.file_type().unwrap();
                    if kind.is_dir() {
                        pending.push(entry.path());
                    } else if kind.is_symlink() {
                        let resolved = std::fs::canonicalize(entry.path());
                        prop_assert!(resolved.is_ok_and(|r| r.starts_with(&root)), "{:?}", entry.path());
                    } else {
                        let mode = entry.metadata().unwrap().permissions().mode();
                        prop_assert_eq!(mode & 0o022, 0, "{:?}", entry.path());
                    }
                }
            }
        }
    }
}
