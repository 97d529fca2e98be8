//! Recursive-descent parser of RocketMQ's selector grammar, with the checks
//! its expression factories make at compile time (what is refused there is
//! refused here, with the column):
//!
//! ```text
//! or      := and (OR and)*
//! and     := eq (AND eq)*
//! eq      := cmp ( ('=' | '<>') cmp | IS [NOT] NULL )*
//! cmp     := unary ( ('>' | '>=' | '<' | '<=') unary
//!                  | [NOT] (CONTAINS | STARTSWITH | ENDSWITH) string
//!                  | [NOT] BETWEEN unary AND unary
//!                  | [NOT] IN '(' string (',' string)* ')' )*
//! unary   := ('+' | '-' | NOT) unary | primary
//! primary := literal | property | '(' or ')'
//! ```
//!
//! `NOT` is a prefix of `unary`, as in JMS selectors: `NOT a = 1` is
//! `(NOT a) = 1`; write `NOT (a = 1)`.

use super::eval::compare;
use super::lexer::{tokenize, Keyword, Kind, Symbol, Token};
use super::{
    CmpOp, Expr, Sql92Error, TextOp, Value, MAX_SQL92_BYTES, MAX_SQL92_NESTING, MAX_SQL92_NODES,
};

/// Parses a whole expression.
pub fn parse(src: &str) -> Result<Expr, Sql92Error> {
    if src.len() > MAX_SQL92_BYTES {
        let why = format!(
            "expression is {} bytes, the limit is {MAX_SQL92_BYTES}",
            src.len()
        );
        return Err(Sql92Error::new(src, 0, why));
    }
    let mut parser = Parser {
        src,
        tokens: tokenize(src)?,
        next: 0,
        nodes: 0,
        nesting: 0,
    };
    if parser.peek().kind == Kind::End {
        return Err(parser.error_here("empty expression"));
    }
    let at = parser.peek().at;
    let expr = parser.or()?;
    let expr = parser.boolean(expr, at)?;
    match &parser.peek().kind {
        Kind::End => Ok(expr),
        _ => Err(parser.unexpected("an operator or the end")),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    next: usize,
    nodes: usize,
    nesting: usize,
}

/// A prefix operator of `unary`.
enum Prefix {
    Plus,
    Minus,
    Not,
}

/// Whether Java's tree would be a `BooleanExpression`.
fn is_boolean(e: &Expr) -> bool {
    !matches!(
        e,
        Expr::Int(_)
            | Expr::Long(_)
            | Expr::Double(_)
            | Expr::Str(_)
            | Expr::Property(_)
            | Expr::Neg(_)
    )
}

fn is_literal(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Null | Expr::Bool(_) | Expr::Int(_) | Expr::Long(_) | Expr::Double(_) | Expr::Str(_)
    )
}

