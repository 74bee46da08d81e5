//! Checking the inputs given to [`Session::run`](crate::Session::run) against the model's
//! input types: names, kinds, dtypes, ranks, fixed dims, and consistent binding of symbolic
//! dims across inputs. Every problem is collected, not just the first.

use crate::binding::RunInput;
use crate::error::{InputProblem, RuntimeError};
use crate::session::IoInfo;
use std::collections::HashMap;
use tessera_ir::{DType, Dim, TensorType, Value, ValueType};

/// Symbol → (input, axis, extent) of its first binding.
type Bindings = HashMap<String, (String, usize, usize)>;

struct Checker<'a> {
    fixed: &'a HashMap<String, usize>,
    bindings: Bindings,
    problems: Vec<InputProblem>,
}

impl Checker<'_> {
    /// Checks `v` against `ty`; symbols are bound only for top-level tensors (elements of a
    /// sequence may differ in shape).
    fn check(&mut self, name: &str, ty: &ValueType, v: &Value, bind: bool) {
        match (ty, v) {
            (ValueType::Tensor(tt), Value::Tensor(t)) => {
                self.check_tensor(name, tt, t.dtype(), t.shape(), bind)
            }
            (ValueType::Sequence(e), Value::Sequence(items)) => {
                for (i, item) in items.iter().enumerate() {
                    self.check(&format!("{name}[{i}]"), e, item, false);
                }
            }
            (ValueType::Optional(_), Value::Optional(None)) => {}
            (ValueType::Optional(e), Value::Optional(Some(inner))) => {
                self.check(name, e, inner, bind)
            }
            (ty, v) => self.problems.push(InputProblem::Kind {
                name: name.into(),
                expected: kind_of(ty),
                found: v.kind(),
            }),
        }
    }

    /// Checks a tensor's dtype and shape against `tt`.
    fn check_tensor(
        &mut self,
        name: &str,
        tt: &TensorType,
        dtype: DType,
        shape: &[usize],
        bind: bool,
    ) {
        if tt.dtype != dtype {
            self.problems.push(InputProblem::DType {
                name: name.into(),
                expected: tt.dtype,
                found: dtype,
            });
        }
        let Some(dims) = &tt.shape else { return };
        if dims.len() != shape.len() {
            self.problems.push(InputProblem::Rank {
                name: name.into(),
                expected: dims.len(),
                found: shape.to_vec(),
            });
            return;
        }
        for (axis, (d, &n)) in dims.iter().zip(shape).enumerate() {
            match d {
                Dim::Known(k) if *k != n => self.problems.push(InputProblem::Dim {
                    name: name.into(),
                    axis,
                    expected: *k,
                    found: n,
                    symbol: None,
                }),
                Dim::Known(_) => {}
                Dim::Sym(s) => match self.fixed.get(s) {
                    Some(&k) if k != n => self.problems.push(InputProblem::Dim {
                        name: name.into(),
                        axis,
                        expected: k,
                        found: n,
                        symbol: Some(s.clone()),
                    }),
                    Some(_) => {}
                    None if bind => match self.bindings.get(s) {
                        Some(first) if first.2 != n => self.problems.push(InputProblem::Symbol {
                            symbol: s.clone(),
                            first: first.clone(),
                            second: (name.into(), axis, n),
                        }),
                        Some(_) => {}
                        None => {
                            self.bindings.insert(s.clone(), (name.into(), axis, n));
                        }
                    },
                    None => {}
                },
            }
        }
    }

    /// Checks one given input against `ty`.
    fn check_input(&mut self, name: &str, ty: &ValueType, v: &RunInput) {
        match (ty, v) {
            (_, RunInput::Value(v)) => self.check(name, ty, v, true),
            (ValueType::Tensor(tt), RunInput::External(e)) => {
                let need = tessera_hal::buffer::view_byte_len(e.dtype, &e.shape);
                match need {
                    Ok(n) if n <= e.buffer.size() => {}
                    Ok(n) => self.problems.push(InputProblem::External {
                        name: name.into(),
                        reason: format!(
                            "a {} tensor of shape {:?} needs {n} bytes; the buffer holds {}",
                            e.dtype,
                            e.shape,
                            e.buffer.size()
                        ),
                    }),
                    Err(err) => self.problems.push(InputProblem::External {
                        name: name.into(),
                        reason: err.to_string(),
                    }),
                }
                self.check_tensor(name, tt, e.dtype, &e.shape, true)
            }
            (ty, v) => self.problems.push(InputProblem::Kind {
                name: name.into(),
                expected: kind_of(ty),
                found: v.kind(),
            }),
        }
    }
}

