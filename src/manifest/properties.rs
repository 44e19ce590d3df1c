use super::*;
use proptest::prelude::*;

const FULL: &str = "[toolchain]\nrust = \"1.95.0\"\n[linker]\nkind = \"mold\"\ndriver = \"clang\"\n[tools.mold]\nversion = \"1.10.1\"\nurl = \"https://x/m.tar.gz\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n[tools.sccache]\nversion = \"0.17.0\"\n[cache]\nbackend = \"s3\"\nbucket = \"b\"\n[profile.dev]\ndebug = 1\n[ci]\nproviders = [\"gitlab\"]\n[buildkit]\ngit = \"https://g\"\nrev = \"0123456789abcdef0123456789abcdef01234567\"\n";

fn check(text: &str) -> Result<(), TestCaseError> {
    if let Err(err) = Manifest::parse(
        text,
        Path::new("buildkit.toml"),
        &Registry::embedded(),
        crate::toolchain::TEST_DAY,
    ) {
        let message = err.to_string();
        prop_assert!(message.starts_with("buildkit.toml:"), "{}", message);
        prop_assert!(!message.contains('\n'), "one line: {}", message);
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text)?;
    }

    #[test]
    fn mutated_manifests_parse_or_name_the_line(
        edits in prop::collection::vec((0usize..FULL.len(), "[\\[\\]\"=.a-z0-9 \n~/@$-]{0,6}", 0usize..6), 1..6)
    ) {
        let mut text = FULL.to_string();
        for (at, insert, remove) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + remove).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.replace_range(at..end, &insert);
        }
        check(&text)?;
    }
}
