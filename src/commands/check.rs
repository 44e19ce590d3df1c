//! placeholder
pub fn run(_: &super::Context) -> Result<std::process::ExitCode, crate::Error> {
    todo!()
}
