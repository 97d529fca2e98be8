//! Table tests of the SQL92 subset (parse errors, evaluation against
//! properties) and property tests (print/parse round trip, NOT, De Morgan,
//! no panics on any input).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::eval::{evaluate, parse_double};
use super::*;

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The evaluation of `src` as TRUE/FALSE/unknown, or "fault".
fn outcome(src: &str, p: &BTreeMap<String, String>) -> &'static str {
    let sql = Sql92::compile(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    match evaluate(sql.expr(), p) {
        Ok(Value::Bool(true)) => "T",
        Ok(Value::Bool(false)) => "F",
        Ok(Value::Null) => "U",
        Ok(other) => panic!("{src}: not a boolean: {other:?}"),
        Err(_) => "fault",
    }
}

/// Expressions and their outcome against [`evaluation_table`]'s
/// properties: T, F, U (unknown) or "fault" (Java throws; no match).
const EVALUATIONS: &[(&str, &str)] = &[
    ("a = 5", "T"),
    ("a <> 5", "F"),
    ("a > 4 AND a < 6", "T"),
    ("a >= 5 and a <= 5", "T"),
    ("a > -1", "T"),
    ("a = 5.0", "T"),
    ("a > 4.5", "T"),
    ("big > 2147483648", "T"),
    // An int literal reads the property with `Integer.valueOf`, which throws.
    ("big > 2147483647", "fault"),
    ("big > 1", "fault"),
    ("price > 9", "fault"),
    ("price > 9.0", "T"),
    ("price BETWEEN 9.0 AND 10.0", "T"),
    ("a BETWEEN 1 AND 5", "T"),
    ("a BETWEEN 6 AND 9", "F"),
    ("a NOT BETWEEN 6 AND 9", "T"),
    ("name = 'it''s'", "T"),
    ("word = 'abc'", "T"),
    ("word <> 'abd'", "T"),
    ("word = 5", "fault"),
    ("word > 5", "fault"),
    ("word IN ('x', 'abc')", "T"),
    ("word NOT IN ('x', 'abc')", "F"),
    ("TAGS = 'TagA'", "T"),
    ("TAGS IN ('TagB')", "F"),
    ("flag = TRUE", "T"),
    ("missing = 1", "U"),
    ("missing > 1", "U"),
    ("missing IN ('x')", "U"),
    ("missing NOT IN ('x')", "U"),
    ("missing IS NULL", "T"),
    ("a IS NULL", "F"),
    ("a IS NOT NULL", "T"),
    ("missing BETWEEN 1 AND 2", "U"),
    ("NOT (missing = 1)", "U"),
    ("missing = 1 OR a = 5", "T"),
    ("missing = 1 AND a = 5", "U"),
    ("missing = 1 AND a = 6", "F"),
    ("a = 6 AND word > 1", "F"),
    ("word > 1 AND a = 6", "fault"),
    ("TRUE", "T"),
    ("FALSE OR true", "T"),
    ("NULL", "U"),
    ("a", "F"),
    ("missing", "U"),
    ("NOT a", "T"),
    // NOT binds tighter than `=`: `(NOT a) = 5` compares a boolean.
    ("NOT a = 5", "F"),
    ("word CONTAINS 'b'", "T"),
    ("word NOT STARTSWITH 'a'", "F"),
    ("word ENDSWITH 'bc'", "T"),
    ("missing CONTAINS 'b'", "F"),
    ("word CONTAINS ''", "F"),
    ("(a = 5) = TRUE", "T"),
    ("1 = TRUE", "F"),
    ("TRUE = word", "fault"),
];

#[test]
fn evaluation_table() {
    let p = props(&[
        ("a", "5"),
        ("big", "3000000000"),
        ("price", "9.5"),
        ("name", "it's"),
        ("word", "abc"),
        ("flag", "TRUE"),
        ("TAGS", "TagA"),
    ]);
    for &(src, want) in EVALUATIONS {
        assert_eq!(outcome(src, &p), want, "{src}");
        let matched = Sql92::compile(src).unwrap().matches(&p);
        assert_eq!(matched, want == "T", "{src}");
    }
}

