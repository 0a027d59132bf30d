//! What a pipeline needs from its worker while its operators are built.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::base::StageKind;
use crate::failure::Supervisor;
use crate::metrics::stage::{RowContext, StageRecorder, StageRegistry};
use crate::stop::StopFlag;
use crate::table::Shipper;

/// A reduce stage's combined result for one batch, produced on global worker 0.
#[derive(Debug, Clone, PartialEq)]
pub struct ReductionResult {
    pub stage: String,
    pub batch: u64,
    /// The aggregate as JSON.
    pub value: String,
}

/// Where reduce and aggregate stages report their results. The worker
/// running the pipeline implements it (turning results into rows and the
/// summary); stages only ever push to it, on their worker's thread.
pub trait StageResults {
    /// A reduce stage's combined result for one batch (on global worker 0).
    fn reduced(&self, result: ReductionResult);
    /// A key whose aggregate changed in a batch (on the key's worker).
    fn aggregated(&self, update: super::AggregateUpdate);
}

/// Drops every result: for a pipeline built outside a run, as in tests.
#[derive(Debug)]
struct DropResults;

impl StageResults for DropResults {
    fn reduced(&self, _: ReductionResult) {}
    fn aggregated(&self, _: super::AggregateUpdate) {}
}

/// Build-time context: the stage path prefix, where stage metrics go, and
/// whom to tell about failures. One per worker.
#[derive(Clone)]
pub struct BuildContext {
    prefix: String,
    pub(crate) stages: Option<Rc<RefCell<StageRegistry>>>,
    pub(crate) supervisor: Supervisor,
    /// Raised to end the run early; a sink whose reader went away raises it.
    pub(crate) stop: StopFlag,
    pub(crate) results: Rc<dyn StageResults>,
    pub(crate) worker: usize,
    /// Worker threads per process: output that must reach one process is
    /// routed to workers `0..threads`.
    pub(crate) threads: usize,
    pub(crate) processes: usize,
    /// Where `collect` stages that keep records in a table send them: the
    /// metrics sidecar, with the rows' identity. `None` with metrics off.
    pub(crate) shipper: Option<(Arc<dyn Shipper>, RowContext)>,
}

impl std::fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContext")
            .field("prefix", &self.prefix)
            .field("worker", &self.worker)
            .field("threads", &self.threads)
            .field("processes", &self.processes)
            .field("metrics", &self.stages.is_some())
            .finish_non_exhaustive()
    }
}

impl BuildContext {
    /// A context for `worker` of `threads × processes` workers. `stages` is
    /// `None` when metrics are off.
    pub fn new(
        worker: usize,
        threads: usize,
        processes: usize,
        stages: Option<Rc<RefCell<StageRegistry>>>,
        supervisor: Supervisor,
        stop: StopFlag,
    ) -> BuildContext {
        BuildContext {
            prefix: String::new(),
            stages,
            supervisor,
            stop,
            results: Rc::new(DropResults),
            worker,
            threads,
            processes,
            shipper: None,
        }
    }

    /// Sends reduce and aggregate results to `results` (by default they are dropped).
    pub fn with_results(mut self, results: Rc<dyn StageResults>) -> BuildContext {
        self.results = results;
        self
    }

    /// Lets `collect` stages ship records to table sinks through `sender`.
    pub fn with_shipper(mut self, sender: Arc<dyn Shipper>, rows: RowContext) -> BuildContext {
        self.shipper = Some((sender, rows));
        self
    }

    /// A context for one worker of one process with metrics on, for tests and examples.
    pub fn single_worker() -> BuildContext {
        BuildContext::new(
            0,
            1,
            1,
            Some(Rc::new(RefCell::new(StageRegistry::default()))),
            Supervisor::new(),
            StopFlag::default(),
        )
    }

    /// The full path of stage `name` here.
    pub fn path(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// A context for the stages of a branch of stage `name`.
    pub(crate) fn branch(&self, name: &str, branch: &str) -> BuildContext {
        BuildContext {
            prefix: format!("{}{}/{}/", self.prefix, name, branch),
            ..self.clone()
        }
    }

    pub(crate) fn recorder(
        &self,
        path: &str,
        kind: StageKind,
        operator_id: usize,
    ) -> Option<StageRecorder> {
        self.stages
            .as_ref()
            .map(|r| r.borrow_mut().register(path, kind, operator_id))
    }

    /// This worker's stage metrics, when metrics are on.
    pub fn stage_registry(&self) -> Option<Rc<RefCell<StageRegistry>>> {
        self.stages.clone()
    }
}
