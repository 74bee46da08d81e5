//! `compile`: turns a [`Subgraph`] into a [`VnpuExecutable`] (reached through
//! [`Device::compile`](tessera_hal::Device::compile)).
//!
//! Compiling verifies the graph, checks every node with the same rules as
//! [`Device::supports`](tessera_hal::Device::supports) (listing every refused node), and
//! uploads the graph's constants (weights) into device memory once, so they count against the
//! memory budget and are not copied again at each execute. A vendor compiler would also
//! lower the nodes to its command stream here.

use crate::device::DeviceState;
use crate::error::VnpuError;
use crate::executable::{store, VnpuExecutable};
use crate::support;
use std::collections::HashMap;
use std::sync::Arc;
use tessera_hal::{HalError, Subgraph};
use tessera_ir::ValueType;

/// Compiles `subgraph` for the device whose state is `state`.
pub(crate) fn compile(
    state: &Arc<DeviceState>,
    subgraph: &Subgraph,
) -> Result<VnpuExecutable, HalError> {
    let fail = |m: String| HalError::compile(&state.uri, &subgraph.name, VnpuError::Unsupported(m));
    let g = &subgraph.graph;
    tessera_ir::verify(g).map_err(|e| fail(e.to_string()))?;
    let mut kernels = Vec::with_capacity(g.nodes.len());
    let mut refused = Vec::new();
    for node in &g.nodes {
        let types: Vec<Option<ValueType>> = node
            .inputs
            .iter()
            .map(|i| i.and_then(|id| g.value(id).ty.clone()))
            .collect();
        match support::check(&state.config, node, &types) {
            Ok(k) => kernels.push(k),
            Err(r) => refused.push(format!("node '{}': {r}", node.name)),
        }
    }
    if !refused.is_empty() {
        return Err(fail(refused.join("; ")));
    }
    let mut constants = HashMap::new();
    for (&id, t) in &g.constants {
        constants.insert(
            id,
            store(
                &state.heap,
                false,
                t.dtype(),
                t.shape().to_vec(),
                &t.to_le_bytes(),
            )?,
        );
    }
    Ok(VnpuExecutable::new(
        state.clone(),
        subgraph.name.clone(),
        g.clone(),
        kernels,
        constants,
    ))
}
