//! Static dtype and shape inference for every op.
//!
//! [`infer_graph`] walks the nodes in order and fills in the types of their outputs from the
//! types (and, where available, the constant contents) of their inputs. Dtypes are always
//! inferred; shapes are inferred where the inputs determine them and are left unknown (rank or
//! individual dims) where they depend on run-time values. Inconsistencies that are certain —
//! mismatched dtypes, incompatible broadcasts, wrong ranks — are errors naming the node.

use crate::dtype::DType;
use crate::error::IrError;
use crate::graph::{Graph, Node};
use crate::op::*;
use crate::shape::{broadcast_dims, normalize_axis, Dim, TensorType, ValueType};
use crate::tensor::Tensor;

/// What inference knows about one node input.
#[derive(Clone, Copy)]
pub struct InputFact<'a> {
    /// The static type, if known.
    pub ty: Option<&'a ValueType>,
    /// The constant content, if the input is a constant.
    pub value: Option<&'a Tensor>,
}

impl<'a> InputFact<'a> {
    fn tensor(&self) -> Option<&'a TensorType> {
        self.ty.and_then(|t| t.as_tensor())
    }
    fn dtype(&self) -> Option<DType> {
        self.tensor().map(|t| t.dtype)
    }
    fn dims(&self) -> Option<&'a Vec<Dim>> {
        self.tensor().and_then(|t| t.shape.as_ref())
    }
}

/// Infers the types of every node output in `g` (and its subgraphs) that is not yet typed.
pub fn infer_graph(g: &mut Graph) -> Result<(), IrError> {
    for i in 0..g.nodes.len() {
        let outs = {
            let node = &g.nodes[i];
            let facts: Vec<Option<InputFact>> = node
                .inputs
                .iter()
                .map(|x| {
                    x.map(|id| InputFact {
                        ty: g.values[id.0].ty.as_ref(),
                        value: g.constants.get(&id),
                    })
                })
                .collect();
            infer_node(node, &facts)?
        };
        let node_outputs = g.nodes[i].outputs.clone();
        for (o, t) in node_outputs.iter().zip(outs) {
            if let (Some(o), Some(t)) = (o, t) {
                let slot = &mut g.values[o.0].ty;
                if slot.is_none() {
                    *slot = Some(t);
                }
            }
        }
    }
    Ok(())
}

fn tensor(dtype: DType, shape: Option<Vec<Dim>>) -> Option<ValueType> {
    Some(ValueType::Tensor(TensorType { dtype, shape }))
}

fn known(dims: &[usize]) -> Option<Vec<Dim>> {
    Some(dims.iter().map(|&d| Dim::Known(d)).collect())
}

