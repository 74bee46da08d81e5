//! `tessera run`: run a model on inputs from files (or random ones) and save its outputs.

use crate::cli_util::{human_bytes, ms, sanitize_file_name, spinner, SessionArgs};
use crate::inputs;
use anyhow::Context;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tessera_ir::{DType, Tensor, Value};
use tessera_runtime::{io, Session};

/// Run a model and print (and optionally save) its outputs.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ONNX model.
    pub model: PathBuf,
    /// An input: `NAME=file.npy`, `file.npz` (arrays matched by name) or `file.npy` (for a
    /// single-input model). Repeatable. Without any, random inputs are generated.
    #[arg(long = "input", value_name = "SPEC")]
    pub inputs: Vec<String>,
    #[command(flatten)]
    pub session: SessionArgs,
    /// Write each output to `DIR/<name>.npy` (created if missing).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Seed for random inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Builds the session, gathers inputs, runs once, prints summaries and timings.
pub fn run(args: Args) -> anyhow::Result<()> {
    let options = args.session.options()?;
    let dims = options.dims.clone();
    let pb = spinner(format!("loading and compiling {}", args.model.display()));
    let built = Session::from_file(&args.model, options);
    pb.finish_and_clear();
    let session = built.with_context(|| format!("preparing {}", args.model.display()))?;

    let given = if args.inputs.is_empty() {
        let generated = inputs::random(session.inputs(), &dims, args.seed)?;
        if !generated.is_empty() {
            println!("random inputs (seed {}):", args.seed);
            for (name, t) in &generated {
                println!("  {name}: {}", t.summary());
            }
        }
        generated
    } else {
        inputs::load(&args.inputs, session.inputs())?
    };
    let values = given
        .into_iter()
        .map(|(n, t)| (n, Value::Tensor(t)))
        .collect();

    let pb = spinner("running");
    let result = session.run(values);
    pb.finish_and_clear();
    let outputs = result?;

    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut used = HashSet::new();
    println!("outputs:");
    for (name, value) in &outputs {
        print_and_save(name, value, args.output_dir.as_deref(), &mut used)?;
    }
    let t = session.timings();
    let load = t.load.map_or_else(|| "-".to_string(), ms);
    let first = t.first_run.map_or_else(|| "-".to_string(), ms);
    println!(
        "timings: load {load}, optimize {}, compile {}, first run {first}",
        ms(t.optimize),
        ms(t.compile)
    );
    let parts = &session.placement().parts;
    if parts.len() > 1 {
        let x = session.transfer_stats();
        println!(
            "{} parts on {}; between devices: {} zero-copy, {} staged through the host",
            parts.len(),
            session.placement().devices.join(", "),
            human_bytes(x.imported_bytes),
            human_bytes(x.staged_bytes)
        );
    }
    Ok(())
}

/// A file name for `name` in `dir` that no other output of this run uses.
fn unique_path(dir: &Path, name: &str, used: &mut HashSet<String>) -> PathBuf {
    let base = sanitize_file_name(name);
    let mut candidate = base.clone();
    let mut i = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{base}_{i}");
        i += 1;
    }
    dir.join(format!("{candidate}.npy"))
}

fn save(dir: Option<&Path>, name: &str, t: &Tensor, used: &mut HashSet<String>) -> anyhow::Result<String> {
    let Some(dir) = dir else {
        return Ok(String::new());
    };
    let path = unique_path(dir, name, used);
    // NumPy has no bfloat16; f32 holds every bf16 value exactly.
    let (t, note) = if t.dtype() == DType::BF16 {
        (t.cast(DType::F32), " (bf16 saved as f32)")
    } else {
        (t.clone(), "")
    };
    io::write_npy(&path, &t).with_context(|| format!("writing output '{name}'"))?;
    Ok(format!("  -> {}{note}", path.display()))
}

fn print_and_save(
    name: &str,
    value: &Value,
    dir: Option<&Path>,
    used: &mut HashSet<String>,
) -> anyhow::Result<()> {
    match value {
        Value::Tensor(t) => {
            let saved = save(dir, name, t, used)?;
            println!("  {name}: {}{saved}", t.summary());
        }
        Value::Sequence(items) => {
            println!("  {name}: sequence of {}", items.len());
            for (i, item) in items.iter().enumerate() {
                print_and_save(&format!("{name}_{i}"), item, dir, used)?;
            }
        }
        Value::Optional(None) => println!("  {name}: absent (optional)"),
        Value::Optional(Some(v)) => print_and_save(name, v, dir, used)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_do_not_collide() {
        let mut used = HashSet::new();
        let d = Path::new("out");
        assert_eq!(unique_path(d, "a/b", &mut used), d.join("a_b.npy"));
        assert_eq!(unique_path(d, "a:b", &mut used), d.join("a_b_2.npy"));
        assert_eq!(unique_path(d, "a_b", &mut used), d.join("a_b_3.npy"));
    }

    #[test]
    fn bf16_outputs_are_saved_as_f32() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tensor::from_vec(vec![1], vec![tessera_ir::half::bf16::from_f32(1.5)]).unwrap();
        let mut used = HashSet::new();
        let note = save(Some(dir.path()), "y", &t, &mut used).unwrap();
        assert!(note.contains("bf16 saved as f32"));
        let back = io::read_npy(&dir.path().join("y.npy")).unwrap();
        assert_eq!(back, Tensor::from_vec(vec![1], vec![1.5f32]).unwrap());
    }
}
