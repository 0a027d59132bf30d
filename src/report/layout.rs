//! A layered layout for small directed graphs, top to bottom: each node's
//! layer is its longest path from a source; edges spanning several layers
//! pass through placeholder points so they keep their own column; nodes in a
//! layer are ordered by the mean position of their neighbours (a few sweeps
//! down and up), which keeps `then` and `else` branches side by side.

/// Where each node and edge goes, in layout units (columns and layers).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Per node: (column, layer). Columns are centred on 0 and may be halves.
    pub nodes: Vec<(f64, usize)>,
    /// Per edge: the points it passes, from its source to its target.
    pub edges: Vec<Vec<(f64, usize)>>,
    pub layers: usize,
    /// The widest layer's node count.
    pub width: usize,
}

/// Lays out `n` nodes joined by `edges` (`from`, `to`).
pub fn layered(n: usize, edges: &[(usize, usize)]) -> Layout {
    // Layers: longest path from a source (edges against the order of a
    // depth-first visit are ignored, so a cycle cannot loop forever).
    let mut layer = vec![0usize; n];
    let order = topological(n, edges);
    let position: Vec<usize> = {
        let mut p = vec![0; n];
        for (i, &v) in order.iter().enumerate() {
            p[v] = i;
        }
        p
    };
    for &v in &order {
        for &(a, b) in edges {
            if a == v && position[b] > position[a] {
                layer[b] = layer[b].max(layer[a] + 1);
            }
        }
    }
    let layers = layer.iter().max().map_or(0, |m| m + 1);
    // Placeholder points for long edges: ids n.. .
    let mut slot_layer = layer.clone();
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(edges.len());
    let mut links: Vec<(usize, usize)> = Vec::new();
    for &(a, b) in edges {
        let mut chain = vec![a];
        if position[b] > position[a] {
            for l in layer[a] + 1..layer[b] {
                slot_layer.push(l);
                chain.push(slot_layer.len() - 1);
            }
        }
        chain.push(b);
        for w in chain.windows(2) {
            links.push((w[0], w[1]));
        }
        chains.push(chain);
    }
    let slots = slot_layer.len();
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers.max(1)];
    for (v, &l) in slot_layer.iter().enumerate() {
        rows[l].push(v);
    }
    let mut pos = vec![0f64; slots];
    let place = |rows: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
        for row in rows {
            for (i, &v) in row.iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    };
    place(&rows, &mut pos);
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); slots];
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); slots];
    for &(a, b) in &links {
        if slot_layer[b] > slot_layer[a] {
            up[b].push(a);
            down[a].push(b);
        }
    }
    for sweep in 0..6 {
        let (range, neighbours): (Vec<usize>, &Vec<Vec<usize>>) = if sweep % 2 == 0 {
            ((1..rows.len()).collect(), &up)
        } else {
            ((0..rows.len().saturating_sub(1)).rev().collect(), &down)
        };
        for l in range {
            let mut keyed: Vec<(f64, usize)> = rows[l]
                .iter()
                .map(|&v| {
                    let ns = &neighbours[v];
                    let key = if ns.is_empty() {
                        pos[v]
                    } else {
                        ns.iter().map(|&u| pos[u]).sum::<f64>() / ns.len() as f64
                    };
                    (key, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            rows[l] = keyed.into_iter().map(|(_, v)| v).collect();
            place(&rows, &mut pos);
        }
    }
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    // Centre each layer on column 0.
    let mut col = vec![0f64; slots];
    for row in &rows {
        let half = (row.len() as f64 - 1.0) / 2.0;
        for (i, &v) in row.iter().enumerate() {
            col[v] = i as f64 - half;
        }
    }
    Layout {
        nodes: (0..n).map(|v| (col[v], layer[v])).collect(),
        edges: chains
            .iter()
            .map(|c| c.iter().map(|&v| (col[v], slot_layer[v])).collect())
            .collect(),
        layers,
        width,
    }
}

/// Nodes in depth-first post-order reversed (a topological order when the
/// graph has no cycle), starting from nodes without incoming edges.
fn topological(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0; n];
    for &(a, b) in edges {
        out_edges[a].push(b);
        indegree[b] += 1;
    }
    let mut state = vec![0u8; n];
    let mut post = Vec::with_capacity(n);
    let roots = (0..n).filter(|&v| indegree[v] == 0).chain(0..n);
    for root in roots {
        if state[root] != 0 {
            continue;
        }
        // Iterative DFS: (node, next child index).
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&c) = out_edges[v].get(*next) {
                *next += 1;
                if state[c] == 0 {
                    state[c] = 1;
                    stack.push((c, 0));
                }
            } else {
                state[v] = 2;
                post.push(v);
                stack.pop();
            }
        }
    }
    post.reverse();
    post
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_is_one_column() {
        let l = layered(4, &[(0, 1), (1, 2), (2, 3)]);
        assert_eq!(l.nodes, vec![(0.0, 0), (0.0, 1), (0.0, 2), (0.0, 3)]);
        assert_eq!(l.width, 1);
    }

    #[test]
    fn branches_sit_side_by_side_and_join() {
        // 0 → 1 → {2 → 3, 4} → 5: the short branch's edge to the join
        // passes a placeholder, so both branches keep their column.
        let l = layered(6, &[(0, 1), (1, 2), (2, 3), (1, 4), (3, 5), (4, 5)]);
        assert_eq!(l.nodes[5].1, 4);
        assert_eq!(l.nodes[2].1, l.nodes[4].1);
        assert_ne!(l.nodes[2].0, l.nodes[4].0);
        let long = &l.edges[5];
        assert_eq!(long.len(), 3, "{long:?}");
        assert_eq!(
            long[1].0, l.nodes[4].0,
            "the placeholder stays in 4's column"
        );
        assert_eq!(l.width, 2);
    }

    #[test]
    fn a_cycle_does_not_hang() {
        let l = layered(3, &[(0, 1), (1, 2), (2, 1)]);
        assert_eq!(l.nodes.len(), 3);
    }
}