fn literal_value(e: &Expr) -> Option<Value<'_>> {
    match e {
        Expr::Int(n) => Some(Value::Int(*n)),
        Expr::Long(n) => Some(Value::Long(*n)),
        Expr::Double(d) => Some(Value::Double(*d)),
        _ => None,
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != Kind::End {
            self.next += 1;
        }
        token
    }

    fn error_at(&self, at: usize, what: impl Into<String>) -> Sql92Error {
        Sql92Error::new(self.src, at, what)
    }

    fn error_here(&self, what: impl Into<String>) -> Sql92Error {
        self.error_at(self.peek().at, what)
    }

    fn unexpected(&self, wanted: &str) -> Sql92Error {
        let found = match &self.peek().kind {
            Kind::Ident(name) => format!("property {name}"),
            Kind::Decimal(n) | Kind::Float(n) => format!("number {n}"),
            Kind::Str(s) => format!("string {}", super::quote(s)),
            Kind::Keyword(k) => k.name().to_owned(),
            Kind::Symbol(s) => format!("'{}'", s.text()),
            Kind::End => "the end".to_owned(),
        };
        self.error_here(format!("expected {wanted}, found {found}"))
    }

    fn eat_keyword(&mut self, k: Keyword) -> bool {
        let hit = self.peek().kind == Kind::Keyword(k);
        if hit {
            self.bump();
        }
        hit
    }

    fn eat_symbol(&mut self, s: Symbol) -> bool {
        let hit = self.peek().kind == Kind::Symbol(s);
        if hit {
            self.bump();
        }
        hit
    }

    fn expect_keyword(&mut self, k: Keyword) -> Result<(), Sql92Error> {
        match self.eat_keyword(k) {
            true => Ok(()),
            false => Err(self.unexpected(k.name())),
        }
    }

    fn expect_symbol(&mut self, s: Symbol) -> Result<(), Sql92Error> {
        match self.eat_symbol(s) {
            true => Ok(()),
            false => Err(self.unexpected(&format!("'{}'", s.text()))),
        }
    }

    /// Counts a node against [`MAX_SQL92_NODES`].
    fn node(&mut self, e: Expr, at: usize) -> Result<Expr, Sql92Error> {
        self.nodes += 1;
        if self.nodes > MAX_SQL92_NODES {
            let why = format!("expression has more than {MAX_SQL92_NODES} terms");
            return Err(self.error_at(at, why));
        }
        Ok(e)
    }

    /// Java's `asBooleanExpression`: a property becomes its truth value,
    /// other non-boolean terms are refused.
    fn boolean(&self, e: Expr, at: usize) -> Result<Expr, Sql92Error> {
        match e {
            Expr::Property(p) => Ok(Expr::Truth(p)),
            e if is_boolean(&e) => Ok(e),
            e => Err(self.error_at(at, format!("{e} is not a boolean expression"))),
        }
    }

    fn or(&mut self) -> Result<Expr, Sql92Error> {
        let at = self.peek().at;
        let mut left = self.and()?;
        while self.peek().kind == Kind::Keyword(Keyword::Or) {
            let op_at = self.bump().at;
            let right_at = self.peek().at;
            let right = self.and()?;
            let (l, r) = (self.boolean(left, at)?, self.boolean(right, right_at)?);
            left = self.node(Expr::Or(Box::new(l), Box::new(r)), op_at)?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, Sql92Error> {
        let at = self.peek().at;
        let mut left = self.equality()?;
        while self.peek().kind == Kind::Keyword(Keyword::And) {
            let op_at = self.bump().at;
            let right_at = self.peek().at;
            let right = self.equality()?;
            let (l, r) = (self.boolean(left, at)?, self.boolean(right, right_at)?);
            left = self.node(Expr::And(Box::new(l), Box::new(r)), op_at)?;
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Expr, Sql92Error> {
        let mut left = self.comparison()?;
        loop {
            let at = self.peek().at;
            let op = match self.peek().kind {
                Kind::Symbol(Symbol::Eq) => CmpOp::Eq,
                Kind::Symbol(Symbol::Ne) => CmpOp::Ne,
                Kind::Keyword(Keyword::Is) => {
                    self.bump();
                    let negated = self.eat_keyword(Keyword::Not);
                    self.expect_keyword(Keyword::Null)?;
                    let value = Box::new(left);
                    left = self.node(Expr::IsNull { value, negated }, at)?;
                    continue;
                }
                _ => return Ok(left),
            };
            self.bump();
            let right = self.comparison()?;
            self.check_equal(&left, &right, at)?;
            left = self.node(Expr::Cmp(op, Box::new(left), Box::new(right)), at)?;
        }
    }

    /// `ComparisonExpression.checkEqualOperand` and
    /// `checkEqualOperandCompatability`.
    fn check_equal(&self, left: &Expr, right: &Expr, at: usize) -> Result<(), Sql92Error> {
        if matches!(left, Expr::Null) || matches!(right, Expr::Null) {
            return Err(self.error_at(at, "NULL cannot be compared with '='; use IS NULL"));
        }
        if is_literal(left) && is_literal(right) && is_boolean(left) && !is_boolean(right) {
            return Err(self.error_at(at, format!("{left} cannot be compared with {right}")));
        }
        Ok(())
    }

    /// `ComparisonExpression.checkLessThanOperand`: only numbers and
    /// non-boolean terms can be ordered.
    fn check_orderable(&self, e: &Expr, at: usize) -> Result<(), Sql92Error> {
        let refused = match e {
            Expr::Int(_) | Expr::Long(_) | Expr::Double(_) => false,
            e => is_literal(e) || is_boolean(e),
        };
        match refused {
            true => Err(self.error_at(at, format!("{e} cannot be compared with < or >"))),
            false => Ok(()),
        }
    }

    fn comparison(&mut self) -> Result<Expr, Sql92Error> {
        let mut left = self.unary()?;
        loop {
            let at = self.peek().at;
            let op = match self.peek().kind {
                Kind::Symbol(Symbol::Gt) => CmpOp::Gt,
                Kind::Symbol(Symbol::Ge) => CmpOp::Ge,
                Kind::Symbol(Symbol::Lt) => CmpOp::Lt,
                Kind::Symbol(Symbol::Le) => CmpOp::Le,
                _ => match self.postfix(left, at)? {
                    Ok(e) => {
                        left = self.node(e, at)?;
                        continue;
                    }
                    Err(e) => return Ok(e),
                },
            };
            self.bump();
            let right = self.unary()?;
            self.check_orderable(&left, at)?;
            self.check_orderable(&right, at)?;
            left = self.node(Expr::Cmp(op, Box::new(left), Box::new(right)), at)?;
        }
    }

    /// `[NOT] BETWEEN | IN | CONTAINS | STARTSWITH | ENDSWITH` after `left`:
    /// `Ok(new)` when one follows, `Err(left)` back when none does.
    fn postfix(&mut self, left: Expr, at: usize) -> Result<Result<Expr, Expr>, Sql92Error> {
        let negated = self.peek().kind == Kind::Keyword(Keyword::Not);
        let keyword = match self.tokens.get(self.next + usize::from(negated)) {
            Some(Token {
                kind: Kind::Keyword(k),
                ..
            }) => *k,
            _ => return Ok(Err(left)),
        };
        let text = match keyword {
            Keyword::Contains => TextOp::Contains,
            Keyword::StartsWith => TextOp::StartsWith,
            Keyword::EndsWith => TextOp::EndsWith,
            Keyword::Between => return self.between(left, negated, at).map(Ok),
            Keyword::In => return self.in_list(left, negated, at).map(Ok),
            _ => return Ok(Err(left)),
        };
        self.next += 1 + usize::from(negated);
        let pattern = self.string()?;
        Ok(Ok(Expr::Text {
            op: text,
            value: Box::new(left),
            pattern,
            negated,
        }))
    }

    fn between(&mut self, value: Expr, negated: bool, at: usize) -> Result<Expr, Sql92Error> {
        self.next += 1 + usize::from(negated);
        let low = self.unary()?;
        self.expect_keyword(Keyword::And)?;
        let high = self.unary()?;
        // `createBetween` refuses constant bounds in the wrong order.
        if let (false, Some(l), Some(h)) = (negated, literal_value(&low), literal_value(&high)) {
            if compare(&h, &l).is_ok_and(|o| o < 0) {
                let why = format!("BETWEEN {low} AND {high}: the low bound is above the high one");
                return Err(self.error_at(at, why));
            }
        }
        for e in [&value, &low, &high] {
            self.check_orderable(e, at)?;
        }
        Ok(Expr::Between {
            value: Box::new(value),
            low: Box::new(low),
            high: Box::new(high),
            negated,
        })
    }

    fn in_list(&mut self, value: Expr, negated: bool, at: usize) -> Result<Expr, Sql92Error> {
        let Expr::Property(property) = value else {
            return Err(self.error_at(at, format!("IN needs a property on its left, not {value}")));
        };
        self.next += 1 + usize::from(negated);
        self.expect_symbol(Symbol::LParen)?;
        let mut list = vec![self.string()?];
        while self.eat_symbol(Symbol::Comma) {
            list.push(self.string()?);
        }
        self.expect_symbol(Symbol::RParen)?;
        Ok(Expr::In {
            property,
            list,
            negated,
        })
    }

    fn string(&mut self) -> Result<String, Sql92Error> {
        match &self.peek().kind {
            Kind::Str(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected("a string literal")),
        }
    }

    fn unary(&mut self) -> Result<Expr, Sql92Error> {
        let at = self.peek().at;
        let prefix = match self.peek().kind {
            Kind::Symbol(Symbol::Plus) => Prefix::Plus,
            Kind::Symbol(Symbol::Minus) => Prefix::Minus,
            Kind::Keyword(Keyword::Not) => Prefix::Not,
            _ => return self.primary(),
        };
        self.bump();
        let operand_at = self.peek().at;
        let operand = self.nested(Self::unary, at)?;
        match prefix {
            Prefix::Plus => Ok(operand),
            Prefix::Minus => self.node(Expr::Neg(Box::new(operand)), at),
            Prefix::Not => {
                let operand = self.boolean(operand, operand_at)?;
                self.node(Expr::Not(Box::new(operand)), at)
            }
        }
    }

    /// Runs `f` one level deeper, refusing more than [`MAX_SQL92_NESTING`].
    fn nested(
        &mut self,
        f: fn(&mut Self) -> Result<Expr, Sql92Error>,
        at: usize,
    ) -> Result<Expr, Sql92Error> {
        if self.nesting >= MAX_SQL92_NESTING {
            let why = format!("expression nests deeper than {MAX_SQL92_NESTING} levels");
            return Err(self.error_at(at, why));
        }
        self.nesting += 1;
        let result = f(self);
        self.nesting -= 1;
        result
    }

    fn primary(&mut self) -> Result<Expr, Sql92Error> {
        let token = self.peek().clone();
        let expr = match token.kind {
            Kind::Symbol(Symbol::LParen) => {
                self.bump();
                let inner = self.nested(Self::or, token.at)?;
                self.expect_symbol(Symbol::RParen)?;
                return Ok(inner);
            }
            Kind::Ident(name) => Expr::Property(name),
            Kind::Str(s) => Expr::Str(s),
            Kind::Decimal(digits) => self.decimal(&digits, token.at)?,
            Kind::Float(text) => self.float(&text, token.at)?,
            Kind::Keyword(Keyword::True) => Expr::Bool(true),
            Kind::Keyword(Keyword::False) => Expr::Bool(false),
            Kind::Keyword(Keyword::Null) => Expr::Null,
            _ => return Err(self.unexpected("a property, a literal or '('")),
        };
        self.bump();
        self.node(expr, token.at)
    }

    /// `ConstantExpression.createFromDecimal`: an `int` when it fits, else a `long`.
    fn decimal(&self, digits: &str, at: usize) -> Result<Expr, Sql92Error> {
        let n: i64 = digits
            .parse()
            .map_err(|_| self.error_at(at, format!("number {digits} is out of range")))?;
        Ok(i32::try_from(n).map_or(Expr::Long(n), Expr::Int))
    }

    /// `ConstantExpression.createFloat`, which refuses infinities and,
    /// below Java's `Double.MIN_VALUE`, every literal that reads as 0.
    fn float(&self, text: &str, at: usize) -> Result<Expr, Sql92Error> {
        let d: f64 = text
            .parse()
            .map_err(|_| self.error_at(at, format!("number {text} is malformed")))?;
        if d.is_infinite() {
            return Err(self.error_at(at, format!("{text} is greater than the largest double")));
        }
        if d < f64::from_bits(1) {
            let why =
                format!("{text} is less than the smallest double (RocketMQ refuses 0.0; write 0)");
            return Err(self.error_at(at, why));
        }
        Ok(Expr::Double(d))
    }
}
