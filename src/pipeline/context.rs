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

/// Build-time context: the stage path prefix, where stage metrics go, and
/// whom to tell about failures. One per worker.
#[derive(Debug, Clone)]
pub struct BuildContext {
    prefix: String,
    pub(crate) stages: Option<Rc<RefCell<StageRegistry>>>,
    pub(crate) supervisor: Supervisor,
    /// Raised to end the run early; a sink whose reader went away raises it.
    pub(crate) stop: StopFlag,
    pub(crate) reductions: Rc<RefCell<Vec<ReductionResult>>>,
    pub(crate) aggregates: Rc<RefCell<Vec<super::AggregateUpdate>>>,
    pub(crate) worker: usize,
    /// Worker threads per process: output that must reach one process is
    /// routed to workers `0..threads`.
    pub(crate) threads: usize,
    pub(crate) processes: usize,
    /// Where `collect` stages that keep records in a table send them: the
    /// metrics sidecar, with the rows' identity. `None` with metrics off.
    pub(crate) shipper: Option<(Arc<dyn Shipper>, RowContext)>,
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
            reductions: Rc::new(RefCell::new(Vec::new())),
            aggregates: Rc::new(RefCell::new(Vec::new())),
            worker,
            threads,
            processes,
            shipper: None,
        }
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

    /// Results of reduce stages combined on this worker so far.
    pub fn reductions(&self) -> Rc<RefCell<Vec<ReductionResult>>> {
        self.reductions.clone()
    }

    /// Keys whose aggregates changed on this worker, in the order reported.
    pub fn aggregates(&self) -> Rc<RefCell<Vec<super::AggregateUpdate>>> {
        self.aggregates.clone()
    }

    /// This worker's stage metrics, when metrics are on.
    pub fn stage_registry(&self) -> Option<Rc<RefCell<StageRegistry>>> {
        self.stages.clone()
    }
}