#[test]
fn keywords_ignore_case_and_literals_keep_java_types() {
    let e = parser::parse("a between 1 and 2147483648").unwrap();
    let Expr::Between { low, high, .. } = e else {
        panic!("{e:?}")
    };
    assert_eq!((*low, *high), (Expr::Int(1), Expr::Long(2_147_483_648)));
    let e = parser::parse("-5").unwrap_err();
    assert_eq!(e.message, "(- 5) is not a boolean expression");
    assert_eq!(
        parser::parse("x = 7L").unwrap(),
        parser::parse("x = 7").unwrap()
    );
}

#[test]
fn invalid_expressions_say_what_and_where() {
    let cases = [
        ("", 1, "empty"),
        ("a >", 4, "expected a property"),
        ("a = 1 b", 7, "expected an operator"),
        ("(a = 1", 7, "')'"),
        ("a != 1", 3, "'<>'"),
        ("a = NULL", 3, "IS NULL"),
        ("a > 'x'", 3, "cannot be compared"),
        ("a > TRUE", 3, "cannot be compared"),
        ("a > 1 > 2", 7, "cannot be compared"),
        ("TRUE = 1", 6, "cannot be compared"),
        ("a BETWEEN 5 AND 1", 3, "low bound"),
        ("5 IN ('a')", 3, "needs a property"),
        ("a IN (1)", 7, "string literal"),
        ("a IN ()", 7, "string literal"),
        ("a = 0.0", 5, "smallest double"),
        ("a = 1e999", 5, "largest double"),
        ("a = 9223372036854775808", 5, "out of range"),
        ("a AND 5", 7, "not a boolean"),
        ("a = 'x", 5, "not closed"),
        ("a = 1 AND", 10, "found the end"),
    ];
    for (src, column, what) in cases {
        let e = Sql92::compile(src).unwrap_err();
        assert!(e.message.contains(what), "{src}: {e}");
        assert_eq!(e.column, column, "{src}: {e}");
    }
}

#[test]
fn limits_bound_size_nesting_and_terms() {
    let long = format!("a = '{}'", "x".repeat(MAX_SQL92_BYTES));
    assert!(Sql92::compile(&long).unwrap_err().message.contains("bytes"));
    let deep = format!("{}a = 1{}", "(".repeat(1000), ")".repeat(1000));
    let e = Sql92::compile(&deep).unwrap_err();
    assert!(e.message.contains("nests deeper"), "{e}");
    let nots = format!("{}TRUE", "NOT ".repeat(1000));
    assert!(Sql92::compile(&nots).is_err());
    let wide = vec!["a = 1"; MAX_SQL92_NODES].join(" OR ");
    let e = Sql92::compile(&wide).unwrap_err();
    assert!(e.message.contains("terms"), "{e}");
    let fits = vec!["a = 1"; 100].join(" OR ");
    assert!(Sql92::compile(&fits).is_ok());
    let nested = format!("{}a = 1{}", "(".repeat(60), ")".repeat(60));
    assert!(Sql92::compile(&nested).is_ok());
}

#[test]
fn java_double_parsing() {
    for (s, d) in [
        ("1", 1.0),
        (" 2.5 ", 2.5),
        ("3d", 3.0),
        ("-Infinity", f64::NEG_INFINITY),
    ] {
        assert_eq!(parse_double(s), Ok(d), "{s}");
    }
    assert!(parse_double("NaN").unwrap().is_nan());
    for s in ["", "abc", "inf", "nan", "1x", ".", "0x10"] {
        assert!(parse_double(s).is_err(), "{s}");
    }
}

fn arb_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "TAGS"]).prop_map(String::from),
        (-50i64..50).prop_map(|n| n.to_string()),
        (1u32..1000).prop_map(|n| format!("{n}.5")),
        Just("3000000000".to_string()),
        prop::sample::select(vec!["'x'", "'1'", "'it''s'", "''"]).prop_map(String::from),
    ]
}

