//! The run's graphs, derived from timely's log: channels connect operator
//! ids, and stage operators carry their stage path.
//!
//! The *stage graph* has one node per stage plus the input and the end; an
//! edge joins two stages when records flow from one to the other through
//! timely's own operators only. Timely operators on a dead-end branch off a
//! stage (a reduce's combiner, an aggregate's arrangement and count) are that
//! stage's *helpers*: their scheduling time is the stage's work too. Without
//! the operator log (a run that ended early) the stage graph is drawn from
//! the stage paths alone: a sequence per level, `if_else` splitting into
//! `then` and `else` and joining at `merge`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::model::Run;

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A stage (index into `Run::stages`).
    Stage(usize),
    /// Where records enter.
    Input,
    /// Where they leave (the probe).
    End,
    /// A timely operator (index into `Run::operators`).
    Operator(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// Records carried (summed over workers), when known.
    pub records: Option<u64>,
    /// Records crossed workers on the way.
    pub exchange: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: Vec<NodeKind>,
    pub edges: Vec<Edge>,
    /// Drawn from timely's log (true) or from the stage paths (false).
    pub from_log: bool,
}

/// The stage graph and each stage's helper operators.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    pub stages: Graph,
    /// Per stage: indices into `Run::operators` of its helpers.
    pub helpers: Vec<Vec<usize>>,
    /// Every operator of the pipeline's dataflow (scopes left out).
    pub operators: Graph,
    /// The operator index of the pipeline dataflow's root scope.
    pub root: Option<usize>,
}

/// Derives the graphs of `run`.
pub fn derive(run: &Run) -> Derived {
    let mut d = Derived {
        helpers: vec![Vec::new(); run.stages.len()],
        ..Derived::default()
    };
    let stage_of_path: HashMap<&str, usize> = run
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.path.as_str(), i))
        .collect();
    let stage_of_op: HashMap<usize, usize> = run
        .operators
        .iter()
        .enumerate()
        .filter_map(|(i, o)| Some((i, *stage_of_path.get(o.stage_path.as_str())?)))
        .collect();
    // The pipeline's dataflow: the top-level scope holding stage operators.
    let root_addr = stage_of_op
        .keys()
        .next()
        .map(|&i| run.operators[i].address.split('.').next().unwrap_or(""));
    let Some(root_addr) = root_addr.filter(|_| !run.channels.is_empty()) else {
        d.stages = from_paths(run);
        return d;
    };
    d.root = run.operators.iter().position(|o| o.address == root_addr);
    let prefix = format!("{root_addr}.");
    let index_of_id: HashMap<u64, usize> = run
        .operators
        .iter()
        .enumerate()
        .filter(|(_, o)| o.address.starts_with(&prefix) && !o.is_scope)
        .map(|(i, o)| (o.id, i))
        .collect();
    // Out-channels per operator index.
    let mut out: HashMap<usize, Vec<usize>> = HashMap::new();
    for (ci, c) in run.channels.iter().enumerate() {
        if let (Some(&s), Some(_)) = (index_of_id.get(&c.source), index_of_id.get(&c.target)) {
            out.entry(s).or_default().push(ci);
        }
    }
    for v in out.values_mut() {
        v.sort_by_key(|&ci| (run.channels[ci].source_port, run.channels[ci].id));
    }
    let is_probe = |i: usize| run.operators[i].name == "Probe";

    // Operator graph: every operator of the dataflow, every channel.
    let mut op_nodes: Vec<usize> = index_of_id.values().copied().collect();
    op_nodes.sort_by_key(|&i| run.operators[i].id);
    let op_node: HashMap<usize, usize> =
        op_nodes.iter().enumerate().map(|(n, &i)| (i, n)).collect();
    d.operators.from_log = true;
    d.operators.nodes = op_nodes.iter().map(|&i| NodeKind::Operator(i)).collect();
    for c in &run.channels {
        if let (Some(s), Some(t)) = (index_of_id.get(&c.source), index_of_id.get(&c.target)) {
            d.operators.edges.push(Edge {
                from: op_node[s],
                to: op_node[t],
                records: Some(c.records_sent),
                exchange: c.exchange,
            });
        }
    }

    // Stage graph: follow each stage's (and each input's) out-channels
    // through non-stage operators to the next stages or the probe.
    let mut g = Graph {
        from_log: true,
        ..Graph::default()
    };
    g.nodes.push(NodeKind::Input);
    g.nodes.extend((0..run.stages.len()).map(NodeKind::Stage));
    g.nodes.push(NodeKind::End);
    let end_node = g.nodes.len() - 1;
    let mut edges: BTreeMap<(usize, usize), Edge> = BTreeMap::new();
    let mut reaches_on: HashSet<usize> = HashSet::new();
    let starts = op_nodes
        .iter()
        .copied()
        .filter(|&i| stage_of_op.contains_key(&i) || run.operators[i].name == "Input");
    for start in starts {
        let from = stage_of_op.get(&start).map_or(0, |s| s + 1);
        for &ci in out.get(&start).into_iter().flatten() {
            let first = &run.channels[ci];
            let mut queue = VecDeque::from([(index_of_id[&first.target], first.exchange)]);
            let mut seen = HashSet::new();
            let mut branch: Vec<usize> = Vec::new();
            let mut leads_on = false;
            while let Some((i, exchange)) = queue.pop_front() {
                if !seen.insert(i) {
                    continue;
                }
                let to = if let Some(&s) = stage_of_op.get(&i) {
                    Some(s + 1)
                } else if is_probe(i) {
                    Some(end_node)
                } else {
                    None
                };
                if let Some(to) = to {
                    leads_on = true;
                    let e = edges.entry((from, to)).or_insert(Edge {
                        from,
                        to,
                        records: Some(0),
                        exchange: false,
                    });
                    e.records = e.records.map(|r| r + first.records_sent);
                    e.exchange |= exchange;
                    continue;
                }
                branch.push(i);
                for &cj in out.get(&i).into_iter().flatten() {
                    let c = &run.channels[cj];
                    queue.push_back((index_of_id[&c.target], exchange || c.exchange));
                }
            }
            if leads_on {
                reaches_on.extend(branch);
            } else if let Some(&s) = stage_of_op.get(&start) {
                d.helpers[s].extend(branch);
            }
        }
    }
    // An operator on both a dead end and a through path is not a helper.
    for h in &mut d.helpers {
        h.retain(|i| !reaches_on.contains(i));
        h.sort_unstable();
        h.dedup();
    }
    g.edges = edges.into_values().collect();
    // Stages the log did not connect (no operator row): keep them visible.
    d.stages = if run
        .stages
        .iter()
        .enumerate()
        .all(|(s, _)| g.edges.iter().any(|e| e.to == s + 1 || e.from == s + 1))
    {
        g
    } else {
        from_paths(run)
    };
    d
}

