//! The fluent [`Pipeline`] builder.

use std::collections::HashSet;

use super::aggregate::{self, AggregateKey};
use super::collect::{Collect, collect};
use super::graph::{StageNode, paths};
use super::reduce::{self, Accumulator};
use super::{Batches, BuildContext, Epoch, filter, generate, if_else, map};
use crate::base::StageKind;
use crate::record::Record;

type BuildFn<I, O> = Box<dyn for<'s> FnOnce(Batches<'s, I>, &BuildContext) -> Batches<'s, O>>;

/// A chain of stages from records of type `I` to records of type `O`.
///
/// A pipeline is a recipe: [`Pipeline::build`] turns it into timely operators
/// on one worker, so it is made anew on each worker and its closures need not
/// be `Send`.
///
/// ```
/// use mable_pipeline::pipeline::{Collect, Pipeline};
/// let p = Pipeline::<i64, i64>::new()
///     .if_else(
///         "if_even",
///         |x: &i64| x % 2 == 0,
///         Pipeline::new().map("halve", |x: i64| x / 2),
///         Pipeline::new().filter("big", |x: &i64| *x > 10),
///     )
///     .collect("out", Collect::discard());
/// assert!(p.check().is_ok());
/// let paths = mable_pipeline::pipeline::StageNode::paths(p.stages());
/// assert_eq!(paths, ["if_even", "if_even/then/halve", "if_even/else/big", "if_even/merge", "out"]);
/// ```
pub struct Pipeline<I, O> {
    nodes: Vec<StageNode>,
    build: BuildFn<I, O>,
}

/// A stage graph that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    #[error("two stages are both named `{0}`: stage paths must be unique")]
    DuplicateStage(String),
    #[error("stage name `{0}` is not allowed: use letters, digits, `_` and `-`, and not `merge`")]
    BadName(String),
}

impl<I: 'static> Pipeline<I, I> {
    /// An empty pipeline: records pass through unchanged.
    pub fn new() -> Pipeline<I, I> {
        Pipeline {
            nodes: Vec::new(),
            build: Box::new(|s, _| s),
        }
    }
}

impl<I: 'static> Default for Pipeline<I, I> {
    fn default() -> Self {
        Pipeline::new()
    }
}