fn kind_of(ty: &ValueType) -> &'static str {
    match ty {
        ValueType::Tensor(_) => "tensor",
        ValueType::Sequence(_) => "sequence",
        ValueType::Optional(_) => "optional",
    }
}

/// Matches `given` to `inputs` by name and checks each value (for tensors in shared memory:
/// dtype, shape and that the buffer holds them); returns the values in input order, or every
/// problem found.
pub(crate) fn validate(
    inputs: &[IoInfo],
    fixed: &HashMap<String, usize>,
    given: Vec<(String, RunInput)>,
) -> Result<Vec<RunInput>, RuntimeError> {
    let index: HashMap<&str, usize> = inputs
        .iter()
        .enumerate()
        .map(|(i, x)| (x.name.as_str(), i))
        .collect();
    let mut slots: Vec<Option<RunInput>> = (0..inputs.len()).map(|_| None).collect();
    let mut c = Checker {
        fixed,
        bindings: Bindings::new(),
        problems: Vec::new(),
    };
    for (name, v) in given {
        match index.get(name.as_str()) {
            None => c.problems.push(InputProblem::Unknown {
                name,
                known: inputs.iter().map(|x| x.name.clone()).collect(),
            }),
            Some(&i) if slots[i].is_some() => c.problems.push(InputProblem::Duplicate { name }),
            Some(&i) => slots[i] = Some(v),
        }
    }
    for (info, slot) in inputs.iter().zip(&slots) {
        match slot {
            None => c.problems.push(InputProblem::Missing {
                name: info.name.clone(),
                expected: info
                    .ty
                    .as_ref()
                    .map_or_else(|| "any type".to_string(), |t| t.to_string()),
            }),
            Some(v) => {
                if let Some(ty) = &info.ty {
                    c.check_input(&info.name, ty, v)
                }
            }
        }
    }
    if !c.problems.is_empty() {
        return Err(RuntimeError::Inputs(c.problems));
    }
    Ok(slots.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `validate` on host values only, as `Session::run` calls it.
    fn validate(
        inputs: &[IoInfo],
        fixed: &HashMap<String, usize>,
        given: Vec<(String, Value)>,
    ) -> Result<Vec<Value>, RuntimeError> {
        let given = given
            .into_iter()
            .map(|(n, v)| (n, RunInput::Value(v)))
            .collect();
        Ok(super::validate(inputs, fixed, given)?
            .into_iter()
            .map(|r| match r {
                RunInput::Value(v) => v,
                RunInput::External(_) => unreachable!("only values were given"),
            })
            .collect())
    }
    use tessera_ir::{DType, Tensor, TensorType};

    fn sym(s: &str) -> Dim {
        Dim::Sym(s.into())
    }

    fn info(name: &str, dtype: DType, dims: Vec<Dim>) -> IoInfo {
        IoInfo {
            name: name.into(),
            ty: Some(ValueType::Tensor(TensorType {
                dtype,
                shape: Some(dims),
            })),
        }
    }

    fn f32s(shape: &[usize]) -> Value {
        Value::Tensor(Tensor::zeros(DType::F32, shape.to_vec()).unwrap())
    }

    fn problems(r: Result<Vec<Value>, RuntimeError>) -> Vec<InputProblem> {
        match r {
            Err(RuntimeError::Inputs(p)) => p,
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("expected problems"),
        }
    }

    fn model() -> Vec<IoInfo> {
        vec![
            info("x", DType::F32, vec![sym("batch"), Dim::Known(3)]),
            info("y", DType::F32, vec![sym("batch"), sym("seq")]),
        ]
    }

    #[test]
    fn accepts_consistent_inputs_in_any_order() {
        let fixed = HashMap::new();
        let v = validate(
            &model(),
            &fixed,
            vec![("y".into(), f32s(&[2, 7])), ("x".into(), f32s(&[2, 3]))],
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].as_tensor().unwrap().shape(), &[2, 3]);
    }

    #[test]
    fn reports_every_problem() {
        let fixed = HashMap::new();
        let p = problems(validate(
            &model(),
            &fixed,
            vec![
                (
                    "x".into(),
                    Value::Tensor(Tensor::zeros(DType::I64, vec![2, 4]).unwrap()),
                ),
                ("z".into(), f32s(&[1])),
                ("x".into(), f32s(&[2, 3])),
            ],
        ));
        assert!(p
            .iter()
            .any(|p| matches!(p, InputProblem::Unknown { name, .. } if name == "z")));
        assert!(p
            .iter()
            .any(|p| matches!(p, InputProblem::Duplicate { name } if name == "x")));
        assert!(p
            .iter()
            .any(|p| matches!(p, InputProblem::Missing { name, .. } if name == "y")));
        assert!(p.iter().any(|p| matches!(
            p,
            InputProblem::DType {
                expected: DType::F32,
                found: DType::I64,
                ..
            }
        )));
        assert!(p.iter().any(|p| matches!(
            p,
            InputProblem::Dim {
                axis: 1,
                expected: 3,
                found: 4,
                ..
            }
        )));
        let e = RuntimeError::Inputs(p).to_string();
        assert!(e.contains("5 problem(s)"), "{e}");
        assert!(
            e.contains("'z' is not an input of the model (inputs: x, y)"),
            "{e}"
        );
    }

    #[test]
    fn rank_and_kind() {
        let fixed = HashMap::new();
        let p = problems(validate(
            &model(),
            &fixed,
            vec![
                ("x".into(), f32s(&[2, 3, 1])),
                ("y".into(), Value::Sequence(vec![])),
            ],
        ));
        assert!(matches!(&p[0], InputProblem::Rank { expected: 2, .. }));
        assert!(matches!(
            &p[1],
            InputProblem::Kind {
                expected: "tensor",
                found: "sequence",
                ..
            }
        ));
    }

    #[test]
    fn symbolic_dims_bind_consistently() {
        let fixed = HashMap::new();
        let p = problems(validate(
            &model(),
            &fixed,
            vec![("x".into(), f32s(&[2, 3])), ("y".into(), f32s(&[5, 7]))],
        ));
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].to_string(),
            "dim 'batch' is 2 in input 'x' (dim 0) but 5 in input 'y' (dim 0)"
        );
    }

    #[test]
    fn dims_fixed_by_options() {
        let fixed = HashMap::from([("batch".to_string(), 1)]);
        let p = problems(validate(
            &model(),
            &fixed,
            vec![("x".into(), f32s(&[2, 3])), ("y".into(), f32s(&[1, 7]))],
        ));
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].to_string(),
            "input 'x': dim 0 must be 1, got 2 ('batch' is set to 1)"
        );
    }

    #[test]
    fn sequences_and_optionals() {
        let elem = ValueType::Tensor(TensorType {
            dtype: DType::F32,
            shape: Some(vec![sym("n")]),
        });
        let inputs = vec![
            IoInfo {
                name: "s".into(),
                ty: Some(ValueType::Sequence(Box::new(elem.clone()))),
            },
            IoInfo {
                name: "o".into(),
                ty: Some(ValueType::Optional(Box::new(elem))),
            },
        ];
        let fixed = HashMap::new();
        // Elements of a sequence may differ in shape.
        validate(
            &inputs,
            &fixed,
            vec![
                ("s".into(), Value::Sequence(vec![f32s(&[1]), f32s(&[2])])),
                ("o".into(), Value::Optional(None)),
            ],
        )
        .unwrap();
        let p = problems(validate(
            &inputs,
            &fixed,
            vec![
                (
                    "s".into(),
                    Value::Sequence(vec![Value::Tensor(Tensor::scalar(1i32))]),
                ),
                ("o".into(), f32s(&[1])),
            ],
        ));
        assert!(matches!(&p[0], InputProblem::DType { name, .. } if name == "s[0]"));
        assert!(matches!(&p[1], InputProblem::Rank { name, .. } if name == "s[0]"));
        assert!(matches!(
            &p[2],
            InputProblem::Kind {
                expected: "optional",
                ..
            }
        ));
    }
}
