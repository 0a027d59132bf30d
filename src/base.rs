//! The vocabulary every part of the engine shares, depending on nothing
//! else in the crate: a batch's number, the kinds of stage, and the
//! parameters a pipeline is made from.

/// A batch number, used as the timely timestamp: records of input batch *k*
/// carry time *k*.
pub type Epoch = u64;

/// A stream of batches of `R` inside a dataflow.
pub type Batches<'s, R> = timely::dataflow::Stream<'s, Epoch, Vec<R>>;

/// What a pipeline may depend on: the same on every worker and process, so
/// output never depends on how the run was split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Drives every pseudo-random value.
    pub seed: u64,
    /// The run's start, unix seconds: what "now" means inside the pipeline
    /// (process 0's, in a cluster).
    pub now: i64,
}

/// What kind of stage an operator implements (a column of `pipeline_metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    Map,
    Filter,
    Generate,
    Reduce,
    IfElse,
    Merge,
    Collect,
    Aggregate,
    /// A user's own timely operator, metered like the built-in stages.
    Custom,
}

impl StageKind {
    /// Every kind.
    pub const ALL: [StageKind; 9] = [
        StageKind::Map,
        StageKind::Filter,
        StageKind::Generate,
        StageKind::Reduce,
        StageKind::IfElse,
        StageKind::Merge,
        StageKind::Collect,
        StageKind::Aggregate,
        StageKind::Custom,
    ];

    /// The kind called `name` (as [`as_str`](Self::as_str) writes it).
    ///
    /// ```
    /// use mable_pipeline::base::StageKind;
    /// assert_eq!(StageKind::from_name("if_else"), Some(StageKind::IfElse));
    /// ```
    pub fn from_name(name: &str) -> Option<StageKind> {
        StageKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The lower-case name shown in summaries, `list` and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Map => "map",
            StageKind::Filter => "filter",
            StageKind::Generate => "generate",
            StageKind::Reduce => "reduce",
            StageKind::IfElse => "if_else",
            StageKind::Merge => "merge",
            StageKind::Collect => "collect",
            StageKind::Aggregate => "aggregate",
            StageKind::Custom => "custom",
        }
    }
}
