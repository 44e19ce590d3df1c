use super::*;
use crate::registry::Registry;

#[test]
fn upgrade_moves_registry_pins_and_keeps_comments() {
    let text = "[tools.mold]\nversion = \"2.40.4\"  # pinned\n[tools.sccache]\nversion = \"0.1\"\nurl = \"https://x/s.tar.gz\"\n";
    let upgraded = upgrade_pins(text, &Registry::embedded(), &[]).unwrap();
    assert_eq!(
        upgraded,
        "[tools.mold]\nversion = \"2.42.0\"  # pinned\n[tools.sccache]\nversion = \"0.1\"\nurl = \"https://x/s.tar.gz\"\n"
    );
}
