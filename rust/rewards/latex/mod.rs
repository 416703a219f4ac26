//! LaTeX / plain-text answers → a small AST ([`Ans`], [`Expr`]).
//!
//! Two passes: [`normalize`] rewrites the string (spacing macros, `\left`,
//! `\dfrac`, degrees, `\%`, dollar signs, thousands separators, unit words),
//! then a recursive-descent parser builds the AST. Nothing is ever evaluated
//! as code: the AST only holds numbers, variables and a fixed set of
//! functions, and the evaluator in `compare.rs` interprets it.
//!
//! Caps (over a cap the answer does not parse, so it scores 0 — never a
//! panic, never unbounded work): [`MAX_ANSWER_BYTES`], [`MAX_DEPTH`],
//! [`MAX_NODES`], [`MAX_DIGITS`], [`MAX_ITEMS`], [`MAX_PM`].

use super::num::Q;

mod answer;
mod expr;
mod normalize;

use answer::parse_ans;
pub use answer::{expand_pm, is_label};
pub use normalize::{brace_group, normalize, text_key};

/// Longest extracted answer that is parsed (bytes). Real answers are tens of bytes.
pub const MAX_ANSWER_BYTES: usize = 8 * 1024;
/// Deepest recursion of the parser (about four levels per LaTeX group, so
/// about 100 nested groups; a 40-deep continued fraction parses).
pub const MAX_DEPTH: usize = 400;
/// Most AST nodes in one answer.
pub const MAX_NODES: usize = 4096;
/// Most digits in one number literal (longer than 38 digits is compared
/// structurally, since it does not fit an exact `i128` rational).
pub const MAX_DIGITS: usize = 1000;
/// Most items in a tuple, set, list or matrix.
pub const MAX_ITEMS: usize = 256;
/// Most `\pm` signs in one expression (each doubles the candidate set).
pub const MAX_PM: usize = 4;
/// A matrix row break (`\\\\`) after normalisation (a private-use char).
pub(super) const ROW_SEP: char = '\u{E000}';

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Sin,
    Cos,
    Tan,
    Cot,
    Sec,
    Csc,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Ln,
    Exp,
    Abs,
    Floor,
    Ceil,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(Q),
    /// A literal too long for `i128` (canonical digits), compared structurally.
    Big(String),
    Var(String),
    Pi,
    E,
    I,
    Inf,
    Add(Vec<Expr>),
    Mul(Vec<Expr>),
    Neg(Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    Fact(Box<Expr>),
    Func(Func, Box<Expr>),
    /// `\log_b x` (base, argument).
    Log(Box<Expr>, Box<Expr>),
    Binom(Box<Expr>, Box<Expr>),
    /// A numeral in another base (`204_5`), compared structurally.
    Base(String),
    /// `a \pm b` (`\pm b` is `0 \pm b`); expanded before evaluation.
    Pm(Box<Expr>, Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rel {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Rel {
    /// The same relation read from the other side (`a < b` is `b > a`).
    pub fn flip(self) -> Rel {
        match self {
            Rel::Lt => Rel::Gt,
            Rel::Le => Rel::Ge,
            Rel::Gt => Rel::Lt,
            Rel::Ge => Rel::Le,
            r => r,
        }
    }
    /// `<` or `≤`.
    pub fn lower(self) -> bool {
        matches!(self, Rel::Lt | Rel::Le)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Ans {
    Expr(Expr),
    /// `a = b`, `x < 3`, `1 < x \le 2`: `sides.len() == ops.len() + 1`.
    Rel {
        sides: Vec<Expr>,
        ops: Vec<Rel>,
    },
    /// `(a, b)`, `[a, b)`: ordered; brackets kept (tuples and intervals).
    Seq {
        open: char,
        close: char,
        items: Vec<Ans>,
    },
    /// `\{a, b\}` (braces), a bare list `a, b`, or a `\pm` expansion: unordered.
    Set {
        items: Vec<Ans>,
        braces: bool,
    },
    /// `A \cup B`.
    Union(Vec<Ans>),
    Matrix(Vec<Vec<Expr>>),
    /// A word answer (`\text{Evelyn}`, `(B)`), normalised by [`text_key`].
    Text(String),
}

/// A parsed answer plus what normalisation noticed.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub ans: Ans,
    /// A `%` was present (and removed).
    pub percent: bool,
    /// The normalised string without whitespace (structural comparison).
    pub canon: String,
    /// The answer opens with a choice `(B)` (`\\text{(B) } 12`): its letter.
    pub choice: Option<char>,
}

/// The letter of a choice `(B)` that opens `raw` (after `$`, `**`, `\\text{`,
/// `\\textbf{`), followed by a space, `}`, `$` or the end.
fn leading_choice(raw: &str) -> Option<char> {
    let mut t = raw.trim();
    loop {
        let before = t;
        for w in [
            "$",
            "**",
            "\\textbf{",
            "\\text{",
            "\\mathrm{",
            "\\mathbf{",
            "\\(",
        ] {
            t = t.strip_prefix(w).unwrap_or(t).trim_start();
        }
        if t == before {
            break;
        }
    }
    let b = t.as_bytes();
    let ok = b.len() >= 3
        && b[0] == b'('
        && b[1].is_ascii_uppercase()
        && b[2] == b')'
        && b.get(3)
            .is_none_or(|c| matches!(c, b' ' | b'}' | b'$' | b'.' | b','));
    // What follows the choice is its value (`(B) 12`) or nothing, never the rest of
    // an expression: `\text{(C)}+1` is not choice C.
    let rest = t.get(3..).unwrap_or("");
    let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || "}$*.,".contains(c));
    let ok = ok && !rest.starts_with(|c: char| "+-*/^=<>\\_!:;|&".contains(c));
    ok.then(|| b[1] as char)
}

pub(super) struct Budget {
    pub(super) nodes: usize,
}

/// Parse a normalised answer. `None` when it is not a well-formed answer.
pub fn parse_answer(raw: &str) -> Option<Parsed> {
    let (s, percent) = normalize(raw)?;
    let mut budget = Budget { nodes: 0 };
    let ans = parse_ans(&s, 0, &mut budget)?;
    let canon: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    Some(Parsed {
        ans,
        percent,
        canon,
        choice: leading_choice(raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Ans {
        parse_answer(s)
            .unwrap_or_else(|| panic!("no parse: {s}"))
            .ans
    }

    #[test]
    fn leading_choice_is_the_whole_answer_or_its_value() {
        assert_eq!(leading_choice("\\text{(B) } 12"), Some('B'));
        assert_eq!(leading_choice("\\textbf{(E)}"), Some('E'));
        assert_eq!(leading_choice("(A)."), Some('A'));
        assert_eq!(leading_choice("\\text{(C)}+1"), None);
        assert_eq!(leading_choice("(B) - 3"), None);
        assert_eq!(leading_choice("(A)=(B)"), None);
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize("10,\\!080").unwrap().0, "10080");
        assert_eq!(
            normalize("11,\\! 111,\\! 111,\\! 100").unwrap().0,
            "11111111100"
        );
        assert_eq!(normalize("\\$32,\\!348").unwrap().0, "32348");
        assert_eq!(normalize("1,000").unwrap().0, "1000");
        assert_eq!(normalize("1,2").unwrap().0, "1,2");
        assert_eq!(normalize("(1,000)").unwrap().0, "(1,000)");
        assert_eq!(normalize("50\\%").unwrap(), ("50".to_string(), true));
        assert_eq!(normalize("864 \\mbox{ inches}^2").unwrap().0, "864");
        assert_eq!(normalize("5.4 \\text{ cents}").unwrap().0, "5.4");
        assert_eq!(normalize("106^\\circ").unwrap().0, "106");
        assert_eq!(normalize("5.4 cents.").unwrap().0, "5.4");
        assert!(normalize("").is_none());
        assert!(normalize(&"1".repeat(MAX_ANSWER_BYTES + 1)).is_none());
    }

    #[test]
    fn shapes() {
        assert!(matches!(
            p("(1,2)"),
            Ans::Seq {
                open: '(',
                close: ')',
                ..
            }
        ));
        assert!(matches!(
            p("(3,4]"),
            Ans::Seq {
                open: '(',
                close: ']',
                ..
            }
        ));
        assert!(matches!(p("\\{1,2\\}"), Ans::Set { braces: true, .. }));
        assert!(matches!(p("3, 5, 7"), Ans::Set { braces: false, .. }));
        assert!(matches!(p("1 \\pm \\sqrt{19}"), Ans::Set { .. }));
        assert!(matches!(p("(0,9) \\cup (9,36)"), Ans::Union(_)));
        assert!(matches!(p("y = 2x + 3"), Ans::Rel { .. }));
        assert!(matches!(p("x \\in [-2,7]"), Ans::Seq { .. }));
        assert!(matches!(
            p("\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}"),
            Ans::Matrix(_)
        ));
        assert_eq!(p("\\text{Evelyn}"), Ans::Text("evelyn".into()));
        assert_eq!(p("\\text{(B)}"), Ans::Text("b".into()));
        assert!(matches!(p("\\frac12"), Ans::Expr(Expr::Div(..))));
        assert!(matches!(p("204_5"), Ans::Expr(Expr::Base(_))));
    }

    #[test]
    fn bad_input_does_not_parse() {
        for s in [
            "\\frac{1}",
            "\\frac",
            "{{{",
            "}}}",
            "(1,2",
            "\\sqrt",
            "1/",
            "\\foo{3}",
            "a_{",
        ] {
            assert!(parse_answer(s).is_none(), "{s}");
        }
        let deep = "{".repeat(10_000) + "1" + &"}".repeat(10_000);
        assert!(parse_answer(&deep).is_none());
    }
}
