//! [`CaseRunner`] on the Tessera runtime: each case is a `tessera_runtime::Session` on the
//! requested devices, with fallback off, so a node no listed device supports makes the case
//! *unsupported* instead of silently running elsewhere.

use std::path::Path;

use tessera_ir::Value;
use tessera_runtime::{DecomposePolicy, IoInfo, Session, SessionOptions};

use crate::runner::{BoxError, CaseRunner, IoSpec, PreparedCase};

/// Runs cases through `tessera_runtime::Session`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeRunner {
    /// Device preference list, e.g. `["cpu"]`.
    pub devices: Vec<String>,
    /// Refuse nodes that no listed device supports (default `true`: a conformance run must
    /// not fall back behind the device's back).
    pub no_fallback: bool,
    /// Run the graph optimizations, as a normal session does (default `true`).
    pub optimize: bool,
    /// When composite ops are decomposed (default [`DecomposePolicy::Auto`], as a normal
    /// session does; [`DecomposePolicy::All`] checks the decompositions against the
    /// reference outputs).
    pub decompose: DecomposePolicy,
}

impl RuntimeRunner {
    /// A runner on `devices` with fallback off and optimizations on.
    pub fn new(devices: Vec<String>) -> RuntimeRunner {
        RuntimeRunner {
            devices,
            no_fallback: true,
            optimize: true,
            decompose: DecomposePolicy::Auto,
        }
    }
}

impl CaseRunner for RuntimeRunner {
    fn device(&self) -> String {
        self.devices.join(",")
    }

    fn prepare(&self, model: &Path) -> Result<Box<dyn PreparedCase>, BoxError> {
        let opts = SessionOptions {
            devices: self.devices.clone(),
            no_fallback: self.no_fallback,
            optimize: self.optimize,
            decompose: self.decompose,
            ..SessionOptions::default()
        };
        let session = Session::from_file(model, opts)?;
        let specs = |infos: &[IoInfo]| -> Vec<IoSpec> {
            infos
                .iter()
                .map(|i| IoSpec {
                    name: i.name.clone(),
                    ty: i.ty.clone(),
                })
                .collect()
        };
        Ok(Box::new(RuntimeCase {
            inputs: specs(session.inputs()),
            outputs: specs(session.outputs()),
            session,
        }))
    }
}

/// A loaded session.
struct RuntimeCase {
    session: Session,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
}

impl PreparedCase for RuntimeCase {
    fn inputs(&self) -> &[IoSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[IoSpec] {
        &self.outputs
    }

    fn run(&self, inputs: Vec<(String, Value)>) -> Result<Vec<(String, Value)>, BoxError> {
        Ok(self.session.run(inputs)?)
    }
}