/// Boolean-shaped source text from the grammar. Not always valid (`'x' >
/// 1` is refused): invalid ones exercise the error paths.
fn arb_source() -> impl Strategy<Value = String> {
    let cmp = prop::sample::select(vec!["=", "<>", "<", "<=", ">", ">="]);
    let leaf = prop_oneof![
        prop::sample::select(vec!["a", "TRUE", "FALSE", "NULL"]).prop_map(String::from),
        (arb_value(), cmp, arb_value()).prop_map(|(l, o, r)| format!("{l} {o} {r}")),
        arb_value().prop_map(|v| format!("{v} IS NULL")),
        (arb_value(), -5i32..5, 0i32..9)
            .prop_map(|(v, l, w)| format!("{v} BETWEEN {l} AND {}", l + w)),
        arb_value().prop_map(|v| format!("{v} NOT BETWEEN 1 AND 3")),
        prop::sample::select(vec!["a", "b", "TAGS"])
            .prop_map(|p| format!("{p} NOT IN ('x', '1', 'TagA')")),
        arb_value().prop_map(|v| format!("{v} STARTSWITH 'x'")),
    ];
    leaf.prop_recursive(6, 64, 2, |inner| {
        let logic = prop::sample::select(vec!["AND", "OR", "=", "<>"]);
        prop_oneof![
            (inner.clone(), logic, inner.clone()).prop_map(|(l, o, r)| format!("({l}) {o} ({r})")),
            inner.clone().prop_map(|e| format!("NOT ({e})")),
            inner.clone().prop_map(|e| format!("({e}) IS NOT NULL")),
            inner.prop_map(|e| format!("({e}) CONTAINS 'x'")),
        ]
    })
}

fn arb_props() -> impl Strategy<Value = BTreeMap<String, String>> {
    let value = prop::sample::select(vec![
        "1",
        "-3",
        "2.5",
        "x",
        "true",
        "TagA",
        "",
        "1e3",
        "3000000000",
        " 7 ",
    ]);
    prop::collection::btree_map(
        prop::sample::select(vec!["a".to_string(), "b".to_string(), "TAGS".to_string()]),
        value.prop_map(String::from),
        0..3,
    )
}

fn compiled(src: &str) -> Option<Sql92> {
    Sql92::compile(src).ok()
}

proptest! {
    #[test]
    fn printing_parses_back_to_the_same_tree(src in arb_source()) {
        if let Some(sql) = compiled(&src) {
            let printed = sql.expr().to_string();
            let again = parser::parse(&printed);
            prop_assert_eq!(again.as_ref(), Ok(sql.expr()), "{} printed as {}", src, printed);
        }
    }

    #[test]
    fn not_inverts_known_results(src in arb_source(), p in arb_props()) {
        if let (Some(e), Some(n)) = (compiled(&src), compiled(&format!("NOT ({src})"))) {
            let want = evaluate(e.expr(), &p).map(|v| match v {
                Value::Bool(b) => Value::Bool(!b),
                other => other,
            });
            prop_assert_eq!(evaluate(n.expr(), &p), want);
        }
    }

    #[test]
    fn de_morgan_holds(a in arb_source(), b in arb_source(), p in arb_props()) {
        let and = compiled(&format!("NOT (({a}) AND ({b}))"));
        let or = compiled(&format!("(NOT ({a})) OR (NOT ({b}))"));
        if let (Some(and), Some(or)) = (and, or) {
            prop_assert_eq!(evaluate(and.expr(), &p), evaluate(or.expr(), &p));
        }
    }

    #[test]
    fn any_input_parses_or_fails_without_panicking(src in ".{0,64}", p in arb_props()) {
        if let Some(sql) = compiled(&src) {
            let _ = sql.matches(&p);
        }
    }

    #[test]
    fn any_property_values_evaluate_without_panicking(
        src in arb_source(),
        a in "\\PC{0,12}",
        tags in "[ -~]{0,12}",
    ) {
        if let Some(sql) = compiled(&src) {
            let p = props(&[("a", a.as_str()), ("TAGS", tags.as_str())]);
            let _ = sql.matches(&p);
        }
    }

    #[test]
    fn grammar_shaped_input_evaluates_without_panicking(src in arb_source(), p in arb_props()) {
        if let Some(sql) = compiled(&src) {
            let _ = sql.matches(&p);
        }
    }
}
