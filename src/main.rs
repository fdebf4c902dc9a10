//! The `accredo` binary.

fn main() -> std::process::ExitCode {
    accredo::cli::main()
}
