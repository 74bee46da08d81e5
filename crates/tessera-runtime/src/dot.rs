//! Graphviz rendering of a placement: every node coloured by the device it runs on, each part
//! (the subgraph one device compiles) drawn as a box, and every edge that crosses from one
//! device to another marked as a transfer.
//!
//! The output is plain DOT text; `dot -Tsvg graph.dot -o graph.svg` renders it. A legend lists
//! the devices with their colours and node counts. Constants are not drawn (they are folded
//! into the part that reads them); graph inputs and outputs are drawn as ellipses. The
//! primitive nodes that replace a decomposed composite op sit in a dashed box inside their
//! part, labelled with the composite's name and op, and each says so in its tooltip.

use crate::partition::Placement;
use std::collections::HashMap;
use std::fmt::Write;
use tessera_ir::{Graph, ValueId};

/// Fill colours for devices, in preference order (colour-blind-safe pastel palette); a list
/// longer than the palette wraps around.
const PALETTE: &[&str] = &[
    "#a6cee3", "#fdbf6f", "#b2df8a", "#fb9a99", "#cab2d6", "#ffff99", "#8dd3c7", "#d9d9d9",
];

/// Escapes a string for use inside a double-quoted DOT identifier or label.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The DOT text for `graph` placed as `placement` says.
///
/// `placement` must come from partitioning this very graph (as [`Session::placement`] and
/// [`Session::graph`] do); nodes the placement does not cover are drawn grey.
///
/// [`Session::placement`]: crate::Session::placement
/// [`Session::graph`]: crate::Session::graph
pub fn placement_dot(graph: &Graph, placement: &Placement) -> String {
    let colour = |device: &str| {
        placement
            .devices
            .iter()
            .position(|d| d == device)
            .map(|i| PALETTE[i % PALETTE.len()])
            .unwrap_or("#eeeeee")
    };
    // Which part each node belongs to, and the device of each node.
    let mut part_of: Vec<Option<usize>> = vec![None; graph.nodes.len()];
    for (p, part) in placement.parts.iter().enumerate() {
        for n in part.nodes.clone() {
            if let Some(slot) = part_of.get_mut(n) {
                *slot = Some(p);
            }
        }
    }
    let device_of = |n: usize| placement.nodes.get(n).map(|p| p.device.as_str());

    let mut s = String::new();
    let _ = writeln!(s, "digraph \"{}\" {{", esc(&graph.name));
    let _ = writeln!(s, "  rankdir=TB;");
    let _ = writeln!(
        s,
        "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];"
    );
    let _ = writeln!(s, "  edge [fontname=\"Helvetica\", fontsize=8];");

    // Graph inputs and outputs.
    for &v in &graph.inputs {
        let _ = writeln!(
            s,
            "  \"in:{}\" [label=\"{}\", shape=ellipse, style=solid];",
            v.0,
            esc(graph.name_of(v))
        );
    }
    for &v in &graph.outputs {
        let _ = writeln!(
            s,
            "  \"out:{}\" [label=\"{}\", shape=ellipse, style=solid];",
            v.0,
            esc(graph.name_of(v))
        );
    }

    // Which decomposition (index into `placement.decomposed`) each node comes from.
    let mut from: HashMap<&str, usize> = HashMap::new();
    for (d, dec) in placement.decomposed.iter().enumerate() {
        for n in &dec.nodes {
            from.insert(n.as_str(), d);
        }
    }
    let origin = |n: usize| from.get(graph.nodes[n].name.as_str()).copied();

    // Parts as clusters, nodes inside them.
    let node_line = |s: &mut String, n: usize, indent: &str| {
        let node = &graph.nodes[n];
        let fill = device_of(n).map(colour).unwrap_or("#eeeeee");
        let tooltip = match origin(n).and_then(|d| placement.decomposed.get(d)) {
            Some(d) => format!(
                ", tooltip=\"decomposed from {} ({})\"",
                esc(&d.node),
                esc(&d.op)
            ),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "{indent}\"n{n}\" [label=\"{}\\n{}\", fillcolor=\"{fill}\"{tooltip}];",
            esc(&node.op.name()),
            esc(&node.name)
        );
    };
    for (p, part) in placement.parts.iter().enumerate() {
        let _ = writeln!(s, "  subgraph \"cluster_{p}\" {{");
        let _ = writeln!(
            s,
            "    label=\"{} on {}\"; style=\"rounded,dashed\"; color=\"{}\";",
            esc(&part.name),
            esc(&part.device),
            colour(&part.device)
        );
        // Consecutive nodes of one decomposition share a dashed box.
        let mut open: Option<usize> = None;
        for n in part.nodes.clone() {
            if n >= graph.nodes.len() {
                continue;
            }
            let d = origin(n);
            if open.is_some() && open != d {
                let _ = writeln!(s, "    }}");
                open = None;
            }
            if let (None, Some(d)) = (open, d) {
                let dec = &placement.decomposed[d];
                let _ = writeln!(s, "    subgraph \"cluster_{p}_decomposed_{d}\" {{");
                let _ = writeln!(
                    s,
                    "      label=\"{} ({}) decomposed\"; style=dashed; color=\"#666666\";",
                    esc(&dec.node),
                    esc(&dec.op)
                );
                open = Some(d);
            }
            let indent = if open.is_some() { "      " } else { "    " };
            node_line(&mut s, n, indent);
        }
        if open.is_some() {
            let _ = writeln!(s, "    }}");
        }
        let _ = writeln!(s, "  }}");
    }
    for (n, p) in part_of.iter().enumerate() {
        if p.is_none() {
            node_line(&mut s, n, "  ");
        }
    }

    // Edges: producer node (or graph input) → consumer node (or graph output).
    let mut producer: HashMap<ValueId, usize> = HashMap::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        for v in node.output_ids() {
            producer.insert(v, i);
        }
    }
    let is_input = |v: ValueId| graph.inputs.contains(&v);
    let edge = |s: &mut String, from: String, to: String, v: ValueId, crossing: Option<String>| {
        let name = esc(graph.name_of(v));
        match crossing {
            Some(what) => {
                let _ = writeln!(
                    s,
                    "  \"{from}\" -> \"{to}\" [label=\"{name}\\n{}\", color=\"#d62728\", \
                     fontcolor=\"#d62728\", penwidth=2, style=bold];",
                    esc(&what)
                );
            }
            None => {
                let _ = writeln!(s, "  \"{from}\" -> \"{to}\" [label=\"{name}\"];");
            }
        }
    };
    let transfer = |from: Option<&str>, to: Option<&str>| match (from, to) {
        (Some(a), Some(b)) if a != b => Some(format!("transfer {a} → {b}")),
        _ => None,
    };
    for (i, node) in graph.nodes.iter().enumerate() {
        for v in node.input_ids() {
            if let Some(&p) = producer.get(&v) {
                let crossing = transfer(device_of(p), device_of(i));
                edge(&mut s, format!("n{p}"), format!("n{i}"), v, crossing);
            } else if is_input(v) {
                edge(&mut s, format!("in:{}", v.0), format!("n{i}"), v, None);
            }
        }
    }
    for &v in &graph.outputs {
        if let Some(&p) = producer.get(&v) {
            edge(&mut s, format!("n{p}"), format!("out:{}", v.0), v, None);
        } else if is_input(v) {
            edge(
                &mut s,
                format!("in:{}", v.0),
                format!("out:{}", v.0),
                v,
                None,
            );
        }
    }

    // Legend: one swatch per device with its node count.
    let _ = writeln!(s, "  subgraph \"cluster_legend\" {{");
    let _ = writeln!(s, "    label=\"devices\"; style=solid; color=\"#999999\";");
    for (i, d) in placement.devices.iter().enumerate() {
        let n = placement.count_on(d);
        let _ = writeln!(
            s,
            "    \"legend:{i}\" [label=\"{} ({n} node{})\", fillcolor=\"{}\"];",
            esc(d),
            if n == 1 { "" } else { "s" },
            colour(d)
        );
    }
    let _ = writeln!(s, "  }}");
    let _ = writeln!(s, "}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::{NodePlacement, PartInfo};
    use tessera_ir::op::UnaryOp;
    use tessera_ir::{DType, Op, TensorType, ValueType};

    /// x → Relu(a) → Relu(b) → y, with `a` on device A and `b` on device B.
    fn two_device_chain() -> (Graph, Placement) {
        let mut g = Graph::new("chain \"quoted\"");
        let ty = Some(ValueType::Tensor(TensorType::known(DType::F32, &[2])));
        let x = g.add_value("x", ty.clone());
        let h = g.add_value("h", ty.clone());
        let y = g.add_value("y", ty);
        g.inputs.push(x);
        g.outputs.push(y);
        g.add_node("a", Op::Unary(UnaryOp::Relu), vec![Some(x)], vec![Some(h)]);
        g.add_node("b", Op::Unary(UnaryOp::Relu), vec![Some(h)], vec![Some(y)]);
        let place = |node: &str, device: &str| NodePlacement {
            node: node.into(),
            op: "Relu".into(),
            device: device.into(),
            refusals: vec![],
        };
        let part = |name: &str, device: &str, n: usize| PartInfo {
            name: name.into(),
            device: device.into(),
            nodes: n..n + 1,
            inputs: vec![],
            outputs: vec![],
            receives: vec![],
        };
        let p = Placement {
            devices: vec!["A".into(), "B".into()],
            nodes: vec![place("a", "A"), place("b", "B")],
            parts: vec![part("chain.0", "A", 0), part("chain.1", "B", 1)],
            ..Placement::default()
        };
        (g, p)
    }

    #[test]
    fn colours_boxes_and_transfers() {
        let (g, p) = two_device_chain();
        let dot = placement_dot(&g, &p);
        assert!(
            dot.starts_with("digraph \"chain \\\"quoted\\\"\" {"),
            "{dot}"
        );
        // One cluster per part, plus the legend.
        assert_eq!(dot.matches("subgraph \"cluster_").count(), 3, "{dot}");
        // Nodes are coloured by their device.
        assert!(dot.contains(&format!(
            "\"n0\" [label=\"Relu\\na\", fillcolor=\"{}\"]",
            PALETTE[0]
        )));
        assert!(dot.contains(&format!(
            "\"n1\" [label=\"Relu\\nb\", fillcolor=\"{}\"]",
            PALETTE[1]
        )));
        // The A → B edge is a transfer; the input and output edges are not.
        let transfers: Vec<&str> = dot.lines().filter(|l| l.contains("transfer")).collect();
        assert_eq!(transfers.len(), 1, "{dot}");
        assert!(transfers[0].contains("\"n0\" -> \"n1\""));
        assert!(transfers[0].contains("transfer A → B"));
        assert!(dot.contains("\"in:0\" -> \"n0\""));
        assert!(dot.contains("\"n1\" -> \"out:2\""));
        assert!(dot.contains("A (1 node)") && dot.contains("B (1 node)"));
        assert!(dot.trim_end().ends_with('}'));
        assert!(!dot.contains("decomposed"), "{dot}");
    }

    #[test]
    fn decomposed_nodes_share_a_dashed_box() {
        let (mut g, mut p) = two_device_chain();
        // Pretend both Relu nodes replaced a composite "ln" placed on A.
        p.nodes[1].device = "A".into();
        p.parts = vec![PartInfo {
            name: "chain".into(),
            device: "A".into(),
            nodes: 0..2,
            inputs: vec![],
            outputs: vec![],
            receives: vec![],
        }];
        g.nodes[0].name = "ln/0_Relu".into();
        g.nodes[1].name = "ln/1_Relu".into();
        p.decomposed = vec![crate::decompose::Decomposed {
            node: "ln".into(),
            op: "LayerNorm".into(),
            device: "A".into(),
            nodes: vec!["ln/0_Relu".into(), "ln/1_Relu".into()],
        }];
        let dot = placement_dot(&g, &p);
        assert_eq!(
            dot.matches("subgraph \"cluster_0_decomposed_0\"").count(),
            1,
            "{dot}"
        );
        assert!(dot.contains("label=\"ln (LayerNorm) decomposed\""), "{dot}");
        assert_eq!(
            dot.matches("tooltip=\"decomposed from ln (LayerNorm)\"")
                .count(),
            2,
            "{dot}"
        );
        // Braces balance.
        assert_eq!(dot.matches('{').count(), dot.matches('}').count(), "{dot}");
    }
}
