use std::process::ExitCode;

fn main() -> ExitCode {
    attrib::cli::main()
}
