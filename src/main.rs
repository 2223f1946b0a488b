//! The `tidepool` binary: a thin command line over the library (`cli`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
