//! Evaluation of a parsed expression against a message's properties, with
//! the semantics of RocketMQ's `filter/…/expression` classes:
//!
//! * values are Java's: `NULL`, booleans, `int`, `long`, `double` literals,
//!   and strings (every property is one);
//! * comparing unlike types converts the string side to the other side's
//!   type (`Integer.valueOf`, `Long.valueOf`, `Double.valueOf`,
//!   `Boolean.valueOf`) and a string that does not convert is a
//!   [`Fault`] (Java's `NumberFormatException`), as is comparing a boolean
//!   with a string on its right; other unlike pairs compare as "less";
//! * `<`, `<=`, `>`, `>=` between two strings read both as doubles;
//! * a missing property is unknown (`NULL`) and `AND`/`OR`/`NOT` use
//!   three-valued logic, evaluating left to right and stopping as Java does.
//!
//! Pure: properties come through [`Lookup`].

use std::cmp::Ordering;

use bolide_proto::message::Properties;

use super::{CmpOp, Expr, TextOp};

/// Where property values come from.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<&str>;
}

impl Lookup for Properties<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        Properties::get(self, name)
    }
}

impl Lookup for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        std::collections::BTreeMap::get(self, name).map(String::as_str)
    }
}

/// A value during evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(&'a str),
}

/// What Java throws while evaluating (the message is then not matched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault(pub String);

type Eval<'a> = Result<Value<'a>, Fault>;

/// Evaluates `e`; a TRUE result is a match.
pub fn evaluate<'a>(e: &'a Expr, props: &'a dyn Lookup) -> Eval<'a> {
    let value = |v: Option<&'a str>| v.map_or(Value::Null, Value::Str);
    Ok(match e {
        Expr::Null => Value::Null,
        Expr::Bool(b) => Value::Bool(*b),
        Expr::Int(n) => Value::Int(*n),
        Expr::Long(n) => Value::Long(*n),
        Expr::Double(d) => Value::Double(*d),
        Expr::Str(s) => Value::Str(s),
        Expr::Property(p) => value(props.get(p)),
        // Java's boolean cast of a property: a string is never TRUE.
        Expr::Truth(p) => match props.get(p) {
            None => Value::Null,
            Some(_) => Value::Bool(false),
        },
        Expr::Neg(e) => negate(evaluate(e, props)?),
        Expr::Not(e) => not(evaluate(e, props)?)?,
        Expr::And(l, r) => and(l, r, props)?,
        Expr::Or(l, r) => or(l, r, props)?,
        Expr::Cmp(op, l, r) => cmp(*op, evaluate(l, props)?, r, props)?,
        Expr::Between {
            value,
            low,
            high,
            negated,
        } => between(value, low, high, *negated, props)?,
        Expr::In {
            property,
            list,
            negated,
        } => match props.get(property) {
            None => Value::Null,
            Some(v) => Value::Bool(list.iter().any(|s| s == v) != *negated),
        },
        Expr::IsNull { value, negated } => {
            Value::Bool((evaluate(value, props)? == Value::Null) != *negated)
        }
        Expr::Text {
            op,
            value,
            pattern,
            negated,
        } => text(*op, evaluate(value, props)?, pattern, *negated),
    })
}

fn negate(v: Value<'_>) -> Value<'_> {
    match v {
        Value::Int(n) => Value::Int(n.wrapping_neg()),
        Value::Long(n) => Value::Long(n.wrapping_neg()),
        Value::Double(d) => Value::Double(-d),
        _ => Value::Null,
    }
}

/// A boolean operand's truth: `None` is unknown.
fn truth(v: Value<'_>) -> Result<Option<bool>, Fault> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        other => Err(Fault(format!("{other:?} is not a boolean"))),
    }
}

fn three(v: Option<bool>) -> Value<'static> {
    v.map_or(Value::Null, Value::Bool)
}

fn not(v: Value<'_>) -> Eval<'static> {
    Ok(three(truth(v)?.map(|b| !b)))
}

type Truth = Result<Option<bool>, Fault>;

/// Java's `LogicExpression`: `AND` stops at a FALSE left side, `OR` at a
/// TRUE one; otherwise a known `stop` on the right decides, and any
/// unknown side makes the answer unknown.
fn logic(stop: bool, left: impl FnOnce() -> Truth, right: impl FnOnce() -> Truth) -> Eval<'static> {
    let lv = left()?;
    if lv == Some(stop) {
        return Ok(Value::Bool(stop));
    }
    let rv = right()?;
    Ok(match (lv, rv) {
        (_, Some(r)) if r == stop => Value::Bool(stop),
        (Some(_), Some(_)) => Value::Bool(!stop),
        _ => Value::Null,
    })
}

fn and<'a>(l: &'a Expr, r: &'a Expr, props: &'a dyn Lookup) -> Eval<'a> {
    logic(
        false,
        || truth(evaluate(l, props)?),
        || truth(evaluate(r, props)?),
    )
}

fn or<'a>(l: &'a Expr, r: &'a Expr, props: &'a dyn Lookup) -> Eval<'a> {
    logic(
        true,
        || truth(evaluate(l, props)?),
        || truth(evaluate(r, props)?),
    )
}

/// `BETWEEN` is `value >= low AND value <= high`; `NOT BETWEEN` is
/// `value < low OR value > high` (Java builds exactly these trees, so
/// `value` is evaluated once per side).
fn between<'a>(
    value: &'a Expr,
    low: &'a Expr,
    high: &'a Expr,
    negated: bool,
    props: &'a dyn Lookup,
) -> Eval<'a> {
    let (first, second) = match negated {
        false => (CmpOp::Ge, CmpOp::Le),
        true => (CmpOp::Lt, CmpOp::Gt),
    };
    logic(
        negated,
        || truth(cmp(first, evaluate(value, props)?, low, props)?),
        || truth(cmp(second, evaluate(value, props)?, high, props)?),
    )
}

