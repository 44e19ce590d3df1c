//! placeholder
pub fn run(
    _: &super::Context,
    _: crate::cli::LinkerArg,
    _: bool,
    _: bool,
) -> Result<std::process::ExitCode, crate::Error> {
    todo!()
}
pub fn upgrade_versions(_: &str, _: &crate::registry::Registry) -> Result<String, String> {
    todo!()
}