/// Infers the output types of one node from facts about its inputs (`None` for an omitted
/// optional input). Returns one entry per node output; `None` where nothing can be said.
pub fn infer_node(
    node: &Node,
    ins: &[Option<InputFact>],
) -> Result<Vec<Option<ValueType>>, IrError> {
    let err = |m: String| IrError::Inference {
        node: node.name.clone(),
        op: node.op.name(),
        message: m,
    };
    let nout = node.outputs.len();
    let fact = |i: usize| ins.get(i).copied().flatten();
    let dt = |i: usize| fact(i).and_then(|f| f.dtype());
    let dims = |i: usize| fact(i).and_then(|f| f.dims()).cloned();
    let const_i64 = |i: usize| fact(i).and_then(|f| f.value).map(|t| t.to_i64_vec());
    let same = |i: usize| vec![fact(i).and_then(|f| f.ty.cloned())];
    let rank = |i: usize| dims(i).map(|d| d.len());

    let out: Vec<Option<ValueType>> = match &node.op {
        Op::Unary(u) => {
            let Some(d) = dt(0) else {
                return Ok(vec![None; nout]);
            };
            let od = if u.yields_bool() { DType::Bool } else { d };
            vec![tensor(od, dims(0))]
        }
        Op::Binary(b) => {
            let (Some(a), Some(c)) = (dt(0), dt(1)) else {
                return Ok(vec![None; nout]);
            };
            if a != c
                && !matches!(
                    b,
                    BinaryOp::Pow
                        | BinaryOp::PRelu
                        | BinaryOp::BitShiftLeft
                        | BinaryOp::BitShiftRight
                )
            {
                return Err(err(format!("operands have different dtypes {a} and {c}")));
            }
            let shape = match (dims(0), dims(1)) {
                (Some(x), Some(y)) if *b == BinaryOp::PRelu => (y.len() <= x.len()).then_some(x),
                (Some(x), Some(y)) => Some(
                    broadcast_dims(&x, &y)
                        .ok_or_else(|| err(format!("cannot broadcast {x:?} with {y:?}")))?,
                ),
                _ => None,
            };
            vec![tensor(if b.yields_bool() { DType::Bool } else { a }, shape)]
        }
        Op::Where(_) => {
            let Some(d) = dt(1).or(dt(2)) else {
                return Ok(vec![None; nout]);
            };
            let shape = match (dims(0), dims(1), dims(2)) {
                (Some(a), Some(b), Some(c)) => broadcast_dims(&a, &b)
                    .and_then(|ab| broadcast_dims(&ab, &c))
                    .map(Some)
                    .ok_or_else(|| err("cannot broadcast operands".into()))?,
                _ => None,
            };
            vec![tensor(d, shape)]
        }
        Op::Clip(_)
        | Op::Identity(_)
        | Op::Lrn(_)
        | Op::LpNorm(_)
        | Op::Trilu(_)
        | Op::ReverseSequence(_)
        | Op::BatchNorm(_)
        | Op::InstanceNorm(_)
        | Op::GroupNorm(_)
        | Op::RmsNorm(_)
        | Op::Cumulative(_)
        | Op::ScatterElements(_)
        | Op::ScatterNd(_)
        | Op::TensorScatter(_) => same(0),
        Op::Softmax(_) => same(0),
        Op::Cast(c) => vec![tensor(c.to, dims(0))],
        Op::BitCast(b) => {
            let (wi, wo) = match dt(0) {
                Some(d) => (d.size(), b.to.size()),
                None => return Ok(vec![tensor(b.to, None)]),
            };
            let shape = dims(0).map(|mut d| {
                if wi > wo {
                    d.push(Dim::Known(wi / wo.max(1)));
                } else if wi < wo {
                    d.pop();
                }
                d
            });
            vec![tensor(b.to, shape)]
        }
        Op::LayerNorm(ln) => {
            let mut v = same(0);
            let stat = dims(0).and_then(|d| {
                let a = normalize_axis(ln.axis, d.len())?;
                Some(
                    d.iter()
                        .enumerate()
                        .map(|(i, x)| if i < a { x.clone() } else { Dim::Known(1) })
                        .collect(),
                )
            });
            let sd = dt(0).map(|d| if d == DType::F64 { d } else { DType::F32 });
            for _ in 1..nout {
                v.push(sd.and_then(|d| tensor(d, stat.clone())));
            }
            v
        }
        Op::MatMul(_) | Op::MatMulInteger(_) | Op::QLinearMatMul(_) => {
            let (ai, bi) = if matches!(node.op, Op::QLinearMatMul(_)) {
                (0, 3)
            } else {
                (0, 1)
            };
            let od = match node.op {
                Op::MatMulInteger(_) => Some(DType::I32),
                Op::QLinearMatMul(_) => dt(7),
                _ => dt(ai),
            };
            let Some(od) = od else {
                return Ok(vec![None; nout]);
            };
            let shape = match (dims(ai), dims(bi)) {
                (Some(a), Some(b)) => Some(
                    matmul_dims(&a, &b)
                        .ok_or_else(|| err(format!("incompatible operands {a:?} and {b:?}")))?,
                ),
                _ => None,
            };
            vec![tensor(od, shape)]
        }
        Op::Gemm(g) => {
            let Some(d) = dt(0) else {
                return Ok(vec![None; nout]);
            };
            let shape = match (dims(0), dims(1)) {
                (Some(a), Some(b)) if a.len() == 2 && b.len() == 2 => {
                    let m = if g.trans_a {
                        a[1].clone()
                    } else {
                        a[0].clone()
                    };
                    let n = if g.trans_b {
                        b[0].clone()
                    } else {
                        b[1].clone()
                    };
                    Some(vec![m, n])
                }
                (Some(_), Some(_)) => return Err(err("Gemm operands must be rank 2".into())),
                _ => None,
            };
            vec![tensor(d, shape)]
        }
        Op::Einsum(e) => {
            let all: Option<Vec<Vec<Dim>>> = (0..ins.len()).map(dims).collect();
            vec![dt(0).and_then(|d| tensor(d, all.and_then(|a| einsum_dims(&e.equation, &a))))]
        }
        Op::Det(_) => vec![dt(0).and_then(|d| {
            tensor(
                d,
                dims(0)
                    .filter(|x| x.len() >= 2)
                    .map(|x| x[..x.len() - 2].to_vec()),
            )
        })],
        Op::Conv(c) => {
            vec![dt(0).and_then(|d| tensor(d, conv_dims(&dims(0), &dims(1), &c.window, 0, false)))]
        }
        Op::DeformConv(c) => {
            vec![dt(0).and_then(|d| tensor(d, conv_dims(&dims(0), &dims(1), &c.window, 0, false)))]
        }
        Op::ConvInteger(c) => vec![tensor(
            DType::I32,
            conv_dims(&dims(0), &dims(1), &c.window, 0, false),
        )],
        Op::QLinearConv(c) => {
            vec![dt(7).and_then(|d| tensor(d, conv_dims(&dims(0), &dims(3), &c.window, 0, false)))]
        }
        Op::ConvTranspose(_)
        | Op::MaxUnpool(_)
        | Op::Col2Im(_)
        | Op::Resize(_)
        | Op::GridSample(_) => {
            vec![dt(0).and_then(|d| tensor(d, rank(0).map(|r| fresh(&node.name, r))))]
        }
        Op::Pool(p) => {
            let s = dims(0).and_then(|x| {
                let k: Vec<Dim> = std::iter::once(x.first()?.clone())
                    .chain(std::iter::once(x.get(1)?.clone()))
                    .chain(p.window.kernel_shape.iter().map(|&k| Dim::Known(k)))
                    .collect();
                let c = x.get(1)?.clone();
                let mut s = conv_dims(&Some(x), &Some(k), &p.window, 0, p.ceil_mode)?;
                s[1] = c;
                Some(s)
            });
            let mut v = vec![dt(0).and_then(|d| tensor(d, s.clone()))];
            if nout > 1 {
                v.push(tensor(DType::I64, s));
            }
            v
        }
        Op::DepthToSpace(d) => vec![dt(0).and_then(|t| {
            tensor(
                t,
                dims(0).and_then(|x| {
                    let b = d.blocksize;
                    match x.as_slice() {
                        [n, Dim::Known(c), Dim::Known(h), Dim::Known(w)] if c % (b * b) == 0 => {
                            Some(vec![
                                n.clone(),
                                Dim::Known(c / (b * b)),
                                Dim::Known(h * b),
                                Dim::Known(w * b),
                            ])
                        }
                        _ => None,
                    }
                }),
            )
        })],
        Op::SpaceToDepth(d) => vec![dt(0).and_then(|t| {
            tensor(
                t,
                dims(0).and_then(|x| {
                    let b = d.blocksize;
                    match x.as_slice() {
                        [n, Dim::Known(c), Dim::Known(h), Dim::Known(w)] => Some(vec![
                            n.clone(),
                            Dim::Known(c * b * b),
                            Dim::Known(h / b),
                            Dim::Known(w / b),
                        ]),
                        _ => None,
                    }
                }),
            )
        })],
        Op::RoiAlign(r) => vec![dt(0).and_then(|d| {
            tensor(
                d,
                dims(1).zip(dims(0)).and_then(|(rois, x)| {
                    Some(vec![
                        rois.first()?.clone(),
                        x.get(1)?.clone(),
                        Dim::Known(r.output_height),
                        Dim::Known(r.output_width),
                    ])
                }),
            )
        })],
        Op::AffineGrid(_) => vec![dt(0).and_then(|d| {
            let size = const_i64(1);
            let shape = size.and_then(|s| {
                let n = dims(0).and_then(|t| t.first().cloned());
                let sp: Vec<Dim> = s
                    .get(2..)?
                    .iter()
                    .map(|&v| usize::try_from(v).ok().map(Dim::Known))
                    .collect::<Option<_>>()?;
                let r = sp.len();
                Some(
                    std::iter::once(n.unwrap_or_else(|| Dim::Known(s[0].max(0) as usize)))
                        .chain(sp)
                        .chain(std::iter::once(Dim::Known(r)))
                        .collect(),
                )
            });
            tensor(d, shape)
        })],
        Op::NllLoss(NllLoss { reduction, .. })
        | Op::SoftmaxCrossEntropyLoss(SoftmaxCrossEntropyLoss { reduction, .. }) => {
            let Some(d) = dt(0) else {
                return Ok(vec![None; nout]);
            };
            let shape = if *reduction == LossReduction::None {
                dims(1)
            } else {
                Some(vec![])
            };
            let mut v = vec![tensor(d, shape)];
            if nout > 1 {
                v.push(tensor(d, dims(0)));
            }
            v
        }
        Op::NonMaxSuppression(_) => vec![tensor(
            DType::I64,
            Some(vec![
                Dim::Sym(format!("{}_boxes", node.name)),
                Dim::Known(3),
            ]),
        )],
        Op::Reduce(r) => {
            let Some(d) = dt(0) else {
                return Ok(vec![None; nout]);
            };
            let axes = if ins.len() > 1 && fact(1).is_some() {
                const_i64(1)
            } else {
                Some(vec![])
            };
            let shape = match (dims(0), axes) {
                (Some(x), Some(axes)) => reduce_dims(&x, &axes, r.keepdims, r.noop_with_empty_axes),
                _ => None,
            };
            vec![tensor(d, shape)]
        }
        Op::ArgReduce(a) => vec![tensor(
            DType::I64,
            dims(0).and_then(|x| reduce_dims(&x, &[a.axis], a.keepdims, false)),
        )],
        Op::TopK(t) => {
            let s = dims(0).and_then(|x| {
                let a = normalize_axis(t.axis, x.len())?;
                let mut x = x.clone();
                x[a] = match const_i64(1).as_deref() {
                    Some([k]) => Dim::Known((*k).max(0) as usize),
                    _ => Dim::Sym(format!("{}_k", node.name)),
                };
                Some(x)
            });
            vec![
                dt(0).and_then(|d| tensor(d, s.clone())),
                tensor(DType::I64, s),
            ]
        }
        Op::Reshape(r) => vec![dt(0).and_then(|d| {
            tensor(
                d,
                match const_i64(1) {
                    Some(s) => reshape_dims(dims(0).as_deref(), &s, r.allowzero),
                    None => None,
                },
            )
        })],
        Op::Transpose(t) => vec![dt(0).and_then(|d| {
            tensor(
                d,
                dims(0).map(|x| {
                    if t.perm.is_empty() {
                        x.iter().rev().cloned().collect()
                    } else {
                        t.perm
                            .iter()
                            .map(|&p| x.get(p).cloned().unwrap_or(Dim::Known(0)))
                            .collect()
                    }
                }),
            )
        })],
        Op::Flatten(f) => vec![dt(0).and_then(|d| {
            tensor(
                d,
                dims(0).and_then(|x| {
                    let a = if f.axis == x.len() as i64 {
                        x.len()
                    } else {
                        normalize_axis(f.axis, x.len())?
                    };
                    Some(vec![prod_dims(&x[..a]), prod_dims(&x[a..])])
                }),
            )
        })],
        Op::Squeeze(_) => vec![dt(0).and_then(|d| {
            tensor(
                d,
                dims(0).and_then(|x| match const_i64(1) {
                    Some(axes) => {
                        let axes: Option<Vec<usize>> =
                            axes.iter().map(|&a| normalize_axis(a, x.len())).collect();
                        let axes = axes?;
                        Some(
                            x.iter()
                                .enumerate()
                                .filter(|(i, _)| !axes.contains(i))
                                .map(|(_, d)| d.clone())
                                .collect(),
                        )
                    }
                    None if fact(1).is_none() && x.iter().all(|d| d.known().is_some()) => {
                        Some(x.iter().filter(|d| **d != Dim::Known(1)).cloned().collect())
                    }
                    None => None,
                }),
            )
        })],
        Op::Unsqueeze(_) => vec![dt(0).and_then(|d| {
            tensor(
                d,
                dims(0).zip(const_i64(1)).and_then(|(x, axes)| {
                    let r = x.len() + axes.len();
                    let axes: Option<Vec<usize>> =
                        axes.iter().map(|&a| normalize_axis(a, r)).collect();
                    let axes = axes?;
                    let mut it = x.iter();
                    (0..r)
                        .map(|i| {
                            if axes.contains(&i) {
                                Some(Dim::Known(1))
                            } else {
                                it.next().cloned()
                            }
                        })
                        .collect()
                }),
            )
        })],
        Op::Concat(c) => {
            let Some(d) = (0..ins.len()).find_map(dt) else {
                return Ok(vec![None; nout]);
            };
            let all: Option<Vec<Vec<Dim>>> = (0..ins.len()).map(dims).collect();
            let shape = all.and_then(|all| {
                let first = all.first()?.clone();
                let a = normalize_axis(c.axis, first.len())?;
                let mut out = first;
                let mut total = Some(0usize);
                for s in &all {
                    total = total.zip(s.get(a)?.known()).map(|(t, k)| t + k);
                }
                out[a] = total
                    .map(Dim::Known)
                    .unwrap_or_else(|| Dim::Sym(format!("{}_concat", node.name)));
                Some(out)
            });
            vec![tensor(d, shape)]
        }
        Op::Split(s) => {
            let Some(d) = dt(0) else {
                return Ok(vec![None; nout]);
            };
            let parts = dims(0).and_then(|x| {
                let a = normalize_axis(s.axis, x.len())?;
                let total = x[a].known()?;
                let sizes: Vec<usize> = match const_i64(1) {
                    Some(v) => v.iter().map(|&k| k.max(0) as usize).collect(),
                    None if fact(1).is_none() => {
                        let n = nout.max(1);
                        let chunk = total.div_ceil(n);
                        (0..n)
                            .map(|i| chunk.min(total.saturating_sub(i * chunk)))
                            .collect()
                    }
                    None => return None,
                };
                Some(
                    sizes
                        .into_iter()
                        .map(|k| {
                            let mut y = x.clone();
                            y[a] = Dim::Known(k);
                            y
                        })
                        .collect::<Vec<_>>(),
                )
            });
            (0..nout)
                .map(|i| tensor(d, parts.as_ref().and_then(|p| p.get(i).cloned())))
                .collect()
        }
        Op::Slice(_) => vec![dt(0).and_then(|d| {
            let opt = |i: usize| {
                if fact(i).is_some() {
                    const_i64(i).map(Some)
                } else {
                    Some(None)
                }
            };
            let s = dims(0).and_then(|x| {
                slice_dims(
                    &node.name,
                    &x,
                    &const_i64(1)?,
                    &const_i64(2)?,
                    opt(3)?.as_deref(),
                    opt(4)?.as_deref(),
                )
            });
            tensor(d, s.or_else(|| rank(0).map(|r| fresh(&node.name, r))))
        })],
        Op::Gather(gth) => vec![dt(0).and_then(|d| {
            tensor(
                d,
                dims(0).zip(dims(1)).and_then(|(x, i)| {
                    let a = normalize_axis(gth.axis, x.len())?;
                    Some(
                        x[..a]
                            .iter()
                            .chain(i.iter())
                            .chain(x[a + 1..].iter())
                            .cloned()
                            .collect(),
                    )
                }),
            )
        })],
        Op::GatherElements(_) => vec![dt(0).and_then(|d| tensor(d, dims(1)))],
        Op::GatherNd(g) => vec![dt(0).and_then(|d| {
            let s = dims(0).zip(dims(1)).and_then(|(x, i)| {
                let k = i.last()?.known()?;
                let tail = x.get(g.batch_dims.checked_add(k)?..)?;
                Some(i[..i.len() - 1].iter().chain(tail).cloned().collect())
            });
            tensor(d, s)
        })],
        Op::Compress(_) => vec![dt(0).and_then(|d| tensor(d, None))],
        Op::Pad(_) => vec![dt(0).and_then(|d| {
            let s = dims(0).zip(const_i64(1)).and_then(|(x, pads)| {
                let axes: Vec<usize> = if fact(3).is_some() {
                    const_i64(3)?
                        .iter()
                        .map(|&a| normalize_axis(a, x.len()))
                        .collect::<Option<_>>()?
                } else {
                    (0..x.len()).collect()
                };
                if pads.len() != 2 * axes.len() {
                    return None;
                }
                let mut out = x.clone();
                for (k, &a) in axes.iter().enumerate() {
                    let add = pads[k].checked_add(pads[k + axes.len()])?;
                    if add != 0 {
                        let n = i64::try_from(x[a].known()?).ok()?.checked_add(add)?;
                        out[a] = Dim::Known(usize::try_from(n).ok()?);
                    }
                }
                Some(out)
            });
            tensor(d, s.or_else(|| rank(0).map(|r| fresh(&node.name, r))))
        })],
        Op::Tile(_) => vec![dt(0).and_then(|d| {
            let s = dims(0).zip(const_i64(1)).and_then(|(x, reps)| {
                if reps.len() != x.len() {
                    return None;
                }
                x.iter()
                    .zip(&reps)
                    .map(|(dm, &r)| match (dm, r) {
                        (_, 1) => Some(dm.clone()),
                        (Dim::Known(k), r) => {
                            Some(Dim::Known(k.checked_mul(usize::try_from(r).ok()?)?))
                        }
                        (Dim::Sym(_), _) => None,
                    })
                    .collect::<Option<Vec<_>>>()
            });
            tensor(d, s.or_else(|| rank(0).map(|r| fresh(&node.name, r))))
        })],
        Op::Expand(_) => vec![dt(0).and_then(|d| {
            tensor(
                d,
                dims(0)
                    .zip(const_i64(1))
                    .and_then(|(x, s)| {
                        let s: Vec<Dim> =
                            s.iter().map(|&k| Dim::Known(k.max(0) as usize)).collect();
                        broadcast_dims(&x, &s)
                    })
                    .or_else(|| {
                        dims(1)
                            .and_then(|s| s.first()?.known())
                            .map(|r| fresh(&node.name, r))
                    }),
            )
        })],
        Op::ShapeOf(s) => vec![tensor(
            DType::I64,
            rank(0).map(|r| {
                let clamp = |v: i64| {
                    if v < 0 {
                        (v + r as i64).max(0) as usize
                    } else {
                        (v as usize).min(r)
                    }
                };
                let (a, b) = (clamp(s.start), clamp(s.end.unwrap_or(r as i64)));
                vec![Dim::Known(b.saturating_sub(a))]
            }),
        )],
        Op::Size(_) => vec![tensor(DType::I64, known(&[]))],
        Op::ConstantOfShape(c) => vec![tensor(
            c.value.dtype(),
            const_i64(0)
                .map(|s| s.iter().map(|&k| Dim::Known(k.max(0) as usize)).collect())
                .or_else(|| {
                    dims(0)
                        .and_then(|s| s.first()?.known())
                        .map(|r| fresh(&node.name, r))
                }),
        )],
        Op::Range(_) => {
            let len = (|| {
                let v = |i: usize| fact(i)?.value?.to_f64_vec().first().copied();
                let (a, b, c) = (v(0)?, v(1)?, v(2)?);
                let n = ((b - a) / c).ceil().max(0.0);
                (c != 0.0 && n.is_finite() && n <= crate::MAX_ELEMENTS as f64)
                    .then_some(Dim::Known(n as usize))
            })();
            vec![dt(0).and_then(|d| {
                tensor(
                    d,
                    Some(vec![
                        len.unwrap_or_else(|| Dim::Sym(format!("{}_len", node.name)))
                    ]),
                )
            })]
        }
        Op::OneHot(o) => vec![dt(2).and_then(|d| {
            tensor(
                d,
                dims(0)
                    .and_then(|i| {
                        let depth = fact(1)?.value?.to_f64_vec().first().copied()?;
                        let a = normalize_axis(o.axis, i.len() + 1)?;
                        (depth >= 1.0 && depth <= crate::MAX_ELEMENTS as f64).then(|| {
                            let mut s = i.clone();
                            s.insert(a, Dim::Known(depth as usize));
                            s
                        })
                    })
                    .or_else(|| rank(0).map(|r| fresh(&node.name, r + 1))),
            )
        })],
        Op::NonZero(_) => vec![tensor(
            DType::I64,
            rank(0).map(|r| vec![Dim::Known(r), Dim::Sym(format!("{}_nnz", node.name))]),
        )],
        Op::Unique(_) => {
            let n = Some(vec![Dim::Sym(format!("{}_unique", node.name))]);
            let mut v = vec![dt(0).and_then(|d| tensor(d, None))];
            v.push(tensor(DType::I64, n.clone()));
            v.push(tensor(DType::I64, None));
            v.push(tensor(DType::I64, n));
            v
        }
        Op::EyeLike(e) => vec![e.dtype.or(dt(0)).and_then(|d| tensor(d, dims(0)))],
        Op::QuantizeLinear(q) => {
            let od = dt(2).or(q.output_dtype).unwrap_or(DType::U8);
            vec![tensor(od, dims(0))]
        }
        Op::DequantizeLinear(_) => vec![dt(1).and_then(|d| tensor(d, dims(0)))],
        Op::DynamicQuantizeLinear(_) => vec![
            tensor(DType::U8, dims(0)),
            tensor(DType::F32, known(&[])),
            tensor(DType::U8, known(&[])),
        ],
        Op::Dft(d) => vec![dt(0).and_then(|t| {
            tensor(
                t,
                dims(0).and_then(|x| {
                    let r = x.len();
                    let a = match fact(2) {
                        None => -2,
                        Some(_) => *const_i64(2)?.first()?,
                    };
                    let a = if a < 0 { a + r as i64 } else { a };
                    if r < 2 || a < 0 || a as usize + 1 >= r {
                        return None;
                    }
                    let a = a as usize;
                    let irfft = d.inverse && d.onesided;
                    let n = match fact(1) {
                        None if irfft => x[a].known().map(|n| 2 * n.saturating_sub(1)),
                        None => x[a].known(),
                        Some(_) => const_i64(1)
                            .and_then(|v| v.first().copied())
                            .and_then(|v| usize::try_from(v).ok()),
                    };
                    let mut y = x.clone();
                    y[a] = match n {
                        Some(n) if d.onesided && !d.inverse => Dim::Known(n / 2 + 1),
                        Some(n) => Dim::Known(n),
                        None => Dim::Sym(format!("{}_n", node.name)),
                    };
                    y[r - 1] = Dim::Known(if irfft { 1 } else { 2 });
                    Some(y)
                }),
            )
        })],
        Op::Stft(_) => vec![dt(0).and_then(|t| {
            tensor(
                t,
                dims(0).filter(|x| x.len() == 3).map(|x| {
                    vec![
                        x[0].clone(),
                        Dim::Sym(format!("{}_frames", node.name)),
                        Dim::Sym(format!("{}_bins", node.name)),
                        Dim::Known(2),
                    ]
                }),
            )
        })],
        Op::WindowFunction(w) => vec![tensor(
            w.dtype,
            Some(vec![match const_i64(0).as_deref() {
                Some([n]) => Dim::Known((*n).max(0) as usize),
                _ => Dim::Sym(format!("{}_size", node.name)),
            }]),
        )],
        Op::MelWeightMatrix(m) => {
            let bins = match const_i64(1).as_deref() {
                Some([n]) if *n >= 0 => Dim::Known(*n as usize / 2 + 1),
                _ => Dim::Sym(format!("{}_bins", node.name)),
            };
            let mels = match const_i64(0).as_deref() {
                Some([n]) => Dim::Known((*n).max(0) as usize),
                _ => Dim::Sym(format!("{}_mels", node.name)),
            };
            vec![tensor(m.dtype, Some(vec![bins, mels]))]
        }
        Op::Recurrent(r) => {
            let Some(d) = dt(0) else {
                return Ok(vec![None; nout]);
            };
            let nd = if r.direction == Direction::Bidirectional {
                2
            } else {
                1
            };
            let (seq, batch) = match dims(0) {
                Some(x) if x.len() == 3 => {
                    if r.batch_major {
                        (Some(x[1].clone()), Some(x[0].clone()))
                    } else {
                        (Some(x[0].clone()), Some(x[1].clone()))
                    }
                }
                _ => (None, None),
            };
            let h = Dim::Known(r.hidden_size);
            let nd = Dim::Known(nd);
            let y = seq.clone().zip(batch.clone()).map(|(s, b)| {
                if r.batch_major {
                    vec![b, s, nd.clone(), h.clone()]
                } else {
                    vec![s, nd.clone(), b, h.clone()]
                }
            });
            let yh = batch.map(|b| {
                if r.batch_major {
                    vec![b, nd.clone(), h.clone()]
                } else {
                    vec![nd.clone(), b, h.clone()]
                }
            });
            let mut v = vec![tensor(d, y), tensor(d, yh.clone())];
            if nout > 2 {
                v.push(tensor(d, yh));
            }
            v
        }
        Op::Attention(_) => {
            let mut v = vec![dt(0).and_then(|d| tensor(d, None))];
            for _ in 1..nout {
                v.push(dt(0).and_then(|d| tensor(d, None)));
            }
            v
        }
        Op::RotaryEmbedding(_) => same(0),
        // The branches may yield different shapes (even ranks): keep only what both agree on.
        Op::If(i) => i
            .then_branch
            .outputs
            .iter()
            .zip(
                i.else_branch
                    .outputs
                    .iter()
                    .map(Some)
                    .chain(std::iter::repeat(None)),
            )
            .map(|(&t, e)| {
                let then_ty = i.then_branch.value(t).ty.clone().map(|t| strip_dims(&t))?;
                let else_ty = e.and_then(|&e| i.else_branch.value(e).ty.clone());
                Some(match else_ty.map(|t| strip_dims(&t)) {
                    Some(else_ty) if else_ty == then_ty => then_ty,
                    Some(ValueType::Tensor(e)) => match then_ty {
                        ValueType::Tensor(t) if t.dtype == e.dtype => {
                            ValueType::Tensor(TensorType {
                                dtype: t.dtype,
                                shape: None,
                            })
                        }
                        other => other,
                    },
                    Some(_) | None => match then_ty {
                        ValueType::Tensor(t) => ValueType::Tensor(TensorType {
                            dtype: t.dtype,
                            shape: None,
                        }),
                        other => other,
                    },
                })
            })
            .collect(),
        Op::Loop(l) => {
            let carried = l.num_carried;
            let body_outs = &l.body.outputs;
            (0..nout)
                .map(|k| {
                    let bo = *body_outs.get(k + 1)?;
                    let t = l.body.value(bo).ty.clone()?;
                    if k < carried {
                        Some(strip_dims(&t))
                    } else {
                        let tt = t.as_tensor()?;
                        tensor(
                            tt.dtype,
                            tt.shape.as_ref().map(|s| {
                                std::iter::once(Dim::Sym(format!("{}_trips", node.name)))
                                    .chain(s.iter().cloned())
                                    .collect()
                            }),
                        )
                    }
                })
                .collect()
        }
        Op::Scan(s) => {
            let n_state = ins.len().saturating_sub(s.num_scan_inputs + s.num_captures);
            (0..nout)
                .map(|k| {
                    let bo = *s.body.outputs.get(k)?;
                    let t = s.body.value(bo).ty.clone()?;
                    if k < n_state {
                        Some(strip_dims(&t))
                    } else {
                        // Scan outputs gain the scan axis; the step count is not known here.
                        tensor(t.as_tensor()?.dtype, None)
                    }
                })
                .collect()
        }
        Op::Sequence(sq) => match sq {
            SequenceOp::Empty(t) => vec![Some(ValueType::Sequence(Box::new(t.clone())))],
            SequenceOp::Construct | SequenceOp::SplitToSequence { .. } => {
                vec![dt(0).map(|d| {
                    ValueType::Sequence(Box::new(ValueType::Tensor(TensorType::unranked(d))))
                })]
            }
            SequenceOp::Insert | SequenceOp::Erase => same(0),
            SequenceOp::At | SequenceOp::ConcatFromSequence { .. } => {
                vec![fact(0).and_then(|f| match f.ty {
                    Some(ValueType::Sequence(e)) => e
                        .as_tensor()
                        .map(|t| ValueType::Tensor(TensorType::unranked(t.dtype))),
                    _ => None,
                })]
            }
            SequenceOp::Length => vec![tensor(DType::I64, known(&[]))],
        },
        Op::Optional(o) => match o {
            OptionalOp::Make(Some(t)) => vec![Some(ValueType::Optional(Box::new(t.clone())))],
            OptionalOp::Make(None) => vec![fact(0)
                .and_then(|f| f.ty.cloned())
                .map(|t| ValueType::Optional(Box::new(t)))],
            OptionalOp::HasElement => vec![tensor(DType::Bool, known(&[]))],
            OptionalOp::GetElement => vec![fact(0).and_then(|f| match f.ty {
                Some(ValueType::Optional(e)) => Some((**e).clone()),
                other => other.cloned(),
            })],
        },
    };
    let mut out = out;
    out.resize(nout, None);
    Ok(out)
}

