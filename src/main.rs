//! buildkit: parse, run, print the error, return an exit code. Nothing else lives here.

fn main() -> std::process::ExitCode {
    buildkit::main()
}
