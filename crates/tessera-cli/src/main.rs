//! `tessera`: the command-line front end of the Tessera runtime.
//!
//! Each subcommand lives in its own file (`cmd_<name>.rs`) exposing `Args` (a `clap::Args`
//! struct whose doc comment is the subcommand's help) and `run(Args) -> anyhow::Result<()>`.
//! Adding one is a new file plus one line in the `subcommands!` list below.

mod cli_util;
mod inputs;

/// Declares the subcommand modules, the `Command` enum and its dispatch from one list.
macro_rules! subcommands {
    ($($variant:ident => $module:ident),* $(,)?) => {
        $(mod $module;)*

        #[derive(clap::Subcommand)]
        enum Command {
            $($variant($module::Args),)*
        }

        impl Command {
            fn run(self) -> anyhow::Result<()> {
                match self {
                    $(Command::$variant(args) => $module::run(args),)*
                }
            }
        }
    };
}

subcommands! {
    Devices => cmd_devices,
    Inspect => cmd_inspect,
    Run => cmd_run,
    Cts => cmd_cts,
    Bench => cmd_bench,
}

/// Tessera: one userspace for ML accelerators.
#[derive(clap::Parser)]
#[command(name = "tessera", version, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn main() -> std::process::ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    match cli.command.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli_util::render_error(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
