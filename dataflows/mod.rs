//! The pipelines users run, one file each. Each reads like the seed's fluent
//! chains: `Pipeline::new().map(..).filter(..)...`.

pub mod conversions;
pub mod int;
pub mod mable_event;
pub mod test_struct;

use crate::pipeline::{Pipeline, StageNode};
use crate::record::{Record, SourceRecord};
use crate::run::{RunConfig, RunError, RunReport};

pub use crate::base::Params;

/// A named pipeline the binary can run.
pub trait Dataflow: Sync {
    /// The `--dataflow` name.
    fn name(&self) -> &'static str;
    /// One line on what it does.
    fn about(&self) -> &'static str;
    /// Whether it can make its records with no input file (`--size N` alone).
    fn generates_input(&self) -> bool;
    /// Whether its records carry personal data. Then nothing it reports
    /// about bad input quotes an input value (see `--on-error`).
    fn personal_data(&self) -> bool;
    /// Its stage graph.
    fn stages(&self) -> Vec<StageNode>;
    /// The tables its stages keep records in (`Collect::table`).
    fn tables(&self) -> Vec<crate::table::Table> {
        crate::pipeline::tables(&self.stages())
    }
    /// Runs it.
    fn run(&self, config: &RunConfig) -> Result<RunReport, RunError>;
}

/// A dataflow from records `R` (read or generated) to records `O`.
pub struct Definition<R, O> {
    pub name: &'static str,
    pub about: &'static str,
    pub pipeline: fn(&Params) -> Pipeline<R, O>,
    /// Its records carry personal data (names, e-mails, addresses).
    pub personal_data: bool,
}

impl<R: SourceRecord, O: Record> Dataflow for Definition<R, O> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn about(&self) -> &'static str {
        self.about
    }
    fn generates_input(&self) -> bool {
        R::generate(0, 0).is_some()
    }
    fn personal_data(&self) -> bool {
        self.personal_data
    }
    fn stages(&self) -> Vec<StageNode> {
        (self.pipeline)(&Params { seed: 0, now: 0 })
            .stages()
            .to_vec()
    }
    fn run(&self, config: &RunConfig) -> Result<RunReport, RunError> {
        let mut errors = config.errors.clone();
        errors.personal_data |= self.personal_data;
        crate::run::run_with_errors(
            self.name,
            std::sync::Arc::new(self.pipeline),
            config,
            errors,
        )
    }
}

/// Every dataflow, the default (`mable_event`) first.
pub fn all() -> [&'static dyn Dataflow; 4] {
    [
        &mable_event::DATAFLOW,
        &int::DATAFLOW,
        &test_struct::DATAFLOW,
        &conversions::DATAFLOW,
    ]
}

/// The dataflow called `name`.
///
/// ```
/// assert!(mable_pipeline::dataflows::find("int").is_some());
/// assert!(mable_pipeline::dataflows::find("nope").is_none());
/// ```
pub fn find(name: &str) -> Option<&'static dyn Dataflow> {
    all().into_iter().find(|d| d.name() == name)
}
