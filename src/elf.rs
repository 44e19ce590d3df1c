//! Reads the `.comment` section of an ELF file: where linkers sign their work ("mold 2.41.0",
//! "Linker: LLD 22.1.2"; GNU ld writes nothing). This is how `doctor` proves which linker ran.

/// The NUL-separated strings of `.comment`, or `None` when `bytes` is not a 64-bit
/// little-endian ELF file or has no such section.
/// The largest binary buildkit reads whole to find its `.comment` (a debug build of a big
/// service is about a gigabyte).
pub const MAX_BINARY_BYTES: u64 = 16 * 1024 * 1024 * 1024;

/// The machine an ELF header says its code is for (`e_machine`), where `head` (the first 20
/// bytes or more) is a 64-bit little-endian ELF header.
pub fn machine(head: &[u8]) -> Option<u16> {
    if head.get(..4)? != b"\x7fELF" || *head.get(4)? != 2 || *head.get(5)? != 1 {
        return None;
    }
    head.get(18..20).map(|b| u16::from_le_bytes([b[0], b[1]]))
}

/// `e_machine` of the host buildkit was built for.
pub const HOST_MACHINE: u16 = if cfg!(target_arch = "aarch64") {
    183 // EM_AARCH64
} else {
    62 // EM_X86_64
};

pub fn comment_strings(bytes: &[u8]) -> Option<Vec<String>> {
    if bytes.get(..4)? != b"\x7fELF" || *bytes.get(4)? != 2 || *bytes.get(5)? != 1 {
        return None;
    }
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    let shoff = usize::try_from(u64_at(0x28)?).ok()?;
    let shentsize = usize::from(u16_at(0x3a)?);
    let shnum = usize::from(u16_at(0x3c)?);
    let shstrndx = usize::from(u16_at(0x3e)?);
    let section = |index: usize| -> Option<(u32, usize, usize)> {
        let base = shoff.checked_add(index.checked_mul(shentsize)?)?;
        let name = u32_at(base)?;
        let offset = usize::try_from(u64_at(base + 24)?).ok()?;
        let size = usize::try_from(u64_at(base + 32)?).ok()?;
        Some((name, offset, size))
    };
    let (_, names_offset, names_size) = section(shstrndx)?;
    let names = bytes.get(names_offset..names_offset.checked_add(names_size)?)?;
    for index in 0..shnum {
        let (name, offset, size) = section(index)?;
        let name = names.get(name as usize..)?;
        let name = &name[..name.iter().position(|&b| b == 0)?];
        if name == b".comment" {
            let data = bytes.get(offset..offset.checked_add(size)?)?;
            return Some(
                data.split(|&b| b == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            );
        }
    }
    None
}

/// Which linker a `.comment` names: "mold 2.41.0 (…)", "LLD 22.1.2", or `None` (GNU ld or
/// unknown).
pub fn linker_signature(comments: &[String]) -> Option<String> {
    comments.iter().find_map(|c| {
        if c.starts_with("mold ") {
            Some(c.clone())
        } else {
            c.strip_prefix("Linker: ").map(str::to_string)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_comment_of_this_test_binary() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let comments = comment_strings(&exe).expect("test binaries have a .comment");
        assert!(
            comments.iter().any(|c| c.starts_with("rustc version")),
            "{comments:?}"
        );
    }

    #[test]
    fn rejects_non_elf_and_truncated_input() {
        assert_eq!(comment_strings(b"#!/bin/sh\n"), None);
        assert_eq!(comment_strings(b"\x7fELF\x02\x01"), None);
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(comment_strings(&exe[..200]), None);
    }

    #[test]
    fn signatures() {
        let s = |v: &[&str]| linker_signature(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            s(&["GCC: x", "mold 1.10.1 (compatible with GNU ld)"]).as_deref(),
            Some("mold 1.10.1 (compatible with GNU ld)")
        );
        assert_eq!(
            s(&["Linker: LLD 22.1.2 (x)"]).as_deref(),
            Some("LLD 22.1.2 (x)")
        );
        assert_eq!(s(&["GCC: x"]), None);
    }
}
