//! The Tessera graph IR.
//!
//! - [`DType`], [`Tensor`]: element types and host tensors.
//! - [`Dim`], [`TensorType`], [`ValueType`]: symbolic static types.
//! - [`op`]: the canonical op set, the contract between frontends and backends.
//! - [`Graph`]: nodes in topological order over typed values, checked by [`verify()`].
//! - [`infer`]: dtype and shape inference for every op.
//! - [`dump()`]: the text form shown by `tessera inspect --ir`.
//!
//! This crate depends on nothing else of Tessera's.

#![warn(missing_docs)]

pub mod dtype;
pub mod dump;
pub mod error;
pub mod graph;
pub mod infer;
pub mod lowp;
pub mod op;
pub mod shape;
pub mod tensor;
pub mod value;
pub mod verify;

pub use dtype::{DType, Element};
pub use dump::dump;
pub use error::IrError;
pub use graph::{Graph, Node, ValueId, ValueInfo};
pub use lowp::{
    F8E4M3Fn, F8E4M3FnUz, F8E5M2FnUz, RoundMode, F4E2M1, F8E5M2, F8E8M0, I2, I4, U2, U4,
};
pub use op::Op;
pub use shape::{
    broadcast_dims, broadcast_shapes, normalize_axis, Dim, Shape, TensorType, ValueType,
};
pub use tensor::{checked_numel, strides_of, Storage, Tensor, TensorData, MAX_ELEMENTS};
pub use value::Value;
pub use verify::verify;

#[doc(hidden)]
pub use half;
