//! The stage graph of a pipeline, as `list` prints it and the builder checks it.

use crate::base::StageKind;
use crate::table::Table;

/// One stage of a pipeline; `if_else` stages hold their branches.
#[derive(Debug, Clone, PartialEq)]
pub struct StageNode {
    pub name: String,
    pub kind: StageKind,
    /// `(branch name, stages)`: `then` and `else` for an `if_else`.
    pub branches: Vec<(String, Vec<StageNode>)>,
    /// The table a `collect` stage keeps its records in.
    pub table: Option<Table>,
}

impl StageNode {
    pub(crate) fn leaf(name: &str, kind: StageKind) -> StageNode {
        StageNode {
            name: name.to_string(),
            kind,
            branches: Vec::new(),
            table: None,
        }
    }
}

/// Every table the stages of `nodes` keep records in, branches included.
pub fn tables(nodes: &[StageNode]) -> Vec<Table> {
    let mut out: Vec<Table> = Vec::new();
    for n in nodes {
        if let Some(t) = &n.table
            && !out.contains(t)
        {
            out.push(t.clone());
        }
        for (_, children) in &n.branches {
            for t in tables(children) {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
    }
    out
}

/// Every stage path (`if_order/then/hash_email`) of `nodes`, depth first.
pub fn paths(nodes: &[StageNode]) -> Vec<String> {
    fn walk(prefix: &str, nodes: &[StageNode], out: &mut Vec<String>) {
        for n in nodes {
            let path = format!("{prefix}{}", n.name);
            out.push(path.clone());
            for (branch, children) in &n.branches {
                walk(&format!("{path}/{branch}/"), children, out);
            }
            if !n.branches.is_empty() {
                out.push(format!("{path}/merge"));
            }
        }
    }
    let mut out = Vec::new();
    walk("", nodes, &mut out);
    out
}

/// Renders the graph as an indented tree, one stage per line.
pub fn render(nodes: &[StageNode], indent: usize, out: &mut String) {
    for n in nodes {
        out.push_str(&format!("{:indent$}{} ({})\n", "", n.name, n.kind.as_str()));
        for (branch, children) in &n.branches {
            out.push_str(&format!("{:w$}{branch}:\n", "", w = indent + 2));
            render(children, indent + 4, out);
        }
    }
}