/// The stage graph from the stage paths alone.
fn from_paths(run: &Run) -> Graph {
    let mut g = Graph::default();
    g.nodes.push(NodeKind::Input);
    g.nodes.extend((0..run.stages.len()).map(NodeKind::Stage));
    g.nodes.push(NodeKind::End);
    let end = g.nodes.len() - 1;
    let paths: Vec<&str> = run.stages.iter().map(|s| s.path.as_str()).collect();
    let node = |path: &str| paths.iter().position(|p| *p == path).map(|i| i + 1);
    // The direct children of a level `prefix` ("" or "a/then/"), in order.
    let children = |prefix: &str| -> Vec<usize> {
        paths
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.strip_prefix(prefix)
                    .is_some_and(|rest| !rest.contains('/'))
            })
            .map(|(i, _)| i)
            .collect()
    };
    // Connects `from` through the level at `prefix`; returns its last nodes.
    fn level(
        g: &mut Graph,
        prefix: &str,
        from: Vec<usize>,
        paths: &[&str],
        children: &dyn Fn(&str) -> Vec<usize>,
        node: &dyn Fn(&str) -> Option<usize>,
    ) -> Vec<usize> {
        let mut tails = from;
        for i in children(prefix) {
            let path = paths[i];
            let n = i + 1;
            for &t in &tails {
                g.edges.push(Edge {
                    from: t,
                    to: n,
                    records: None,
                    exchange: false,
                });
            }
            tails = vec![n];
            let merge = node(&format!("{path}/merge"));
            if let Some(merge) = merge {
                let mut joined = Vec::new();
                for branch in ["then", "else"] {
                    joined.extend(level(
                        g,
                        &format!("{path}/{branch}/"),
                        vec![n],
                        paths,
                        children,
                        node,
                    ));
                }
                for t in joined {
                    g.edges.push(Edge {
                        from: t,
                        to: merge,
                        records: None,
                        exchange: false,
                    });
                }
                tails = vec![merge];
            }
        }
        tails
    }
    // A merge (`a/merge`) is a child of no level: its if_else places it.
    let tails = level(&mut g, "", vec![0], &paths, &children, &node);
    for t in tails {
        g.edges.push(Edge {
            from: t,
            to: end,
            records: None,
            exchange: false,
        });
    }
    g
}
