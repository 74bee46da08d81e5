//! [`Session`]: a model loaded, optimized, partitioned over devices and compiled, ready to
//! run any number of times (from several threads at once).

use crate::binding::{ExternalTensor, IoBinding};
use crate::error::RuntimeError;
use crate::execute::{Compiled, Part};
use crate::options::SessionOptions;
use crate::partition::{partition, Placement};
use crate::pending::{InFlightGate, PendingRun};
use crate::specialize::{specialize, symbols_of};
use crate::validate::validate;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_hal::{Device, DeviceInfo, DriverRegistry};
use tessera_ir::{Graph, Value, ValueId, ValueType};
use tessera_onnx::{Model, SourceOp};

/// A model input or output: its name and static type.
///
/// For inputs the type is the one declared in the model (symbolic dims as written) and is
/// always present: a session refuses models with untyped inputs. For outputs it is what
/// inference determined after specializing the dims given in the options, and may be absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoInfo {
    /// Name.
    pub name: String,
    /// Static type, if known.
    pub ty: Option<ValueType>,
}

/// What the model file said about itself (absent for sessions built from a bare graph).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// Opset imports: (domain, version); the default domain is `""`.
    pub opsets: Vec<(String, i64)>,
    /// ONNX IR version.
    pub ir_version: i64,
    /// Producer name and version.
    pub producer: String,
    /// The source model's nodes with their original op types.
    pub source_ops: Vec<SourceOp>,
}

/// How long each step took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// Reading and importing the model (absent when built from a model or graph).
    pub load: Option<Duration>,
    /// Specialization, inference, optimization and verification.
    pub optimize: Duration,
    /// Creating devices, decomposing composites for them, and partitioning.
    pub partition: Duration,
    /// Compiling every part.
    pub compile: Duration,
    /// The first call to [`Session::run`], once it has happened.
    pub first_run: Option<Duration>,
}

