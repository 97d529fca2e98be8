//! Tokens of RocketMQ's SQL92 selector grammar (`filter/…/SelectorParser.jj`
//! in apache/rocketmq): keywords and identifiers are case-insensitive ASCII
//! words, numbers are JavaCC's DECIMAL_LITERAL (`0` or no leading zero,
//! optional `L`) and FLOATING_POINT_LITERAL (`5.`, `.5`, `5.5E10`, `5E10`),
//! strings are single-quoted with `''` for a quote. Whitespace, `-- line`
//! and `/* block */` comments are skipped. Positions are byte offsets.

use super::Sql92Error;

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: Kind,
    pub at: usize,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Ident(String),
    /// A DECIMAL_LITERAL's digits (the `L` suffix dropped).
    Decimal(String),
    /// A FLOATING_POINT_LITERAL as written.
    Float(String),
    /// A string literal, quotes removed and `''` decoded.
    Str(String),
    Keyword(Keyword),
    Symbol(Symbol),
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
    Contains,
    StartsWith,
    EndsWith,
}

impl Keyword {
    const ALL: [(&'static str, Keyword); 12] = [
        ("NOT", Keyword::Not),
        ("AND", Keyword::And),
        ("OR", Keyword::Or),
        ("BETWEEN", Keyword::Between),
        ("IN", Keyword::In),
        ("TRUE", Keyword::True),
        ("FALSE", Keyword::False),
        ("NULL", Keyword::Null),
        ("IS", Keyword::Is),
        ("CONTAINS", Keyword::Contains),
        ("STARTSWITH", Keyword::StartsWith),
        ("ENDSWITH", Keyword::EndsWith),
    ];

    fn of(word: &str) -> Option<Keyword> {
        Self::ALL
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(word))
            .map(|(_, k)| *k)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(name, _)| name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symbol {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
}

impl Symbol {
    pub fn text(self) -> &'static str {
        match self {
            Symbol::Eq => "=",
            Symbol::Ne => "<>",
            Symbol::Lt => "<",
            Symbol::Le => "<=",
            Symbol::Gt => ">",
            Symbol::Ge => ">=",
            Symbol::LParen => "(",
            Symbol::RParen => ")",
            Symbol::Comma => ",",
            Symbol::Plus => "+",
            Symbol::Minus => "-",
        }
    }
}

/// Splits `src` into tokens, ending with [`Kind::End`].
pub fn tokenize(src: &str) -> Result<Vec<Token>, Sql92Error> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_blanks()?;
        let token = lexer.next_token()?;
        let end = token.kind == Kind::End;
        tokens.push(token);
        if end {
            return Ok(tokens);
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn rest(&self) -> &[u8] {
        &self.src.as_bytes()[self.pos..]
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.rest().get(ahead).copied()
    }

    fn error(&self, at: usize, what: impl Into<String>) -> Sql92Error {
        Sql92Error::new(self.src, at, what)
    }

    /// Whitespace and comments. A `--` comment may also end the input
    /// (JavaCC wants a newline after it; accepting more is harmless).
    fn skip_blanks(&mut self) -> Result<(), Sql92Error> {
        loop {
            match self.rest() {
                [b' ' | b'\t' | b'\n' | b'\r' | b'\x0c', ..] => self.pos += 1,
                [b'-', b'-', ..] => {
                    let len = self.rest().iter().position(|c| *c == b'\n' || *c == b'\r');
                    self.pos += len.unwrap_or(self.rest().len());
                }
                [b'/', b'*', ..] => {
                    let start = self.pos;
                    let body = &self.src[start + 2..];
                    let end = body
                        .find("*/")
                        .ok_or_else(|| self.error(start, "comment is not closed by */"))?;
                    self.pos = start + 2 + end + 2;
                }
                _ => return Ok(()),
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, Sql92Error> {
        let at = self.pos;
        let Some(c) = self.peek(0) else {
            return Ok(Token {
                kind: Kind::End,
                at,
            });
        };
        let kind = match c {
            b'\'' => self.string()?,
            b'0'..=b'9' => self.number()?,
            b'.' if self.peek(1).is_some_and(|d| d.is_ascii_digit()) => self.number()?,
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => self.word(),
            _ => Kind::Symbol(self.symbol()?),
        };
        Ok(Token { kind, at })
    }

    fn word(&mut self) -> Kind {
        let len = self
            .rest()
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$'))
            .unwrap_or(self.rest().len());
        let word = &self.src[self.pos..self.pos + len];
        self.pos += len;
        match Keyword::of(word) {
            Some(k) => Kind::Keyword(k),
            None => Kind::Ident(word.to_owned()),
        }
    }

    fn string(&mut self) -> Result<Kind, Sql92Error> {
        let start = self.pos;
        let mut value = String::new();
        let mut rest = &self.src[start + 1..];
        loop {
            let Some(quote) = rest.find('\'') else {
                return Err(self.error(start, "string literal is not closed by '"));
            };
            value.push_str(&rest[..quote]);
            rest = &rest[quote + 1..];
            if !rest.starts_with('\'') {
                break;
            }
            value.push('\'');
            rest = &rest[1..];
        }
        self.pos = self.src.len() - rest.len();
        Ok(Kind::Str(value))
    }

    fn digits(&mut self) -> usize {
        let len = self
            .rest()
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(self.rest().len());
        self.pos += len;
        len
    }

    /// `[eE][+-]?[0-9]+`, consumed only when complete.
    fn exponent(&mut self) -> bool {
        if !matches!(self.peek(0), Some(b'e' | b'E')) {
            return false;
        }
        let sign = usize::from(matches!(self.peek(1), Some(b'+' | b'-')));
        if !self.peek(1 + sign).is_some_and(|d| d.is_ascii_digit()) {
            return false;
        }
        self.pos += 1 + sign;
        self.digits();
        true
    }

    fn number(&mut self) -> Result<Kind, Sql92Error> {
        let start = self.pos;
        let int_digits = self.digits();
        let fraction = self.peek(0) == Some(b'.');
        if fraction {
            self.pos += 1;
            self.digits();
        }
        if self.exponent() || fraction {
            return Ok(Kind::Float(self.src[start..self.pos].to_owned()));
        }
        let digits = &self.src[start..start + int_digits];
        if digits.len() > 1 && digits.starts_with('0') {
            return Err(self.error(start, format!("number {digits} has a leading zero")));
        }
        if matches!(self.peek(0), Some(b'l' | b'L')) {
            self.pos += 1;
        }
        Ok(Kind::Decimal(digits.to_owned()))
    }

    fn symbol(&mut self) -> Result<Symbol, Sql92Error> {
        let two = match self.rest() {
            [b'<', b'>', ..] => Some(Symbol::Ne),
            [b'<', b'=', ..] => Some(Symbol::Le),
            [b'>', b'=', ..] => Some(Symbol::Ge),
            [b'!', b'=', ..] => {
                return Err(self.error(self.pos, "'!=' is not SQL92; write '<>'"));
            }
            _ => None,
        };
        if let Some(s) = two {
            self.pos += 2;
            return Ok(s);
        }
        let one = match self.peek(0).unwrap_or_default() {
            b'=' => Symbol::Eq,
            b'<' => Symbol::Lt,
            b'>' => Symbol::Gt,
            b'(' => Symbol::LParen,
            b')' => Symbol::RParen,
            b',' => Symbol::Comma,
            b'+' => Symbol::Plus,
            b'-' => Symbol::Minus,
            _ => {
                let c = self.src[self.pos..].chars().next().unwrap_or_default();
                return Err(self.error(self.pos, format!("unexpected character {c:?}")));
            }
        };
        self.pos += 1;
        Ok(one)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Kind> {
        tokenize(src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn numbers_follow_javacc_literals() {
        let float = |s: &str| Kind::Float(s.into());
        let dec = |s: &str| Kind::Decimal(s.into());
        assert_eq!(kinds("0 12 7L"), [dec("0"), dec("12"), dec("7"), Kind::End]);
        assert_eq!(
            kinds("5. .5 5.5E10 5e-3 1E+2"),
            [
                float("5."),
                float(".5"),
                float("5.5E10"),
                float("5e-3"),
                float("1E+2"),
                Kind::End
            ]
        );
        // `5e` is not an exponent: the number ends and a word follows.
        assert_eq!(kinds("5e"), [dec("5"), Kind::Ident("e".into()), Kind::End]);
        assert!(tokenize("007").is_err());
    }

    #[test]
    fn words_strings_comments_and_symbols() {
        assert_eq!(
            kinds("a_1 and $x -- note\n'it''s' /* c */ <> <= >= ("),
            [
                Kind::Ident("a_1".into()),
                Kind::Keyword(Keyword::And),
                Kind::Ident("$x".into()),
                Kind::Str("it's".into()),
                Kind::Symbol(Symbol::Ne),
                Kind::Symbol(Symbol::Le),
                Kind::Symbol(Symbol::Ge),
                Kind::Symbol(Symbol::LParen),
                Kind::End
            ]
        );
        assert_eq!(kinds("IsNull")[0], Kind::Ident("IsNull".into()));
        assert_eq!(kinds("between")[0], Kind::Keyword(Keyword::Between));
    }

    #[test]
    fn errors_say_where() {
        let e = tokenize("a = 'open").unwrap_err();
        assert!(e.to_string().contains("column 5"), "{e}");
        let e = tokenize("a != 1").unwrap_err();
        assert!(e.to_string().contains("'<>'"), "{e}");
        assert!(tokenize("a = 1 /* x").is_err());
        assert!(tokenize("a # 1").is_err());
        assert!(tokenize("é = 1").is_err());
    }
}
