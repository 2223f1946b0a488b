//! `tidepool config check FILE` and `tidepool config default`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::CliError;
use tidepool::config::AgentConfig;

/// `tidepool config`: the agent configuration file.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate an agent configuration (with the TIDEPOOL_<SECTION>__<KEY> overrides of the environment) and print what it sets.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
    /// Print the default configuration, every key documented.
    Default,
}

/// Runs `tidepool config ...`; returns the text to print.
///
/// # Errors
///
/// [`CliError::Input`] (exit 2) naming the file, line and key, or the
/// environment variable.
pub fn config(args: &ConfigArgs) -> Result<String, CliError> {
    match &args.command {
        ConfigCommand::Default => Ok(AgentConfig::DEFAULT_FILE.to_string()),
        ConfigCommand::Check { file } => {
            let vars: Vec<(String, String)> = std::env::vars().collect();
            let config = AgentConfig::load(file)
                .and_then(|c| c.with_env(vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
                .map_err(|e| CliError::Input(e.to_string()))?;
            let mut out = format!("{}: ok\n", file.display());
            out += &config.summary();
            let mut overrides: Vec<String> = vars
                .iter()
                .filter_map(|(k, v)| AgentConfig::env_key(k).map(|key| format!("    {k}={v} ({key})")))
                .collect();
            overrides.sort();
            if overrides.is_empty() {
                out += "  environment overrides: none\n";
            } else {
                out += "  environment overrides:\n";
                out += &(overrides.join("\n") + "\n");
            }
            if cfg!(not(feature = "otlp")) && config.export.otlp_endpoint.is_some() {
                out += "  note: this build lacks the `otlp` feature: the agent will refuse export.otlp_endpoint\n";
            }
            Ok(out)
        }
    }
}
