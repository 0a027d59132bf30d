//! Commands of a binary's own, beside `list`, `report`, `schema`, …: how a
//! binary adds what the engine does not know about. The shipped binary's
//! `bench` (the Go seed's benchmarks over its own dataflows) is one.

/// A subcommand a binary adds to the engine's command line.
///
/// ```no_run
/// use clap::{ArgMatches, Command};
///
/// struct Hello;
///
/// impl mable_pipeline::cli::Extension for Hello {
///     fn command(&self) -> Command {
///         Command::new("hello").about("Say hello")
///     }
///     fn run(&self, _args: &ArgMatches) -> anyhow::Result<i32> {
///         mable_pipeline::cli::out::println("hello")?;
///         Ok(0)
///     }
/// }
///
/// # use mable_pipeline::dataflow::Definition;
/// # use mable_pipeline::pipeline::Pipeline;
/// # static MINE: Definition<i64, i64> = Definition { name: "mine", about: "", pipeline: |_| Pipeline::new(), personal_data: false };
/// fn main() {
///     std::process::exit(mable_pipeline::cli::main_with(&[&MINE], &[&Hello]));
/// }
/// ```
pub trait Extension: Sync {
    /// The subcommand: its name, arguments and help (a clap derive's
    /// `Args::augment_args(Command::new(..))` is the usual way).
    fn command(&self) -> clap::Command;
    /// Runs it with its parsed arguments and returns the exit code. An error
    /// is printed as one `error:` line (exit 1); [`super::out::StdoutClosed`]
    /// ends quietly with 0.
    fn run(&self, args: &clap::ArgMatches) -> anyhow::Result<i32>;
}
