//! `tessera inspect`: what a model contains and where each of its nodes would run, including
//! which composite ops were decomposed into primitives for a device (and, in the refusals of
//! those kept fused, why their decomposition was not used).

use crate::cli_util::{grouped, human_bytes, ms, spinner, SessionArgs};
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tessera_ir::Graph;
use tessera_onnx::Model;
use tessera_runtime::{Placement, Session};

/// Show a model's inputs, outputs, opsets, op histograms, parameters and device placement.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    #[command(flatten)]
    pub session: SessionArgs,
    /// Print the graph in Tessera's IR text form (after optimization when the session could
    /// be built, as imported otherwise).
    #[arg(long)]
    pub ir: bool,
    /// Write the placed graph in Graphviz form to this file: nodes coloured by device, parts
    /// boxed, transfers between devices marked.
    #[arg(long, value_name = "FILE")]
    pub dot: Option<PathBuf>,
    /// Also render the `--dot` file as SVG (same path, `.svg` extension) with Graphviz's
    /// `dot`, which must be installed.
    #[arg(long, requires = "dot")]
    pub svg: bool,
}

/// Loads the model, prints what it is, then builds a session to show the placement.
pub fn run(args: Args) -> anyhow::Result<()> {
    let options = args.session.options()?;
    let pb = spinner(format!("loading {}", args.model.display()));
    let t = Instant::now();
    let loaded = tessera_onnx::load_model_file(&args.model);
    pb.finish_and_clear();
    let model = loaded.with_context(|| format!("loading {}", args.model.display()))?;
    let load_time = t.elapsed();
    print_model(&args, &model);

    let pb = spinner("optimizing, partitioning and compiling");
    let built = Session::from_model(model.clone(), options);
    pb.finish_and_clear();
    let session = match built {
        Ok(s) => s,
        Err(e) => {
            if args.ir {
                println!("\n{}", tessera_ir::dump(&model.graph));
            }
            return Err(e).context("building a session");
        }
    };
    println!();
    print_placement(session.placement());
    let t = session.timings();
    println!(
        "\ntimings: load {}, optimize {}, partition {}, compile {}",
        ms(load_time),
        ms(t.optimize),
        ms(t.partition),
        ms(t.compile)
    );
    if args.ir {
        println!("\n{}", tessera_ir::dump(session.graph()));
    }
    if let Some(path) = &args.dot {
        write_dot(path, args.svg, &session)?;
    }
    Ok(())
}

/// Writes the placement as DOT to `path`, and renders it to SVG next to it when asked.
fn write_dot(path: &Path, svg: bool, session: &Session) -> anyhow::Result<()> {
    let text = tessera_runtime::placement_dot(session.graph(), session.placement());
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("\ngraph written to {}", path.display());
    if svg {
        let out = path.with_extension("svg");
        let status = std::process::Command::new("dot")
            .arg("-Tsvg")
            .arg(path)
            .arg("-o")
            .arg(&out)
            .status();
        match status {
            Ok(s) if s.success() => println!("rendered to {}", out.display()),
            Ok(s) => anyhow::bail!("Graphviz `dot` failed ({s}) rendering {}", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "--svg needs Graphviz's `dot` on PATH (install the graphviz package); \
                 the DOT file {} was written",
                path.display()
            ),
            Err(e) => return Err(e).context("running Graphviz `dot`"),
        }
    }
    Ok(())
}

fn print_model(args: &Args, m: &Model) {
    println!("model: {}", args.model.display());
    if !m.producer.is_empty() {
        println!("producer: {}", m.producer);
    }
    println!("ONNX IR version: {}", m.ir_version);
    let opsets: Vec<String> = m
        .opsets
        .iter()
        .map(|(d, v)| format!("{} {v}", if d.is_empty() { "ai.onnx" } else { d }))
        .collect();
    println!("opsets: {}", opsets.join(", "));
    let g = &m.graph;
    println!("inputs:");
    for &i in &g.inputs {
        println!("  {}: {}", g.name_of(i), type_text(g, i));
    }
    println!("outputs:");
    for &o in &g.outputs {
        println!("  {}: {}", g.name_of(o), type_text(g, o));
    }
    let (count, bytes, tensors) = parameters(g);
    println!(
        "parameters: {} ({}) in {} constant tensor(s)",
        grouped(count),
        human_bytes(bytes),
        grouped(tensors)
    );
    let mut source: BTreeMap<String, usize> = BTreeMap::new();
    for s in &m.source_ops {
        let key = if s.domain.is_empty() || s.domain == "ai.onnx" {
            s.op_type.clone()
        } else {
            format!("{}.{}", s.domain, s.op_type)
        };
        *source.entry(key).or_default() += 1;
    }
    println!(
        "ONNX ops ({} nodes): {}",
        m.source_ops.len(),
        histogram(&source)
    );
    let mut canonical: BTreeMap<String, usize> = BTreeMap::new();
    count_ops(g, &mut canonical);
    println!(
        "Tessera ops ({} nodes, subgraphs included): {}",
        g.node_count_deep(),
        histogram(&canonical)
    );
}

