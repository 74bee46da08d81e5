//! The C API from C: the example and the checks compiled with `cc` against the built
//! `libtessera.so`; the committed header and symbol list checked against the source.

use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn repo_root() -> PathBuf {
    crate_dir().join("../..")
}

/// The directory holding the `libtessera.so` built with this test (the profile's directory,
/// next to `deps/` where this test binary lives).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary's directory");
    for dir in [deps.parent().unwrap_or(deps), deps] {
        if dir.join("libtessera.so").exists() {
            return dir.to_path_buf();
        }
    }
    panic!(
        "libtessera.so not found next to {}: build the crate's cdylib first (cargo build -p tessera-capi)",
        deps.display()
    );
}

/// Compiles `source` against the header and the shared library, or `None` (with the reason
/// printed) when there is no C compiler.
fn compile(source: &Path, name: &str) -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    if Command::new(&cc).arg("--version").output().is_err() {
        println!("skipped: no C compiler ('{cc}') on this machine");
        return None;
    }
    let lib = lib_dir();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let result = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(source)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-ltessera")
        .output()
        .expect("running the C compiler");
    assert!(
        result.status.success(),
        "compiling {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&result.stderr)
    );
    Some(out)
}

fn model() -> PathBuf {
    repo_root().join("examples/tiny_cnn/model.onnx")
}

#[test]
fn c_example_matches_the_rust_api() {
    let Some(exe) = compile(&repo_root().join("examples/c/run_model.c"), "run_model") else {
        return;
    };
    let input = repo_root().join("examples/tiny_cnn/input.npy");
    let out = Command::new(&exe)
        .arg(model())
        .arg(&input)
        .output()
        .expect("running run_model");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "run_model failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    use tessera_ir::Value;
    use tessera_runtime::{Session, SessionOptions};
    let session = Session::from_file(model(), SessionOptions::default()).expect("session");
    let x = tessera_runtime::io::read_npy(&input).expect("input.npy");
    let outputs = session
        .run(vec![("image".into(), Value::Tensor(x))])
        .expect("run");
    let probs = outputs[0].1.as_tensor().expect("a tensor");
    let (rows, cols) = (probs.shape()[0], probs.shape()[1]);
    let data = probs.as_slice::<f32>().expect("f32");
    let argmax: Vec<String> = (0..rows)
        .map(|r| {
            let row = &data[r * cols..(r + 1) * cols];
            let mut best = 0;
            for j in 1..cols {
                if row[j] > row[best] {
                    best = j;
                }
            }
            best.to_string()
        })
        .collect();
    let expected = format!(
        "{} shape [{rows}, {cols}]\nargmax {}\n",
        outputs[0].0,
        argmax.join(" ")
    );
    assert_eq!(stdout, expected);
}

#[test]
fn c_checks_pass() {
    let source = crate_dir().join("tests/c/api_checks.c");
    let Some(exe) = compile(&source, "api_checks") else {
        return;
    };
    let out = Command::new(&exe)
        .arg(model())
        .output()
        .expect("running api_checks");
    assert!(
        out.status.success(),
        "api_checks failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The header cbindgen generates from the source now.
fn generated_header() -> String {
    let config = cbindgen::Config::from_file(crate_dir().join("cbindgen.toml"))
        .expect("reading cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir())
        .with_config(config)
        .generate()
        .expect("generating the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn header_is_current() {
    let path = crate_dir().join("include/tessera.h");
    let fresh = generated_header();
    if std::env::var_os("TESSERA_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("writing the header");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale: the C API changed. Regenerate it with\n  \
         TESSERA_BLESS=1 cargo test -p tessera-capi --test capi header_is_current\n\
         and commit it.",
        path.display()
    );
}

/// The committed symbol list.
fn listed_symbols() -> Vec<String> {
    let text = std::fs::read_to_string(crate_dir().join("symbols.txt")).expect("symbols.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

const UPDATE: &str =
    "If the change to the C API is intended, update crates/tessera-capi/symbols.txt \
     (one symbol a line, sorted) and commit it: removing or renaming a symbol breaks every \
     program built against the library.";

#[test]
fn header_declares_the_listed_symbols() {
    let header = std::fs::read_to_string(crate_dir().join("include/tessera.h")).expect("header");
    // Every `tessera_name(` in the header: declarations (and calls named in comments).
    let mut declared: Vec<String> = header
        .match_indices("tessera_")
        .filter_map(|(at, _)| {
            let rest = &header[at..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            rest[end..]
                .starts_with('(')
                .then(|| rest[..end].to_string())
        })
        .collect();
    declared.sort();
    declared.dedup();
    assert_eq!(
        declared,
        listed_symbols(),
        "the header's functions differ from symbols.txt. {UPDATE}"
    );
}

#[test]
fn library_exports_the_listed_symbols() {
    let so = lib_dir().join("libtessera.so");
    let Ok(out) = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
    else {
        println!("skipped: no 'nm' on this machine (the header's functions are still checked)");
        return;
    };
    assert!(
        out.status.success(),
        "nm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut exported: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|s| s.starts_with("tessera_"))
        .map(String::from)
        .collect();
    exported.sort();
    assert_eq!(
        exported,
        listed_symbols(),
        "{} exports other symbols than symbols.txt lists. {UPDATE}",
        so.display()
    );
}