/// Replaces every symbolic dim by an unknown-rank-preserving copy (subgraph dims are local).
fn strip_dims(t: &ValueType) -> ValueType {
    match t {
        ValueType::Tensor(tt) => ValueType::Tensor(TensorType {
            dtype: tt.dtype,
            shape: tt
                .shape
                .as_ref()
                .filter(|s| s.iter().all(|d| d.known().is_some()))
                .cloned(),
        }),
        other => other.clone(),
    }
}

/// `rank` fresh symbolic dims named after the node.
fn fresh(node: &str, rank: usize) -> Vec<Dim> {
    (0..rank)
        .map(|i| Dim::Sym(format!("{node}_d{i}")))
        .collect()
}

fn prod_dims(d: &[Dim]) -> Dim {
    let mut p = 1usize;
    for x in d {
        match x {
            Dim::Known(k) => p = p.saturating_mul(*k),
            Dim::Sym(s) if d.len() == 1 => return Dim::Sym(s.clone()),
            Dim::Sym(_) => {
                return Dim::Sym(format!(
                    "prod({})",
                    d.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join("*")
                ))
            }
        }
    }
    Dim::Known(p)
}

/// Output dims of a numpy matmul, or `None` when the operands are incompatible.
pub fn matmul_dims(a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let a2: Vec<Dim> = if a.len() == 1 {
        vec![Dim::Known(1), a[0].clone()]
    } else {
        a.to_vec()
    };
    let b2: Vec<Dim> = if b.len() == 1 {
        vec![b[0].clone(), Dim::Known(1)]
    } else {
        b.to_vec()
    };
    let (ka, kb) = (&a2[a2.len() - 1], &b2[b2.len() - 2]);
    if let (Some(x), Some(y)) = (ka.known(), kb.known()) {
        if x != y {
            return None;
        }
    }
    let batch = broadcast_dims(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    let mut out = batch;
    if a.len() > 1 {
        out.push(a2[a2.len() - 2].clone());
    }
    if b.len() > 1 {
        out.push(b2[b2.len() - 1].clone());
    }
    Some(out)
}

/// Output dims of an `Einsum` equation over operands of known rank, or `None` when the
/// equation does not parse or does not fit the operands.
pub fn einsum_dims(equation: &str, inputs: &[Vec<Dim>]) -> Option<Vec<Dim>> {
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    // A term as (letters before the ellipsis, letters after, has ellipsis).
    let split = |t: &str| -> Option<(Vec<char>, Vec<char>, bool)> {
        let (a, b, ell) = match t.split_once("...") {
            Some((a, b)) => (a, b, true),
            None => (t, "", false),
        };
        let ok = |x: &str| x.chars().all(|c| c.is_ascii_alphabetic());
        (ok(a) && ok(b)).then(|| (a.chars().collect(), b.chars().collect(), ell))
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != inputs.len() {
        return None;
    }
    let mut letters: Vec<(char, Dim)> = vec![];
    let mut ell: Vec<Dim> = vec![];
    let mut counts: Vec<(char, usize)> = vec![];
    for (t, d) in terms.iter().zip(inputs) {
        let (a, b, has_ell) = split(t)?;
        let er = d.len().checked_sub(a.len() + b.len())?;
        if er > 0 && !has_ell {
            return None;
        }
        ell = broadcast_dims(&ell, &d[a.len()..a.len() + er])?;
        let labelled = a
            .iter()
            .zip(&d[..a.len()])
            .chain(b.iter().zip(&d[a.len() + er..]));
        for (&c, dim) in labelled {
            if !letters.iter().any(|(x, _)| *x == c) {
                letters.push((c, dim.clone()));
            }
            match counts.iter_mut().find(|(x, _)| *x == c) {
                Some(e) => e.1 += 1,
                None => counts.push((c, 1)),
            }
        }
    }
    let dim_of = |c: char| {
        letters
            .iter()
            .find(|(x, _)| *x == c)
            .map(|(_, d)| d.clone())
    };
    match rhs {
        Some(r) => {
            let (a, b, has_ell) = split(r)?;
            let mut out: Vec<Dim> = a.iter().map(|&c| dim_of(c)).collect::<Option<_>>()?;
            if has_ell {
                out.extend(ell);
            }
            for &c in &b {
                out.push(dim_of(c)?);
            }
            Some(out)
        }
        None => {
            let mut once: Vec<char> = counts
                .iter()
                .filter(|(_, n)| *n == 1)
                .map(|(c, _)| *c)
                .collect();
            once.sort_unstable();
            let mut out = ell;
            for c in once {
                out.push(dim_of(c)?);
            }
            Some(out)
        }
    }
}

/// Output dims of a conv/pool window over `x` with kernel dims taken from `w[2..]`.
fn conv_dims(
    x: &Option<Vec<Dim>>,
    w: &Option<Vec<Dim>>,
    win: &Window,
    _extra: usize,
    ceil: bool,
) -> Option<Vec<Dim>> {
    let x = x.as_ref()?;
    let w = w.as_ref()?;
    if x.len() < 3 || w.len() != x.len() {
        return None;
    }
    let n = x.len() - 2;
    let mut out = vec![x[0].clone(), w[0].clone()];
    for i in 0..n {
        let k = win
            .kernel_shape
            .get(i)
            .copied()
            .or_else(|| w[2 + i].known());
        let (Some(d), Some(k)) = (x[2 + i].known(), k) else {
            out.push(Dim::Sym(format!("conv_out{i}")));
            continue;
        };
        let s = win.strides.get(i).copied().unwrap_or(1).max(1);
        let dl = win.dilations.get(i).copied().unwrap_or(1).max(1);
        let ek = dl * (k.max(1) - 1) + 1;
        let o = match win.auto_pad {
            AutoPad::SameUpper | AutoPad::SameLower => d.div_ceil(s),
            AutoPad::Valid => (d.saturating_sub(ek)) / s + 1,
            AutoPad::NotSet => {
                let p = win.pads.get(i).copied().unwrap_or(0)
                    + win.pads.get(n + i).copied().unwrap_or(0);
                let span = (d + p).checked_sub(ek)?;
                if ceil {
                    let mut o = span.div_ceil(s) + 1;
                    if (o - 1) * s >= d + win.pads.get(i).copied().unwrap_or(0) {
                        o -= 1;
                    }
                    o
                } else {
                    span / s + 1
                }
            }
        };
        out.push(Dim::Known(o));
    }
    Some(out)
}

fn reduce_dims(x: &[Dim], axes: &[i64], keepdims: bool, noop: bool) -> Option<Vec<Dim>> {
    if axes.is_empty() && noop {
        return Some(x.to_vec());
    }
    let axes: Vec<usize> = if axes.is_empty() {
        (0..x.len()).collect()
    } else {
        axes.iter()
            .map(|&a| normalize_axis(a, x.len()))
            .collect::<Option<_>>()?
    };
    Some(
        x.iter()
            .enumerate()
            .filter_map(|(i, d)| {
                if axes.contains(&i) {
                    keepdims.then_some(Dim::Known(1))
                } else {
                    Some(d.clone())
                }
            })
            .collect(),
    )
}

/// Output dims of a numpy slice when the bounds are constants; an axis whose extent is
/// symbolic keeps its dim when untouched (start 0, end past any extent, step 1) and gets a
/// fresh symbol otherwise.
fn slice_dims(
    node: &str,
    x: &[Dim],
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> Option<Vec<Dim>> {
    let n = starts.len();
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&a| normalize_axis(a, x.len()))
            .collect::<Option<_>>()?,
        None => (0..n).collect(),
    };
    let steps: Vec<i64> = steps.map_or_else(|| vec![1; n], |s| s.to_vec());
    if ends.len() != n || axes.len() != n || steps.len() != n || axes.iter().any(|&a| a >= x.len())
    {
        return None;
    }
    let mut out = x.to_vec();
    for k in 0..n {
        let (a, step) = (axes[k], steps[k]);
        if step == 0 {
            return None;
        }
        let Some(dim) = x[a].known() else {
            if !(starts[k] == 0 && ends[k] >= i32::MAX as i64 && step == 1) {
                out[a] = Dim::Sym(format!("{node}_d{a}"));
            }
            continue;
        };
        let d = dim as i64;
        let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (s, e) = (fix(starts[k]), fix(ends[k]));
        let count = if step > 0 {
            let (s, e) = (s.clamp(0, d), e.clamp(0, d));
            if e > s {
                (e - s - 1) / step + 1
            } else {
                0
            }
        } else {
            let (s, e) = (s.clamp(0, (d - 1).max(0)), e.clamp(-1, d - 1));
            if s > e {
                (s - e - 1) / step.saturating_neg() + 1
            } else {
                0
            }
        };
        out[a] = Dim::Known(if dim == 0 { 0 } else { count as usize });
    }
    Some(out)
}

/// The output dims of `Reshape` for input dims `x` (if known) and a constant shape `spec`. A 0
/// copies the input extent (an empty extent under `allowzero`); when the input extent is not
/// known the result is symbolic, never a made-up 0.
fn reshape_dims(x: Option<&[Dim]>, spec: &[i64], allowzero: bool) -> Option<Vec<Dim>> {
    let mut out = Vec::with_capacity(spec.len());
    let mut infer_at = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            -1 => {
                infer_at = Some(i);
                out.push(Dim::Known(0));
            }
            0 if allowzero => out.push(Dim::Known(0)),
            0 => match x {
                Some(x) => out.push(x.get(i).cloned()?),
                None => out.push(Dim::Sym(format!("reshape{i}"))),
            },
            s if s > 0 => out.push(Dim::Known(s as usize)),
            _ => return None,
        }
    }
    if let Some(i) = infer_at {
        let total: Option<usize> = x.and_then(|x| {
            x.iter()
                .map(Dim::known)
                .try_fold(1usize, |a, d| Some(a * d?))
        });
        let rest: Option<usize> = out
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .try_fold(1usize, |a, (_, d)| Some(a * d.known()?));
        out[i] = match (total, rest) {
            (Some(t), Some(r)) if r > 0 => Dim::Known(t / r),
            _ => Dim::Sym("reshape".into()),
        };
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_zero_copies_or_stays_unknown() {
        let k = |v: &[usize]| v.iter().map(|&d| Dim::Known(d)).collect::<Vec<_>>();
        // 0 copies the input extent.
        assert_eq!(
            reshape_dims(Some(&k(&[3, 4, 2])), &[0, 2, -1], false),
            Some(k(&[3, 2, 4]))
        );
        // Unknown input: a copied extent is unknown, not 0.
        let d = reshape_dims(None, &[0, 2, -1], false).unwrap_or_default();
        assert_eq!(d.len(), 3);
        assert!(d[0].known().is_none());
        assert_eq!(d[1], Dim::Known(2));
        // allowzero keeps a literal 0.
        assert_eq!(
            reshape_dims(Some(&k(&[3, 4])), &[0, 5], true),
            Some(k(&[0, 5]))
        );
    }

    #[test]
    fn matmul_shapes() {
        let k = |v: &[usize]| v.iter().map(|&d| Dim::Known(d)).collect::<Vec<_>>();
        assert_eq!(
            matmul_dims(&k(&[2, 3, 4]), &k(&[4, 5])),
            Some(k(&[2, 3, 5]))
        );
        assert_eq!(matmul_dims(&k(&[4]), &k(&[4, 5])), Some(k(&[5])));
        assert_eq!(matmul_dims(&k(&[3, 4]), &k(&[5, 6])), None);
    }

    #[test]
    fn einsum_shapes() {
        let k = |v: &[usize]| v.iter().map(|&d| Dim::Known(d)).collect::<Vec<_>>();
        assert_eq!(
            einsum_dims("bij,bjk->bik", &[k(&[2, 3, 4]), k(&[2, 4, 5])]),
            Some(k(&[2, 3, 5]))
        );
        assert_eq!(einsum_dims("ij", &[k(&[3, 4])]), Some(k(&[3, 4])));
        assert_eq!(einsum_dims("ji", &[k(&[3, 4])]), Some(k(&[4, 3])));
        assert_eq!(einsum_dims("ii", &[k(&[3, 3])]), Some(k(&[])));
        assert_eq!(
            einsum_dims("...ii->...i", &[k(&[2, 5, 3, 3])]),
            Some(k(&[2, 5, 3]))
        );
        assert_eq!(einsum_dims("ij,jk", &[k(&[3, 4])]), None);
    }

    #[test]
    fn slice_shapes() {
        let k = |v: &[usize]| v.iter().map(|&d| Dim::Known(d)).collect::<Vec<_>>();
        assert_eq!(
            slice_dims(
                "s",
                &k(&[10, 5]),
                &[-1, 1],
                &[i64::MIN, 100],
                None,
                Some(&[-3, 2])
            ),
            Some(k(&[4, 2]))
        );
        let x = vec![Dim::Sym("b".into()), Dim::Known(8)];
        assert_eq!(
            slice_dims("s", &x, &[0, 2], &[i64::MAX, 6], Some(&[0, 1]), None),
            Some(vec![Dim::Sym("b".into()), Dim::Known(4)])
        );
    }

    #[test]
    fn reshape_infers_minus_one() {
        let k = |v: &[usize]| v.iter().map(|&d| Dim::Known(d)).collect::<Vec<_>>();
        assert_eq!(
            reshape_dims(Some(&k(&[2, 3, 4])), &[0, -1], false),
            Some(k(&[2, 12]))
        );
    }
}