fn type_text(g: &Graph, id: tessera_ir::ValueId) -> String {
    g.value(id)
        .ty
        .as_ref()
        .map_or_else(|| "?".to_string(), |t| t.to_string())
}

/// Element count, bytes and number of constant tensors, subgraphs included.
fn parameters(g: &Graph) -> (u64, u64, u64) {
    let mut acc = (0u64, 0u64, 0u64);
    for t in g.constants.values() {
        acc.0 += t.len() as u64;
        acc.1 += t.byte_len() as u64;
        acc.2 += 1;
    }
    for n in &g.nodes {
        for sub in n.op.subgraphs() {
            let s = parameters(sub);
            acc = (acc.0 + s.0, acc.1 + s.1, acc.2 + s.2);
        }
    }
    acc
}

fn count_ops(g: &Graph, out: &mut BTreeMap<String, usize>) {
    for n in &g.nodes {
        *out.entry(n.op.name()).or_default() += 1;
        for sub in n.op.subgraphs() {
            count_ops(sub, out);
        }
    }
}

/// `Conv 53, Relu 49, Add 16` — most frequent first, ties by name.
fn histogram(h: &BTreeMap<String, usize>) -> String {
    let mut v: Vec<(&String, &usize)> = h.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if v.is_empty() {
        return "none".to_string();
    }
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_placement(p: &Placement) {
    println!("devices: {}", p.devices.join(", "));
    for d in &p.devices {
        println!("  {d}: {} node(s)", p.count_on(d));
    }
    println!("parts:");
    if p.parts.is_empty() {
        println!("  none (the graph has no nodes)");
    }
    for part in &p.parts {
        println!(
            "  {} on {}: nodes {}..{} ({} inputs, {} outputs)",
            part.name,
            part.device,
            part.nodes.start,
            part.nodes.end,
            part.inputs.len(),
            part.outputs.len()
        );
        for c in part.receives.iter().filter(|c| c.from.is_some()) {
            let size = c
                .bytes
                .map_or_else(|| "size known at run time".into(), |n| human_bytes(n as u64));
            println!(
                "    receives '{}' ({size}) from {}",
                c.value,
                c.from.as_deref().unwrap_or("the caller")
            );
        }
    }
    if p.nodes.is_empty() {
        return;
    }
    println!("nodes:");
    let nw = p.nodes.iter().map(|n| n.node.chars().count()).max().unwrap_or(0);
    let ow = p.nodes.iter().map(|n| n.op.len()).max().unwrap_or(0);
    for n in &p.nodes {
        let mut line = format!("  {:<nw$}  {:<ow$}  {}", n.node, n.op, n.device);
        for r in &n.refusals {
            line.push_str(&format!("  [{} refused: {}]", r.device, r.reason));
        }
        println!("{}", line.trim_end());
    }
    if !p.decomposed.is_empty() {
        println!("decomposed:");
        for d in &p.decomposed {
            println!(
                "  {} ({}) → {} primitive{} on {}: {}",
                d.node,
                d.op,
                d.nodes.len(),
                if d.nodes.len() == 1 { "" } else { "s" },
                d.device,
                d.nodes.join(", ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_sort_by_count() {
        let h = BTreeMap::from([("Relu".to_string(), 2), ("Add".to_string(), 2), ("Conv".to_string(), 5)]);
        assert_eq!(histogram(&h), "Conv 5, Add 2, Relu 2");
        assert_eq!(histogram(&BTreeMap::new()), "none");
    }
}
