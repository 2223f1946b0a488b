//! The `tidepool` binary; all logic lives in `tidepool::cli`.

fn main() -> std::process::ExitCode {
    tidepool::cli::main()
}