/// A comparison whose left side is already evaluated (the right side is
/// evaluated only when the left is known, as Java does for `<`-like ones).
fn cmp<'a>(op: CmpOp, lv: Value<'a>, r: &'a Expr, props: &'a dyn Lookup) -> Eval<'a> {
    match op {
        CmpOp::Eq => equal(lv, evaluate(r, props)?),
        CmpOp::Ne => not(equal(lv, evaluate(r, props)?)?),
        _ => {
            if lv == Value::Null {
                return Ok(Value::Null);
            }
            let rv = evaluate(r, props)?;
            if rv == Value::Null {
                return Ok(Value::Null);
            }
            let order = match (lv, rv) {
                (Value::Str(a), Value::Str(b)) => double_cmp(parse_double(a)?, parse_double(b)?),
                _ => compare(&lv, &rv)?,
            };
            Ok(Value::Bool(match op {
                CmpOp::Lt => order < 0,
                CmpOp::Le => order <= 0,
                CmpOp::Gt => order > 0,
                _ => order >= 0,
            }))
        }
    }
}

/// Java's equality: unknown when only the left side is NULL, false when
/// only the right is, true when both are.
fn equal<'a>(lv: Value<'a>, rv: Value<'a>) -> Eval<'a> {
    Ok(match (lv, rv) {
        (Value::Null, Value::Null) => Value::Bool(true),
        (Value::Null, _) => Value::Null,
        (_, Value::Null) => Value::Bool(false),
        _ => Value::Bool(compare(&lv, &rv)? == 0),
    })
}

fn text(op: TextOp, v: Value<'_>, pattern: &str, negated: bool) -> Value<'static> {
    let Value::Str(s) = v else {
        return Value::Bool(false);
    };
    if pattern.is_empty() {
        return Value::Bool(false);
    }
    let hit = match op {
        TextOp::Contains => s.contains(pattern),
        TextOp::StartsWith => s.starts_with(pattern),
        TextOp::EndsWith => s.ends_with(pattern),
    };
    Value::Bool(hit != negated)
}

/// Java's `ComparisonExpression.__compare` (string conversion on): the
/// sign of `lv` compared with `rv`. Neither may be NULL.
pub fn compare(lv: &Value<'_>, rv: &Value<'_>) -> Result<i32, Fault> {
    use Value::*;
    let sign = |o: Ordering| o as i32;
    Ok(match (*lv, *rv) {
        (Bool(a), Bool(b)) => sign(a.cmp(&b)),
        (Int(a), Int(b)) => sign(a.cmp(&b)),
        (Long(a), Long(b)) => sign(a.cmp(&b)),
        (Double(a), Double(b)) => double_cmp(a, b),
        (Str(a), Str(b)) => sign(a.cmp(b)),
        (Int(a), Long(b)) => sign((a as i64).cmp(&b)),
        (Long(a), Int(b)) => sign(a.cmp(&(b as i64))),
        (Int(a), Double(b)) => double_cmp(a as f64, b),
        (Long(a), Double(b)) => double_cmp(a as f64, b),
        (Double(a), Int(b)) => double_cmp(a, b as f64),
        (Double(a), Long(b)) => double_cmp(a, b as f64),
        (Int(a), Str(b)) => sign(a.cmp(&parse_int::<i32>(b)?)),
        (Long(a), Str(b)) => sign(a.cmp(&parse_int::<i64>(b)?)),
        (Double(a), Str(b)) => double_cmp(a, parse_double(b)?),
        (Str(a), Int(b)) => sign(parse_int::<i32>(a)?.cmp(&b)),
        (Str(a), Long(b)) => sign(parse_int::<i64>(a)?.cmp(&b)),
        (Str(a), Double(b)) => double_cmp(parse_double(a)?, b),
        (Str(a), Bool(b)) => sign(a.eq_ignore_ascii_case("true").cmp(&b)),
        // Java casts the boolean to a string here and throws.
        (Bool(_), Str(_)) => {
            return Err(Fault("a boolean cannot be compared with a string".into()))
        }
        _ => -1,
    })
}

/// `Double.compare`: NaN equals itself and is above everything, -0.0 < 0.0.
fn double_cmp(a: f64, b: f64) -> i32 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0,
        (true, false) => 1,
        (false, true) => -1,
        (false, false) => a.total_cmp(&b) as i32,
    }
}

/// `Integer.valueOf` / `Long.valueOf`: optional sign, ASCII digits.
fn parse_int<T: std::str::FromStr>(s: &str) -> Result<T, Fault> {
    s.parse()
        .map_err(|_| Fault(format!("{s:?} is not an integer")))
}

/// `Double.valueOf` for decimal text: surrounding whitespace, an optional
/// `f`/`d` suffix, `NaN` and `Infinity` (Java's spellings only). Hex
/// floats are not read.
pub fn parse_double(s: &str) -> Result<f64, Fault> {
    let fault = || Fault(format!("{s:?} is not a number"));
    let t = s.trim_matches(|c: char| c <= ' ');
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    match body {
        "NaN" => return Ok(f64::NAN),
        "Infinity" => return Ok(sign * f64::INFINITY),
        _ => {}
    }
    let body = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
    let plain = body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !plain || !body.bytes().any(|c| c.is_ascii_digit()) {
        return Err(fault());
    }
    body.parse::<f64>().map(|d| sign * d).map_err(|_| fault())
}