/// Where a session's model comes from.
#[derive(Debug)]
pub enum ModelSource<'a> {
    /// An ONNX file; external data is resolved next to it.
    File(&'a Path),
    /// ONNX bytes in memory (external data refused).
    Bytes(&'a [u8]),
    /// An imported model.
    Model(Model),
    /// A graph built directly.
    Graph(Graph),
}

/// A compiled model.
///
/// ```
/// use tessera_ir::{DType, Graph, Tensor, TensorType, Value, ValueType};
/// use tessera_runtime::{Session, SessionOptions};
///
/// // A graph that returns its input: it needs no kernels.
/// let mut g = Graph::new("passthrough");
/// let x = g.add_value("x", Some(ValueType::Tensor(TensorType::known(DType::F32, &[2]))));
/// g.inputs.push(x);
/// g.outputs.push(x);
/// let session = Session::from_graph(g, SessionOptions::default())?;
/// let t = Tensor::from_vec(vec![2], vec![1.0f32, 2.0])?;
/// let out = session.run(vec![("x".into(), Value::Tensor(t.clone()))])?;
/// assert_eq!(out, vec![("x".to_string(), Value::Tensor(t))]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Session {
    model: Option<ModelInfo>,
    pub(crate) inputs: Vec<IoInfo>,
    outputs: Vec<IoInfo>,
    pub(crate) options: SessionOptions,
    pub(crate) compiled: Arc<Compiled>,
    pub(crate) gate: Arc<InFlightGate>,
    placement: Placement,
    timings: Mutex<Timings>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("graph", &self.compiled.graph.name)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Loads the ONNX model at `path` and builds a session with the built-in drivers.
    pub fn from_file(
        path: impl AsRef<Path>,
        options: SessionOptions,
    ) -> Result<Session, RuntimeError> {
        Session::load(crate::drivers(), ModelSource::File(path.as_ref()), options)
    }

    /// Loads an ONNX model from memory and builds a session with the built-in drivers.
    pub fn from_bytes(bytes: &[u8], options: SessionOptions) -> Result<Session, RuntimeError> {
        Session::load(crate::drivers(), ModelSource::Bytes(bytes), options)
    }

    /// Builds a session from an imported model with the built-in drivers.
    pub fn from_model(model: Model, options: SessionOptions) -> Result<Session, RuntimeError> {
        Session::load(crate::drivers(), ModelSource::Model(model), options)
    }

    /// Builds a session from a graph with the built-in drivers.
    pub fn from_graph(graph: Graph, options: SessionOptions) -> Result<Session, RuntimeError> {
        Session::load(crate::drivers(), ModelSource::Graph(graph), options)
    }

    /// Builds a session from `source` with devices created by `registry`: load → specialize
    /// dims → optimize → create devices → decompose composites they lack → partition →
    /// compile.
    pub fn load(
        registry: &DriverRegistry,
        source: ModelSource<'_>,
        options: SessionOptions,
    ) -> Result<Session, RuntimeError> {
        let mut timings = Timings::default();
        let t0 = Instant::now();
        let loads = matches!(source, ModelSource::File(_) | ModelSource::Bytes(_));
        let (mut graph, model) = match source {
            ModelSource::File(p) => split_model(tessera_onnx::load_model_file(p)?),
            ModelSource::Bytes(b) => split_model(tessera_onnx::load_model_bytes(b, None)?),
            ModelSource::Model(m) => split_model(m),
            ModelSource::Graph(g) => (g, None),
        };
        if loads {
            timings.load = Some(t0.elapsed());
        }

        let t = Instant::now();
        let inputs = graph
            .inputs
            .iter()
            .map(|&id| {
                let v = graph.value(id);
                match &v.ty {
                    Some(ty) => Ok(IoInfo {
                        name: v.name.clone(),
                        ty: Some(ty.clone()),
                    }),
                    None => Err(RuntimeError::UntypedInput(v.name.clone())),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut symbols = BTreeSet::new();
        for ty in inputs.iter().filter_map(|i| i.ty.as_ref()) {
            symbols_of(ty, &mut symbols);
        }
        let mut given: Vec<&String> = options.dims.keys().collect();
        given.sort();
        if let Some(name) = given.into_iter().find(|k| !symbols.contains(k.as_str())) {
            return Err(RuntimeError::UnknownDim {
                name: name.clone(),
                known: symbols.into_iter().collect(),
            });
        }
        specialize(&mut graph, &options.dims);
        if options.optimize {
            tessera_passes::optimize(&mut graph, &crate::fold::CpuEvaluator)?;
        } else {
            tessera_ir::infer::infer_graph(&mut graph)?;
            tessera_ir::verify(&graph)?;
        }
        timings.optimize = t.elapsed();

        let t = Instant::now();
        let devices = create_devices(registry, &options)?;
        let decisions = crate::decompose::decide(&mut graph, &devices, options.decompose)?;
        let mut plan = partition(&graph, &devices, &decisions.pins)
            .map_err(|e| decisions.annotate_error(e))?;
        decisions.annotate(&mut plan.placement);
        timings.partition = t.elapsed();

        let t = Instant::now();
        let mut parts = Vec::with_capacity(plan.parts.len());
        for p in plan.parts {
            let device = &devices[p.device];
            let executable =
                device
                    .compile(&p.subgraph)
                    .map_err(|source| RuntimeError::Compile {
                        part: p.subgraph.name.clone(),
                        device: device.info().uri.clone(),
                        source: Box::new(source),
                    })?;
            parts.push(Part {
                device: p.device,
                executable,
                inputs: p.inputs,
                outputs: p.outputs,
                release: Vec::new(),
            });
        }
        timings.compile = t.elapsed();
        plan_releases(&graph, &mut parts);

        let outputs = graph
            .outputs
            .iter()
            .map(|&id| IoInfo {
                name: graph.name_of(id).to_string(),
                ty: graph.value(id).ty.clone(),
            })
            .collect();
        let gate = InFlightGate::new(options.max_in_flight);
        Ok(Session {
            model,
            inputs,
            outputs,
            options,
            compiled: Arc::new(Compiled {
                graph,
                devices,
                parts,
                transfers: Default::default(),
            }),
            gate,
            placement: plan.placement,
            timings: Mutex::new(timings),
        })
    }

    /// The model's inputs, in order, with their declared types (always present).
    pub fn inputs(&self) -> &[IoInfo] {
        &self.inputs
    }

    /// The model's outputs, in order.
    pub fn outputs(&self) -> &[IoInfo] {
        &self.outputs
    }

    /// The graph as compiled: specialized, optimized and verified.
    pub fn graph(&self) -> &Graph {
        &self.compiled.graph
    }

    /// What the model file said about itself, when the session was built from one.
    pub fn model_info(&self) -> Option<&ModelInfo> {
        self.model.as_ref()
    }

    /// The options the session was built with.
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// The devices in use, in preference order.
    pub fn devices(&self) -> Vec<DeviceInfo> {
        self.compiled
            .devices
            .iter()
            .map(|d| d.info().clone())
            .collect()
    }

    /// Where each node runs, why other devices refused it, and the parts.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// How long loading, optimizing, partitioning, compiling and the first run took.
    pub fn timings(&self) -> Timings {
        *self.timings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the model on named inputs and returns every output by name, in model order.
    ///
    /// Inputs are checked first (missing or unknown names, dtypes, ranks, fixed dims,
    /// consistent symbolic dims); all problems are reported together in
    /// [`RuntimeError::Inputs`]. The run happens on the calling thread; see
    /// [`Session::submit`] to have several in flight.
    pub fn run(&self, inputs: Vec<(String, Value)>) -> Result<Vec<(String, Value)>, RuntimeError> {
        self.run_bound(IoBinding::from(inputs))
    }

    /// Runs the model with inputs and outputs bound to caller memory (see [`IoBinding`]):
    /// inputs in shared buffers are read in place by the device that needs them, and bound
    /// outputs are written into their buffers by the device that produced them. Returns the
    /// outputs that were not bound, by name, in model order.
    ///
    /// Inputs are checked as in [`Session::run`]; bound outputs must name model outputs, at
    /// most once each, with the output's dtype and shape where the model fixes them (and the
    /// exact dtype and shape of the value produced, checked when it is written).
    pub fn run_bound(&self, io: IoBinding) -> Result<Vec<(String, Value)>, RuntimeError> {
        let start = Instant::now();
        let bound = self.check_bound_outputs(io.outputs)?;
        let values = validate(&self.inputs, &self.options.dims, io.inputs)?;
        let _slot = self.gate.enter();
        let result = self.compiled.run(values, bound)?;
        self.note_first_run(start);
        Ok(result)
    }

    /// Starts a run in the background and returns at once with a [`PendingRun`] to await.
    ///
    /// Inputs are checked before this returns (problems come back here, not from
    /// [`PendingRun::wait`]). Several runs can be in flight: with the model split across
    /// devices, one run's part on one device overlaps another run's part on the other. At most
    /// [`SessionOptions::max_in_flight`] runs are in flight; `submit` blocks until one of
    /// them finishes when the limit is reached.
    ///
    /// ```
    /// use tessera_ir::{DType, Graph, Tensor, TensorType, Value, ValueType};
    /// use tessera_runtime::{Session, SessionOptions};
    ///
    /// let mut g = Graph::new("passthrough");
    /// let x = g.add_value("x", Some(ValueType::Tensor(TensorType::known(DType::F32, &[1]))));
    /// g.inputs.push(x);
    /// g.outputs.push(x);
    /// let session = Session::from_graph(g, SessionOptions::default())?;
    /// let mut pending = Vec::new();
    /// for i in 0..4 {
    ///     let t = Tensor::from_vec(vec![1], vec![i as f32])?;
    ///     pending.push(session.submit(vec![("x".into(), Value::Tensor(t))])?);
    /// }
    /// for (i, p) in pending.into_iter().enumerate() {
    ///     let out = p.wait()?;
    ///     assert_eq!(out[0].1, Value::Tensor(Tensor::from_vec(vec![1], vec![i as f32])?));
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit(&self, inputs: Vec<(String, Value)>) -> Result<PendingRun, RuntimeError> {
        self.submit_bound(IoBinding::from(inputs))
    }

    /// [`Session::submit`] with inputs and outputs bound to caller memory, as in
    /// [`Session::run_bound`]. [`PendingRun::fence`] gives a file descriptor that becomes
    /// readable when the run completes, for callers that wait in a poll loop or in another
    /// process.
    pub fn submit_bound(&self, io: IoBinding) -> Result<PendingRun, RuntimeError> {
        let bound = self.check_bound_outputs(io.outputs)?;
        let values = validate(&self.inputs, &self.options.dims, io.inputs)?;
        let slot = self.gate.enter();
        let compiled = self.compiled.clone();
        let done = Arc::new(tessera_hal::Timeline::host_signalled(format!(
            "{}:done",
            compiled.graph.name
        )));
        let completion = crate::pending::Completion::new(done.clone());
        let handle = std::thread::Builder::new()
            .name(format!("tessera-run-{}", compiled.graph.name))
            .spawn(move || {
                let _slot = slot;
                let result = compiled.run(values, bound);
                completion.finish(&result);
                result
            })
            .map_err(|e| RuntimeError::Spawn(e.to_string()))?;
        Ok(PendingRun { handle, done })
    }

    /// Matches bound outputs to the model's outputs: one slot per output, every problem
    /// reported at once.
    fn check_bound_outputs(
        &self,
        given: Vec<(String, ExternalTensor)>,
    ) -> Result<Vec<Option<ExternalTensor>>, RuntimeError> {
        let mut slots: Vec<Option<ExternalTensor>> =
            (0..self.outputs.len()).map(|_| None).collect();
        let mut problems = Vec::new();
        for (name, t) in given {
            let Some(i) = self.outputs.iter().position(|o| o.name == name) else {
                let known: Vec<&str> = self.outputs.iter().map(|o| o.name.as_str()).collect();
                problems.push(format!(
                    "'{name}' is not an output of the model (outputs: {})",
                    known.join(", ")
                ));
                continue;
            };
            if slots[i].is_some() {
                problems.push(format!("output '{name}' is bound twice"));
                continue;
            }
            match tessera_hal::buffer::view_byte_len(t.dtype, &t.shape) {
                Ok(n) if n <= t.buffer.size() => {}
                Ok(n) => problems.push(format!(
                    "output '{name}': a {} tensor of shape {:?} needs {n} bytes; the buffer \
                     holds {}",
                    t.dtype,
                    t.shape,
                    t.buffer.size()
                )),
                Err(e) => problems.push(format!("output '{name}': {e}")),
            }
            if let Some(ValueType::Tensor(tt)) = &self.outputs[i].ty {
                let fits = tt.dtype == t.dtype
                    && tt.shape.as_ref().is_none_or(|dims| {
                        dims.len() == t.shape.len()
                            && dims.iter().zip(&t.shape).all(|(d, &n)| match d {
                                tessera_ir::Dim::Known(k) => *k == n,
                                tessera_ir::Dim::Sym(_) => true,
                            })
                    });
                if !fits {
                    problems.push(format!(
                        "output '{name}' is {tt}; its bound buffer holds a {} tensor of shape \
                         {:?}",
                        t.dtype, t.shape
                    ));
                }
            } else if self.outputs[i].ty.is_some() {
                problems.push(format!(
                    "output '{name}' is not a tensor; only tensors can be bound to a buffer"
                ));
            }
            slots[i] = Some(t);
        }
        if problems.is_empty() {
            Ok(slots)
        } else {
            Err(RuntimeError::Binding(problems.join("; ")))
        }
    }

    /// Bytes that crossed from one device to another since the session was built: imported
    /// without a copy, and staged through the host.
    pub fn transfer_stats(&self) -> TransferStats {
        let t = &self.compiled.transfers;
        TransferStats {
            imported_bytes: t.imported_bytes.load(Ordering::Relaxed),
            staged_bytes: t.staged_bytes.load(Ordering::Relaxed),
        }
    }

    fn note_first_run(&self, start: Instant) {
        let mut t = self.timings.lock().unwrap_or_else(|p| p.into_inner());
        if t.first_run.is_none() {
            t.first_run = Some(start.elapsed());
        }
    }
}

/// Device-to-device traffic of a session, from [`Session::transfer_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Bytes handed to another device zero-copy (exported and imported buffers).
    pub imported_bytes: u64,
    /// Bytes copied through host memory (download from one device, upload to the other).
    pub staged_bytes: u64,
}

fn split_model(m: Model) -> (Graph, Option<ModelInfo>) {
    (
        m.graph,
        Some(ModelInfo {
            opsets: m.opsets,
            ir_version: m.ir_version,
            producer: m.producer,
            source_ops: m.source_ops,
        }),
    )
}

/// Creates the devices of the preference list (without duplicates), appending `cpu` as the
/// last resort unless `no_fallback` is set or a CPU device is already listed.
fn create_devices(
    registry: &DriverRegistry,
    options: &SessionOptions,
) -> Result<Vec<Arc<dyn Device>>, RuntimeError> {
    let mut uris: Vec<String> = Vec::new();
    for u in &options.devices {
        let u = u.trim().to_string();
        if !uris.contains(&u) {
            uris.push(u);
        }
    }
    if uris.is_empty() {
        return Err(RuntimeError::NoDevices);
    }
    let mut devices: Vec<Arc<dyn Device>> = Vec::with_capacity(uris.len() + 1);
    for uri in &uris {
        let d = registry
            .create(uri)
            .map_err(|source| RuntimeError::Device {
                uri: uri.clone(),
                source: Box::new(source),
            })?;
        devices.push(d);
    }
    let has_cpu = devices.iter().any(|d| d.info().driver == "cpu");
    if !options.no_fallback && !has_cpu && registry.driver("cpu").is_some() {
        let d = registry
            .create("cpu")
            .map_err(|source| RuntimeError::Device {
                uri: "cpu".into(),
                source: Box::new(source),
            })?;
        devices.push(d);
    }
    Ok(devices)
}

/// For each part, the values that nothing after it reads (so `run` can free them early).
fn plan_releases(g: &Graph, parts: &mut [Part]) {
    let outputs: BTreeSet<ValueId> = g.outputs.iter().copied().collect();
    let mut last: HashMap<ValueId, usize> = HashMap::new();
    for (i, p) in parts.iter().enumerate() {
        for &v in &p.inputs {
            last.insert(v, i);
        }
    }
    for (v, i) in last {
        if !outputs.contains(&v) {
            parts[i].release.push(v);
        }
    }
}