impl<I: 'static, O: 'static> Pipeline<I, O> {
    fn then<O2: 'static>(
        self,
        node: StageNode,
        stage: impl for<'s> FnOnce(Batches<'s, O>, &BuildContext) -> Batches<'s, O2> + 'static,
    ) -> Pipeline<I, O2> {
        let Pipeline { mut nodes, build } = self;
        nodes.push(node);
        Pipeline {
            nodes,
            build: Box::new(move |s, ctx| stage(build(s, ctx), ctx)),
        }
    }

    /// Transforms each record, possibly into another type.
    pub fn map<O2: 'static>(self, name: &str, f: impl FnMut(O) -> O2 + 'static) -> Pipeline<I, O2> {
        let n = name.to_string();
        self.then(StageNode::leaf(name, StageKind::Map), move |s, ctx| {
            map::map(s, ctx, &n, f)
        })
    }

    /// Edits each record where it is; the cheapest map when the type stays.
    pub fn map_in_place(self, name: &str, f: impl FnMut(&mut O) + 'static) -> Pipeline<I, O> {
        let n = name.to_string();
        self.then(StageNode::leaf(name, StageKind::Map), move |s, ctx| {
            map::map_in_place(s, ctx, &n, f)
        })
    }

    /// Keeps the records for which `pred` holds.
    pub fn filter(self, name: &str, pred: impl FnMut(&O) -> bool + 'static) -> Pipeline<I, O> {
        let n = name.to_string();
        self.then(StageNode::leaf(name, StageKind::Filter), move |s, ctx| {
            filter::filter(s, ctx, &n, pred)
        })
    }

    /// A stage of your own: `logic` gets each container of batch `epoch`'s
    /// records on this worker and returns the container to pass on. It is
    /// metered like every built-in stage (records in and out, busy time per
    /// batch and worker, kind `custom`), and a panic in it ends the run
    /// naming the stage. Use it for what no built-in stage says: work on a
    /// whole container, state kept across batches, records of another type.
    ///
    /// ```
    /// use mable_pipeline::pipeline::Pipeline;
    ///
    /// // Drops records equal to the one before them in the same container.
    /// let p = Pipeline::<i64, i64>::new().stage("dedup_runs", |_epoch, mut xs: Vec<i64>| {
    ///     xs.dedup();
    ///     xs
    /// });
    /// assert_eq!(p.stages()[0].kind.as_str(), "custom");
    /// ```
    pub fn stage<O2: 'static>(
        self,
        name: &str,
        logic: impl FnMut(Epoch, Vec<O>) -> Vec<O2> + 'static,
    ) -> Pipeline<I, O2> {
        let n = name.to_string();
        self.then(StageNode::leaf(name, StageKind::Custom), move |s, ctx| {
            super::stage::unary_stage(
                s,
                ctx,
                &n,
                StageKind::Custom,
                timely::dataflow::channels::pact::Pipeline,
                logic,
            )
        })
    }

    /// A stage that is a timely operator of your own: `constructor` runs
    /// once per worker and returns the logic timely calls whenever the
    /// operator is scheduled. The logic gets the containers that arrived,
    /// each with a [`Capability`](timely::dataflow::operators::Capability)
    /// for its batch that it may keep, the input frontier, and a
    /// [`Give`](super::Give) for its output. Keeping records until the
    /// frontier passes their batch, or across batches, is the logic's own
    /// choice. The stage is metered like every built-in one (kind `custom`):
    /// records in and out per batch by capability time, and each call's busy
    /// time against the earliest batch it touched. A panic in it ends the
    /// run naming the stage.
    ///
    /// ```
    /// use mable_pipeline::pipeline::Pipeline;
    ///
    /// // Sorts each batch as a whole: records wait until the batch is complete.
    /// let p = Pipeline::<i64, i64>::new().operator("sort_batches", |_info| {
    ///     let mut held = std::collections::BTreeMap::new();
    ///     move |arrived: &mut mable_pipeline::pipeline::Arrived<i64>, frontier: &_, out: &mut mable_pipeline::pipeline::Give<i64>| {
    ///         for (cap, records) in arrived.drain(..) {
    ///             let (_, kept): &mut (_, Vec<i64>) =
    ///                 held.entry(*cap.time()).or_insert_with(|| (cap.clone(), Vec::new()));
    ///             kept.extend(records);
    ///         }
    ///         while let Some(entry) = held.first_entry() {
    ///             let frontier: &timely::progress::frontier::MutableAntichain<u64> = frontier;
    ///             if frontier.less_equal(entry.key()) {
    ///                 break;
    ///             }
    ///             let (cap, mut records) = entry.remove();
    ///             records.sort();
    ///             out.give(&cap, records);
    ///         }
    ///     }
    /// });
    /// assert_eq!(p.stages()[0].kind.as_str(), "custom");
    /// ```
    pub fn operator<O2: 'static, L>(
        self,
        name: &str,
        constructor: impl FnOnce(&timely::dataflow::operators::generic::OperatorInfo) -> L + 'static,
    ) -> Pipeline<I, O2>
    where
        L: super::OperatorLogic<O, O2> + 'static,
    {
        let n = name.to_string();
        self.then(StageNode::leaf(name, StageKind::Custom), move |s, ctx| {
            super::operator::operator(s, ctx, &n, constructor)
        })
    }

    /// Turns each record into zero or more, pushed onto `out`.
    pub fn generate<O2: 'static>(
        self,
        name: &str,
        f: impl FnMut(O, &mut Vec<O2>) + 'static,
    ) -> Pipeline<I, O2> {
        let n = name.to_string();
        self.then(StageNode::leaf(name, StageKind::Generate), move |s, ctx| {
            generate::generate(s, ctx, &n, f)
        })
    }

    /// Aggregates each batch across all workers: `fold` each record into a
    /// per-worker copy of `init`, `merge` the workers' partials on worker 0.
    /// The result is reported per batch; the records pass through unchanged.
    pub fn reduce<A: Accumulator>(
        self,
        name: &str,
        init: A,
        fold: impl FnMut(&mut A, &O) + 'static,
        merge: impl FnMut(&mut A, A) + 'static,
    ) -> Pipeline<I, O> {
        let n = name.to_string();
        self.then(StageNode::leaf(name, StageKind::Reduce), move |s, ctx| {
            reduce::reduce(s, ctx, &n, init, fold, merge)
        })
    }

    /// Keeps a running count, sum, min and max of `value_of` per `key_of` (records
    /// whose key is `None` are left out), correct across batches, workers and
    /// processes, and reports each batch's changed keys. Records pass through.
    pub fn aggregate_by_key<K: AggregateKey>(
        self,
        name: &str,
        key_of: impl FnMut(&O) -> Option<K> + 'static,
        value_of: impl FnMut(&O) -> i64 + 'static,
    ) -> Pipeline<I, O> {
        let n = name.to_string();
        self.then(
            StageNode::leaf(name, StageKind::Aggregate),
            move |s, ctx| aggregate::aggregate_by_key(s, ctx, &n, key_of, value_of),
        )
    }

    /// Sends each record down `then` or `otherwise` by `cond`, then merges
    /// them. Branch stages are named `{name}/then/…` and `{name}/else/…`.
    pub fn if_else<O2: 'static>(
        self,
        name: &str,
        cond: impl FnMut(&O) -> bool + 'static,
        then: Pipeline<O, O2>,
        otherwise: Pipeline<O, O2>,
    ) -> Pipeline<I, O2> {
        let n = name.to_string();
        let node = StageNode {
            name: name.to_string(),
            kind: StageKind::IfElse,
            branches: vec![
                ("then".into(), then.nodes),
                ("else".into(), otherwise.nodes),
            ],
            table: None,
        };
        let (then_build, else_build) = (then.build, otherwise.build);
        self.then(node, move |s, ctx| {
            let (yes, no) = if_else::split(s, ctx, &n, cond);
            let yes = then_build(yes, &ctx.branch(&n, "then"));
            let no = else_build(no, &ctx.branch(&n, "else"));
            if_else::merge(yes, no, ctx, &n)
        })
    }

    /// Hands the records to `sink` and passes them on.
    pub fn collect(self, name: &str, sink: Collect<O>) -> Pipeline<I, O>
    where
        O: Record,
    {
        let n = name.to_string();
        let mut node = StageNode::leaf(name, StageKind::Collect);
        node.table = sink.target_table().cloned();
        self.then(node, move |s, ctx| collect(s, ctx, &n, sink))
    }

    /// The stage graph.
    pub fn stages(&self) -> &[StageNode] {
        &self.nodes
    }

    /// The tables its `collect` stages keep records in. A run with any
    /// starts its sink even with metrics capture off: these rows are the
    /// pipeline's output, not its metrics.
    pub fn tables(&self) -> Vec<crate::table::Table> {
        super::graph::tables(&self.nodes)
    }

    /// Checks stage names: legal, and unique as paths.
    pub fn check(&self) -> Result<(), PipelineError> {
        fn names(nodes: &[StageNode]) -> Result<(), PipelineError> {
            for n in nodes {
                let ok = !n.name.is_empty()
                    && n.name != "merge"
                    && n.name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !ok {
                    return Err(PipelineError::BadName(n.name.clone()));
                }
                for (_, children) in &n.branches {
                    names(children)?;
                }
            }
            Ok(())
        }
        names(&self.nodes)?;
        let mut seen = HashSet::new();
        for p in paths(&self.nodes) {
            if !seen.insert(p.clone()) {
                return Err(PipelineError::DuplicateStage(p));
            }
        }
        Ok(())
    }

    /// Builds the stages as timely operators on `stream`.
    pub fn build<'s>(self, stream: Batches<'s, I>, ctx: &BuildContext) -> Batches<'s, O> {
        (self.build)(stream, ctx)
    }
}

impl StageNode {
    /// Every stage path of `nodes`, depth first, with each `if_else`'s merge.
    pub fn paths(nodes: &[StageNode]) -> Vec<String> {
        paths(nodes)
    }
}
