//! A dataflow: a named pipeline the command line can list and run. The
//! engine runs any of them; which ones a binary offers is its own list,
//! handed to [`cli::main`](crate::cli::main).
//!
//! ```
//! use mable_pipeline::dataflow::{Dataflow, Definition};
//! use mable_pipeline::pipeline::{Collect, Pipeline};
//!
//! static DOUBLE: Definition<i64, i64> = Definition {
//!     name: "double",
//!     about: "doubles integers",
//!     pipeline: |_| Pipeline::new().map("double", |x: i64| x * 2).collect("out", Collect::discard()),
//!     personal_data: false,
//! };
//! let offered: &[&dyn Dataflow] = &[&DOUBLE];
//! assert_eq!(offered[0].stages().len(), 2);
//! assert!(offered[0].generates_input());
//! ```

use crate::base::Params;
use crate::pipeline::{Pipeline, StageNode};
use crate::record::{Record, SourceRecord};
use crate::run::{RunConfig, RunError, RunReport};
use crate::table::Table;

/// A named pipeline a binary can run.
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
    fn tables(&self) -> Vec<Table> {
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

/// The dataflow called `name` among `offered`.
pub fn find<'a>(offered: &[&'a dyn Dataflow], name: &str) -> Option<&'a dyn Dataflow> {
    offered.iter().copied().find(|d| d.name() == name)
}
