//! placeholder
pub fn run(_: &super::Context, _: bool) -> Result<std::process::ExitCode, crate::Error> {
    todo!()
}
