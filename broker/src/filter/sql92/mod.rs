//! RocketMQ's SQL92 property filter: a pure parser ([`parser`]) and
//! evaluator ([`eval`]) of the selector subset its broker compiles
//! (apache/rocketmq `filter/…/parser/SelectorParser.jj` and
//! `filter/…/expression/*`): comparisons (`= <> < <= > >=`), `BETWEEN`,
//! `IN`, `IS [NOT] NULL`, `CONTAINS`/`STARTSWITH`/`ENDSWITH`,
//! `AND`/`OR`/`NOT`, parentheses, numbers, strings, `TRUE`/`FALSE`/`NULL`.
//! Properties are the message's properties (user ones and `TAGS`, `KEYS`, …).
//!
//! Evaluation keeps Java's rules, including its three-valued logic (a
//! missing property makes a comparison unknown, and unknown never
//! matches) and its failures: a property that must be read as a number
//! but is not one (`a > 5` with `a = 'x'`) throws in Java, the broker
//! catches it and skips the message, so here it is a [`eval::Fault`] that
//! ends the evaluation the same way.
//!
//! Input is bounded ([`MAX_SQL92_BYTES`], [`MAX_SQL92_NODES`],
//! [`MAX_SQL92_NESTING`]) so no client can make the broker recurse without
//! end, here or when evaluating the tree.

pub mod eval;
pub mod lexer;
pub mod parser;
#[cfg(test)]
mod tests;

use std::fmt;

pub use eval::{Fault, Lookup, Value};

/// Longest expression accepted, in bytes.
pub const MAX_SQL92_BYTES: usize = 16 * 1024;
/// Most nodes in an expression's tree (an `IN` list counts once); also
/// bounds the tree's depth, hence the evaluator's recursion.
pub const MAX_SQL92_NODES: usize = 512;
/// Deepest nesting of parentheses and prefix operators (the parser's
/// recursion).
pub const MAX_SQL92_NESTING: usize = 64;

/// An expression refused, with the 1-based column it was refused at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sql92Error {
    pub column: usize,
    pub message: String,
}

impl Sql92Error {
    /// An error at byte offset `at` of `src`.
    pub fn new(src: &str, at: usize, message: impl Into<String>) -> Self {
        let at = at.min(src.len());
        let column = src.get(..at).map_or(at, |prefix| prefix.chars().count()) + 1;
        Sql92Error {
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Sql92Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid SQL92 expression at column {}: {}",
            self.column, self.message
        )
    }
}

/// Comparison operators (`<>` is kept apart from `NOT (=)` only for printing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn text(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// `CONTAINS`, `STARTSWITH`, `ENDSWITH` (RocketMQ 5 additions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

impl TextOp {
    pub fn text(self) -> &'static str {
        match self {
            TextOp::Contains => "CONTAINS",
            TextOp::StartsWith => "STARTSWITH",
            TextOp::EndsWith => "ENDSWITH",
        }
    }
}

/// A parsed expression. Literals keep Java's types: a decimal that fits
/// an `int` is [`Expr::Int`], a larger one [`Expr::Long`].
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(String),
    Property(String),
    /// A property used where a boolean is expected (Java's boolean cast:
    /// unknown when missing, else false, since properties are strings).
    Truth(String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Between {
        value: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    In {
        property: String,
        list: Vec<String>,
        negated: bool,
    },
    IsNull {
        value: Box<Expr>,
        negated: bool,
    },
    Text {
        op: TextOp,
        value: Box<Expr>,
        pattern: String,
        negated: bool,
    },
}

/// `s` as a string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn not(negated: bool) -> &'static str {
    if negated {
        "NOT "
    } else {
        ""
    }
}

/// Prints an expression back as SQL92 that parses to the same tree: every
/// compound is parenthesized.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Null => f.write_str("NULL"),
            Expr::Bool(b) => f.write_str(if *b { "TRUE" } else { "FALSE" }),
            Expr::Int(n) => write!(f, "{n}"),
            Expr::Long(n) => write!(f, "{n}"),
            // Debug keeps a `.` or an exponent, so it lexes as a float again.
            Expr::Double(d) => write!(f, "{d:?}"),
            Expr::Str(s) => f.write_str(&quote(s)),
            Expr::Property(p) | Expr::Truth(p) => f.write_str(p),
            Expr::Neg(e) => write!(f, "(- {e})"),
            Expr::Not(e) => write!(f, "(NOT {e})"),
            Expr::And(l, r) => write!(f, "({l} AND {r})"),
            Expr::Or(l, r) => write!(f, "({l} OR {r})"),
            Expr::Cmp(op, l, r) => write!(f, "({l} {} {r})", op.text()),
            Expr::Between {
                value,
                low,
                high,
                negated,
            } => write!(f, "({value} {}BETWEEN {low} AND {high})", not(*negated)),
            Expr::In {
                property,
                list,
                negated,
            } => {
                let list: Vec<String> = list.iter().map(|s| quote(s)).collect();
                write!(f, "({property} {}IN ({}))", not(*negated), list.join(", "))
            }
            Expr::IsNull { value, negated } => write!(f, "({value} IS {}NULL)", not(*negated)),
            Expr::Text {
                op,
                value,
                pattern,
                negated,
            } => write!(
                f,
                "({value} {}{} {})",
                not(*negated),
                op.text(),
                quote(pattern)
            ),
        }
    }
}

/// A compiled SQL92 subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql92 {
    source: String,
    expr: Expr,
}

impl Sql92 {
    /// Parses and checks `source`.
    pub fn compile(source: &str) -> Result<Self, Sql92Error> {
        let expr = parser::parse(source)?;
        Ok(Sql92 {
            source: source.to_owned(),
            expr,
        })
    }

    /// The expression as the client wrote it.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether a message with these properties passes: only a TRUE result
    /// does (unknown and faults do not), as in RocketMQ's
    /// `ExpressionMessageFilter.isMatchedByCommitLog`.
    pub fn matches(&self, properties: &dyn Lookup) -> bool {
        matches!(
            eval::evaluate(&self.expr, properties),
            Ok(Value::Bool(true))
        )
    }
}
