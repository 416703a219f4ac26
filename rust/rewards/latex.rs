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
const ROW_SEP: char = '\u{E000}';

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
}

// ---------------------------------------------------------------------------
// normalisation

const UNIT_WORDS: &[&str] = &[
    "cm", "mm", "km", "meters", "meter", "metres", "metre", "inches", "inch", "feet", "foot", "ft",
    "yards", "yard", "miles", "mile", "mph", "degrees", "degree", "cents", "cent", "dollars",
    "dollar", "units", "unit", "square", "sq", "cubic", "hours", "hour", "minutes", "minute",
    "seconds", "second", "days", "day", "weeks", "week", "years", "year", "pounds", "lbs", "kg",
    "grams", "liters", "litres", "people", "students", "points", "ways", "times", "percent",
];

fn replace_all(s: &mut String, from: &str, to: &str) {
    if s.contains(from) {
        *s = s.replace(from, to);
    }
}

/// Remove `\cmd` where the next char is not a letter (so `\left` does not eat `\leftarrow`).
fn remove_cmd(s: &mut String, cmd: &str) {
    if !s.contains(cmd) {
        return;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(p) = rest.find(cmd) {
        let after = &rest[p + cmd.len()..];
        out.push_str(&rest[..p]);
        if after.starts_with(|c: char| c.is_ascii_alphabetic()) {
            out.push_str(cmd);
        }
        rest = after;
    }
    out.push_str(rest);
    *s = out;
}

/// The content of a `{...}` group starting at byte `i` (which is `{`), and the
/// byte index after its `}`; escaped `\{` `\}` do not count.
pub fn brace_group(s: &str, i: usize) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'\\' => {
                j += 2;
                continue;
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&s[i + 1..j], j + 1));
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

const TEXT_CMDS: &[&str] = &[
    "\\text",
    "\\textbf",
    "\\textit",
    "\\textrm",
    "\\textnormal",
    "\\mbox",
    "\\mathrm",
    "\\mathbf",
    "\\operatorname",
];

/// If the whole string is one `\text{...}`-like group (or `\boxed{...}`), its content.
fn whole_wrapper(s: &str) -> Option<&str> {
    for cmd in TEXT_CMDS.iter().chain(["\\boxed", "\\fbox"].iter()) {
        if let Some(rest) = s.strip_prefix(cmd) {
            let off = s.len() - rest.len();
            let rest_t = rest.trim_start();
            let off = off + (rest.len() - rest_t.len());
            if let Some((inner, end)) = brace_group(s, off) {
                if s[end..].trim().is_empty() {
                    return Some(inner);
                }
            }
        }
    }
    None
}

/// Remove `\text{..}`-like groups with no digits (units, words) together with a
/// following `^2`/`^{3}`, when something else remains; unwrap the others.
fn strip_text_groups(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let b = s.as_bytes();
    'outer: while i < b.len() {
        if b[i] == b'\\' {
            for cmd in TEXT_CMDS {
                if s[i..].starts_with(cmd)
                    && !s[i + cmd.len()..].starts_with(|c: char| c.is_ascii_alphabetic())
                {
                    let mut j = i + cmd.len();
                    while b.get(j) == Some(&b' ') {
                        j += 1;
                    }
                    if let Some((inner, end)) = brace_group(s, j) {
                        let has_digit = inner.bytes().any(|c| c.is_ascii_digit());
                        let single = inner.trim().chars().count() == 1;
                        if has_digit || single || *cmd == "\\mathbf" || *cmd == "\\operatorname" {
                            out.push('{');
                            out.push_str(inner);
                            out.push('}');
                            i = end;
                        } else {
                            // a unit or a word: drop it, and a power right after it
                            out.push(' ');
                            i = end;
                            if b.get(i) == Some(&b'^') {
                                if b.get(i + 1) == Some(&b'{') {
                                    if let Some((_, e)) = brace_group(s, i + 1) {
                                        i = e;
                                    }
                                } else if b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
                                    i += 2;
                                }
                            }
                        }
                        continue 'outer;
                    }
                }
            }
        }
        let ch = s[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

/// Strip trailing unit words (`5.4 cents`, `864 inches^2`) after a number.
fn strip_unit_words(s: &str) -> &str {
    let mut t = s.trim_end();
    loop {
        let Some(sp) = t.rfind(' ') else { return t };
        let word = &t[sp + 1..];
        let base = word
            .strip_suffix("^2")
            .or_else(|| word.strip_suffix("^3"))
            .unwrap_or(word);
        let head = t[..sp].trim_end();
        // cheap checks first: this runs on every answer with a space
        if base.len() >= 2
            && base.bytes().all(|c| c.is_ascii_alphabetic())
            && !head.is_empty()
            && UNIT_WORDS.iter().any(|u| u.eq_ignore_ascii_case(base))
        {
            t = head;
        } else {
            return t;
        }
    }
}

/// Collapse thousands separators (`12,345,678.5`): a run of 1–3 digits then
/// groups of exactly 3 digits, each comma directly followed by the digits.
fn collapse_thousands(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let prev_ok = i == 0 || !(b[i - 1].is_ascii_digit() || b[i - 1] == b'.');
        if b[i].is_ascii_digit() && prev_ok {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let lead = j - i;
            let mut k = j;
            let mut groups = 0;
            while lead <= 3
                && k + 4 <= b.len()
                && b[k] == b','
                && b[k + 1..k + 4].iter().all(|c| c.is_ascii_digit())
                && !b.get(k + 4).is_some_and(|c| c.is_ascii_digit())
            {
                k += 4;
                groups += 1;
            }
            if groups > 0 {
                for &c in &b[i..k] {
                    if c != b',' {
                        out.push(c as char);
                    }
                }
            } else {
                out.push_str(&s[i..j]);
            }
            i = if groups > 0 { k } else { j };
            continue;
        }
        let ch = s[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

/// The name of the command at the start of `pat` (`\\frac{` → `frac`, `\\%` → `%`).
fn cmd_name(pat: &str) -> &str {
    let rest = &pat[1..];
    let n = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
    if n > 0 {
        &rest[..n]
    } else {
        rest.get(..rest.chars().next().map_or(0, char::len_utf8))
            .unwrap_or("")
    }
}

/// Every command name in `s` (a command's name is its letters, or one char).
fn commands_in(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = s;
    while let Some(p) = rest.find('\\') {
        let name = cmd_name(&rest[p..]);
        if !out.iter().any(|c| c == name) {
            out.push(name.to_string());
        }
        rest = &rest[p + 1 + name.len().max(1).min(rest.len() - p - 1)..];
    }
    out
}

/// Normalise an answer string; `None` if it is over [`MAX_ANSWER_BYTES`] or empty.
/// Returns the string and whether a percent sign was removed.
pub fn normalize(raw: &str) -> Option<(String, bool)> {
    if raw.len() > MAX_ANSWER_BYTES {
        return None;
    }
    // A matrix row break `\\` becomes ROW_SEP first, so that the spacing
    // macros below (`\ `, `\,`) cannot eat half of it.
    let mut s: String = raw
        .replace("\\\\", "\u{E000}")
        .chars()
        .map(|c| match c {
            '\u{2212}' | '\u{2013}' => '-',
            '\n' | '\t' | '\r' => ' ',
            c => c,
        })
        .collect();
    if !s.is_ascii() {
        for (from, to) in [
            ("×", "\\times "),
            ("÷", "\\div "),
            ("·", "\\cdot "),
            ("π", "\\pi "),
            ("∞", "\\infty "),
            ("≤", "\\le "),
            ("≥", "\\ge "),
            ("≠", "\\ne "),
            ("√", "\\sqrt "),
            ("±", "\\pm "),
            ("°", ""),
        ] {
            replace_all(&mut s, from, to);
        }
    }
    // Only the rewrite entries whose command occurs in the answer run: one scan
    // collects the command names (measured: MATH-500 answers parse 1.6x faster
    // than with a `contains` per entry).
    let present = commands_in(&s);
    let wanted = |pat: &str| match pat.find('\\') {
        None => true,
        Some(p) => present.iter().any(|c| c == cmd_name(&pat[p..])),
    };
    for (from, to) in [
        ("\\$", ""),
        ("$", ""),
        ("\\[", ""),
        ("\\]", ""),
        ("\\(", ""),
        ("\\)", ""),
        ("{,}", ","),
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\cfrac", "\\frac"),
        ("\\dbinom", "\\binom"),
        ("\\tbinom", "\\binom"),
        ("^\\circ", ""),
        ("^{\\circ}", ""),
        ("^{\\circ }", ""),
        ("^\\degree", ""),
        ("\\%", "%"),
        ("\\infin", "\\infty"),
        ("\\lvert", "|"),
        ("\\rvert", "|"),
        ("\\vert", "|"),
        ("\\lbrace", "\\{"),
        ("\\rbrace", "\\}"),
        ("\\neq", "\\ne "),
        ("\\leqslant", "\\le "),
        ("\\geqslant", "\\ge "),
        ("\\leq", "\\le "),
        ("\\geq", "\\ge "),
        ("\\lt", "<"),
        ("\\gt", ">"),
        ("!=", "\\ne "),
        ("<=", "\\le "),
        (">=", "\\ge "),
        ("**", "^"),
    ] {
        if wanted(from) {
            replace_all(&mut s, from, to);
        }
    }
    // `10,\\! 080`: a thin space after a thousands comma
    while let Some(p) = s.find(",\\! ") {
        s.replace_range(p..p + 4, ",\\!");
    }
    let present = commands_in(&s);
    for cmd in [
        "\\left",
        "\\right",
        "\\bigl",
        "\\bigr",
        "\\Bigl",
        "\\Bigr",
        "\\big",
        "\\Big",
        "\\displaystyle",
        "\\circ",
        "\\degree",
        "\\!",
        "\\,",
        "\\;",
        "\\:",
        "\\qquad",
        "\\quad",
        "\\boldsymbol",
        "\\mathbf",
    ] {
        if present.iter().any(|c| c == cmd_name(cmd)) {
            remove_cmd(&mut s, cmd);
        }
    }
    replace_all(&mut s, "\\ ", " ");
    replace_all(&mut s, "~", " ");
    // `\left.` / `\right.` leave a lone dot next to a bracket: harmless, but a
    // trailing sentence period is not part of the answer.
    let percent = s.contains('%');
    if percent {
        s = s.replace('%', "");
    }
    let mut t = s.trim().trim_end_matches(['.', ' ']).trim().to_string();
    // unwrap `\boxed{..}` / whole `\text{..}` is done by the parser; units here
    if !t.is_empty() {
        let stripped = strip_text_groups(&t);
        if !stripped.trim().is_empty() && whole_wrapper(&t).is_none() {
            t = stripped.trim().to_string();
        }
        t = strip_unit_words(&t).to_string();
        if !(t.starts_with('(') || t.starts_with('[') || t.starts_with("\\{")) {
            t = collapse_thousands(&t);
        }
    }
    let t = t.trim().to_string();
    if t.is_empty() {
        return None;
    }
    Some((t, percent))
}

/// A word answer's comparison key: lower case, no `\text`, spaces, or
/// punctuation around; a multiple-choice `(B)` becomes `b`.
pub fn text_key(s: &str) -> String {
    let mut t = s.to_string();
    for cmd in TEXT_CMDS {
        replace_all(&mut t, cmd, "");
    }
    let t: String = t
        .chars()
        .filter(|c| !c.is_whitespace() && !"{}()[]$.,;:!*\"'`\\".contains(*c))
        .flat_map(|c| c.to_lowercase())
        .collect();
    t
}

// ---------------------------------------------------------------------------
// top level: tuples, sets, intervals, relations, matrices, text

/// Split at top-level (depth 0) occurrences of any of `seps`; returns pieces and
/// the separator index found before each piece after the first.
fn split_top<'a>(s: &'a str, seps: &[&str]) -> (Vec<&'a str>, Vec<usize>) {
    let b = s.as_bytes();
    let mut depth: i64 = 0;
    let mut pieces = Vec::new();
    let mut which = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            _ => {}
        }
        if depth == 0 && seps.iter().any(|sep| sep.as_bytes()[0] == b[i]) {
            let mut hit = None;
            for (k, sep) in seps.iter().enumerate() {
                // bytes, not `&s[i..]`: `i` may be inside a multi-byte char
                if b[i..].starts_with(sep.as_bytes()) {
                    // `\le` must not match `\left`, `\in` not `\infty`
                    let after = b.get(i + sep.len());
                    if sep.starts_with('\\')
                        && sep[1..].chars().all(|c| c.is_ascii_alphabetic())
                        && after.is_some_and(|c| c.is_ascii_alphabetic())
                    {
                        continue;
                    }
                    hit = Some(k);
                    break;
                }
            }
            if let Some(k) = hit {
                pieces.push(&s[start..i]);
                which.push(k);
                i += seps[k].len();
                start = i;
                continue;
            }
        }
        i += 1;
    }
    pieces.push(&s[start..]);
    (pieces, which)
}

/// Whether the bracket at byte 0 is closed exactly at the last byte.
fn outer_pair(s: &str) -> bool {
    let b = s.as_bytes();
    let mut depth: i64 = 0;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 && i + 1 != b.len() {
                    return false;
                }
            }
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

struct Budget {
    nodes: usize,
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
    })
}

fn looks_like_words(s: &str) -> bool {
    // two or more letters in a row that are not a LaTeX command, and no digits
    // or operators: a word answer (`Evelyn`, `east`, `(B)` is handled apart).
    let t = s.trim();
    !t.is_empty()
        && !t.contains('\\')
        && t.chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '\'')
        && t.split(|c: char| !c.is_alphabetic()).any(|w| w.len() >= 3)
}

fn choice_letter(s: &str) -> Option<char> {
    let t = s.trim();
    let t = t
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(t)
        .trim();
    let mut it = t.chars();
    let c = it.next()?;
    if it.next().is_none() && c.is_ascii_uppercase() {
        Some(c)
    } else {
        None
    }
}

fn parse_ans(s: &str, depth: usize, budget: &mut Budget) -> Option<Ans> {
    let s = s.trim();
    if s.is_empty() || depth > MAX_DEPTH {
        return None;
    }
    if let Some(inner) = whole_wrapper(s) {
        let inner_t = inner.trim();
        if let Some(c) = choice_letter(inner_t) {
            return Some(Ans::Text(c.to_ascii_lowercase().to_string()));
        }
        if !inner_t.bytes().any(|c| c.is_ascii_digit()) && looks_like_words(inner_t) {
            return Some(Ans::Text(text_key(inner_t)));
        }
        return parse_ans(inner, depth + 1, budget);
    }
    if let Some(c) = choice_letter(s) {
        if s.starts_with('(') {
            return Some(Ans::Text(c.to_ascii_lowercase().to_string()));
        }
    }
    if looks_like_words(s) {
        return Some(Ans::Text(text_key(s)));
    }
    // matrices
    // (static strings: a `format!` per environment showed up at 10% in perf)
    const ENVS: [(&str, &str, &str); 6] = [
        ("pmatrix", "\\begin{pmatrix}", "\\end{pmatrix}"),
        ("bmatrix", "\\begin{bmatrix}", "\\end{bmatrix}"),
        ("Bmatrix", "\\begin{Bmatrix}", "\\end{Bmatrix}"),
        ("vmatrix", "\\begin{vmatrix}", "\\end{vmatrix}"),
        ("matrix", "\\begin{matrix}", "\\end{matrix}"),
        ("array", "\\begin{array}", "\\end{array}"),
    ];
    let envs = if s.starts_with("\\begin") {
        &ENVS[..]
    } else {
        &[]
    };
    for &(env, open, close) in envs {
        if let Some(body) = s.strip_prefix(open).and_then(|r| r.strip_suffix(close)) {
            let body = if env == "array" {
                // `\begin{array}{cc} ...`: drop the column spec
                let b = body.trim_start();
                match brace_group(b, 0) {
                    Some((_, e)) => &b[e..],
                    None => b,
                }
            } else {
                body
            };
            let mut rows = Vec::new();
            for row in body.split(ROW_SEP) {
                if row.trim().is_empty() {
                    continue;
                }
                let mut cells = Vec::new();
                for cell in row.split('&') {
                    cells.push(parse_expr_str(cell, depth + 1, budget)?);
                }
                rows.push(cells);
                if rows.len() * rows[0].len() > MAX_ITEMS {
                    return None;
                }
            }
            if rows.is_empty() || rows.iter().any(|r| r.len() != rows[0].len()) {
                return None;
            }
            return Some(Ans::Matrix(rows));
        }
    }
    // unions of intervals
    let (parts, _) = split_top(s, &["\\cup"]);
    if parts.len() > 1 {
        if parts.len() > MAX_ITEMS {
            return None;
        }
        let items = parts
            .iter()
            .map(|p| parse_ans(p, depth + 1, budget))
            .collect::<Option<Vec<_>>>()?;
        return Some(Ans::Union(items));
    }
    // relations
    let rels = ["\\le", "\\ge", "\\ne", "\\in", "=", "<", ">"];
    let (parts, which) = split_top(s, &rels);
    if parts.len() > 1 {
        if parts.len() > 8 {
            return None;
        }
        if which.len() == 1 && rels[which[0]] == "\\in" {
            // `x \in [a, b]`: the set is the answer
            return parse_ans(parts[1], depth + 1, budget);
        }
        if which.iter().any(|&k| rels[k] == "\\in") {
            return None;
        }
        if which.len() == 1 && rels[which[0]] == "=" {
            // `x = 1, 2` / `x = (1, 2)`: a variable bound to a list is the list
            let lhs = parse_expr_str(parts[0], depth + 1, budget)?;
            if let Expr::Var(_) = lhs {
                let rhs = parse_ans(parts[1], depth + 1, budget)?;
                if !matches!(rhs, Ans::Expr(_)) {
                    return Some(rhs);
                }
            }
        }
        let sides = parts
            .iter()
            .map(|p| parse_expr_str(p, depth + 1, budget))
            .collect::<Option<Vec<_>>>()?;
        let ops = which
            .iter()
            .map(|&k| match rels[k] {
                "\\le" => Rel::Le,
                "\\ge" => Rel::Ge,
                "\\ne" => Rel::Ne,
                "=" => Rel::Eq,
                "<" => Rel::Lt,
                _ => Rel::Gt,
            })
            .collect();
        return Some(Ans::Rel { sides, ops });
    }
    // sets `\{ .. \}`
    if let Some(inner) = s.strip_prefix("\\{").and_then(|r| r.strip_suffix("\\}")) {
        let (items, _) = split_top(inner, &[","]);
        return Some(Ans::Set {
            items: set_items(&items, depth, budget)?,
            braces: true,
        });
    }
    // bracketed tuples / intervals
    let first = s.chars().next().unwrap_or(' ');
    let last = s.chars().last().unwrap_or(' ');
    if matches!(first, '(' | '[') && matches!(last, ')' | ']') && outer_pair(s) {
        let inner = &s[1..s.len() - 1];
        let (items, _) = split_top(inner, &[","]);
        if items.len() > 1 {
            if items.len() > MAX_ITEMS {
                return None;
            }
            let items = items
                .iter()
                .map(|p| parse_ans(p, depth + 1, budget))
                .collect::<Option<Vec<_>>>()?;
            return Some(Ans::Seq {
                open: first,
                close: last,
                items,
            });
        }
    }
    // bare comma lists (also `;`)
    let (items, _) = split_top(s, &[",", ";"]);
    if items.len() > 1 {
        return Some(Ans::Set {
            items: set_items(&items, depth, budget)?,
            braces: false,
        });
    }
    let e = parse_expr_str(s, depth + 1, budget)?;
    let exp = expand_pm(&e)?;
    if exp.len() == 1 {
        Some(Ans::Expr(exp.into_iter().next().unwrap_or(e)))
    } else {
        Some(Ans::Set {
            items: exp.into_iter().map(Ans::Expr).collect(),
            braces: false,
        })
    }
}

/// The members of a set or bare list (empty pieces skipped); a `\pm` expansion
/// inside contributes its members, not a nested set.
fn set_items(pieces: &[&str], depth: usize, budget: &mut Budget) -> Option<Vec<Ans>> {
    if pieces.len() > MAX_ITEMS {
        return None;
    }
    let mut out = Vec::new();
    for it in pieces.iter().filter(|it| !it.trim().is_empty()) {
        match parse_ans(it, depth + 1, budget)? {
            Ans::Set {
                items,
                braces: false,
            } if items.iter().all(|i| matches!(i, Ans::Expr(_))) => out.extend(items),
            a => out.push(a),
        }
    }
    Some(out)
}

fn count_pm(e: &Expr) -> usize {
    match e {
        Expr::Pm(a, b) => 1 + count_pm(a) + count_pm(b),
        Expr::Add(v) | Expr::Mul(v) => v.iter().map(count_pm).sum(),
        Expr::Neg(a) | Expr::Fact(a) | Expr::Func(_, a) => count_pm(a),
        Expr::Div(a, b) | Expr::Pow(a, b) | Expr::Log(a, b) | Expr::Binom(a, b) => {
            count_pm(a) + count_pm(b)
        }
        _ => 0,
    }
}

fn choose(e: &Expr, signs: u32, k: &mut u32) -> Expr {
    let bx = |x: Expr| Box::new(x);
    match e {
        Expr::Pm(a, b) => {
            let bit = (signs >> *k) & 1;
            *k += 1;
            let a = choose(a, signs, k);
            let b = choose(b, signs, k);
            let b = if bit == 0 { b } else { Expr::Neg(bx(b)) };
            Expr::Add(vec![a, b])
        }
        Expr::Add(v) => Expr::Add(v.iter().map(|x| choose(x, signs, k)).collect()),
        Expr::Mul(v) => Expr::Mul(v.iter().map(|x| choose(x, signs, k)).collect()),
        Expr::Neg(a) => Expr::Neg(bx(choose(a, signs, k))),
        Expr::Fact(a) => Expr::Fact(bx(choose(a, signs, k))),
        Expr::Func(f, a) => Expr::Func(*f, bx(choose(a, signs, k))),
        Expr::Div(a, b) => Expr::Div(bx(choose(a, signs, k)), bx(choose(b, signs, k))),
        Expr::Pow(a, b) => Expr::Pow(bx(choose(a, signs, k)), bx(choose(b, signs, k))),
        Expr::Log(a, b) => Expr::Log(bx(choose(a, signs, k)), bx(choose(b, signs, k))),
        Expr::Binom(a, b) => Expr::Binom(bx(choose(a, signs, k)), bx(choose(b, signs, k))),
        x => x.clone(),
    }
}

/// All sign choices of the `\pm` in `e` (one expression when there is none).
pub fn expand_pm(e: &Expr) -> Option<Vec<Expr>> {
    let n = count_pm(e);
    if n == 0 {
        return Some(vec![e.clone()]);
    }
    if n > MAX_PM {
        return None;
    }
    Some(
        (0..(1u32 << n))
            .map(|signs| {
                let mut k = 0;
                choose(e, signs, &mut k)
            })
            .collect(),
    )
}

fn parse_expr_str(s: &str, depth: usize, budget: &mut Budget) -> Option<Expr> {
    let chars: Vec<char> = s.chars().collect();
    let mut p = P {
        s: &chars,
        i: 0,
        depth,
        budget,
    };
    let e = p.expr()?;
    p.ws();
    if p.i != chars.len() {
        return None;
    }
    Some(e)
}

// ---------------------------------------------------------------------------
// expressions: recursive descent over chars

struct P<'a, 'b> {
    s: &'a [char],
    i: usize,
    depth: usize,
    budget: &'b mut Budget,
}

fn func_of(name: &str) -> Option<Func> {
    Some(match name {
        "sin" => Func::Sin,
        "cos" => Func::Cos,
        "tan" | "tg" => Func::Tan,
        "cot" | "ctg" => Func::Cot,
        "sec" => Func::Sec,
        "csc" | "cosec" => Func::Csc,
        "arcsin" | "asin" => Func::Asin,
        "arccos" | "acos" => Func::Acos,
        "arctan" | "atan" => Func::Atan,
        "sinh" => Func::Sinh,
        "cosh" => Func::Cosh,
        "tanh" => Func::Tanh,
        "ln" => Func::Ln,
        "exp" => Func::Exp,
        "abs" => Func::Abs,
        _ => return None,
    })
}

const GREEK: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
];

impl P<'_, '_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<char> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn node(&mut self, e: Expr) -> Option<Expr> {
        self.budget.nodes += 1;
        if self.budget.nodes > MAX_NODES {
            None
        } else {
            Some(e)
        }
    }
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            None
        } else {
            Some(())
        }
    }
    fn leave(&mut self) {
        self.depth -= 1;
    }
    /// The command name at `\` (letters, or one non-letter char), without consuming.
    fn peek_cmd(&mut self) -> Option<String> {
        if self.peek() != Some('\\') {
            return None;
        }
        let mut j = self.i + 1;
        let mut name = String::new();
        while j < self.s.len() && self.s[j].is_ascii_alphabetic() {
            name.push(self.s[j]);
            j += 1;
        }
        if name.is_empty() {
            name.push(*self.s.get(j)?);
        }
        Some(name)
    }
    fn eat_cmd(&mut self, name: &str) -> bool {
        if self.peek_cmd().as_deref() == Some(name) {
            self.i += 1 + name.chars().count();
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Option<Expr> {
        self.enter()?;
        let mut terms = vec![self.term()?];
        loop {
            if self.eat('+') {
                terms.push(self.term()?);
            } else if self.eat('-') {
                let t = self.term()?;
                terms.push(Expr::Neg(Box::new(t)));
            } else if self.eat_cmd("pm") {
                let t = self.term()?;
                let acc = if terms.len() == 1 {
                    terms.pop()?
                } else {
                    Expr::Add(std::mem::take(&mut terms))
                };
                terms = vec![Expr::Pm(Box::new(acc), Box::new(t))];
            } else if self.eat_cmd("mp") {
                let t = self.term()?;
                let acc = if terms.len() == 1 {
                    terms.pop()?
                } else {
                    Expr::Add(std::mem::take(&mut terms))
                };
                terms = vec![Expr::Pm(Box::new(acc), Box::new(Expr::Neg(Box::new(t))))];
            } else {
                break;
            }
        }
        self.leave();
        if terms.len() == 1 {
            terms.pop()
        } else {
            self.node(Expr::Add(terms))
        }
    }

    fn starts_factor(&mut self) -> bool {
        match self.peek() {
            Some(c) if c.is_ascii_alphanumeric() || c == '.' => true,
            Some('(') | Some('{') | Some('[') => true,
            Some('\\') => match self.peek_cmd() {
                Some(n) => !matches!(
                    n.as_str(),
                    "cdot"
                        | "times"
                        | "div"
                        | "pm"
                        | "mp"
                        | "le"
                        | "ge"
                        | "ne"
                        | "in"
                        | "cup"
                        | "}"
                        | "{"
                        | "end"
                        | "\\"
                ),
                None => false,
            },
            _ => false,
        }
    }

    fn term(&mut self) -> Option<Expr> {
        let start = self.i;
        let first = self.unary()?;
        // a mixed number `2\frac{1}{2}` (integer literal, then a numeric fraction)
        let first_is_int_literal = matches!(first, Expr::Num(q) if q.is_int() && q.n >= 0)
            && self.s[start..self.i]
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_whitespace());
        let mut factors = vec![first];
        if first_is_int_literal && self.peek_cmd().as_deref() == Some("frac") {
            let save = self.i;
            let f = self.unary()?;
            if let Expr::Div(a, b) = &f {
                if matches!(**a, Expr::Num(_)) && matches!(**b, Expr::Num(_)) {
                    let whole = factors.pop()?;
                    factors.push(Expr::Add(vec![whole, f]));
                } else {
                    factors.push(f);
                }
            } else {
                self.i = save;
            }
        }
        loop {
            if self.eat('*') || self.eat_cmd("cdot") || self.eat_cmd("times") {
                factors.push(self.unary()?);
            } else if self.eat('/') || self.eat_cmd("div") {
                let d = self.unary()?;
                let n = if factors.len() == 1 {
                    factors.pop()?
                } else {
                    Expr::Mul(std::mem::take(&mut factors))
                };
                factors = vec![Expr::Div(Box::new(n), Box::new(d))];
            } else if self.starts_factor() {
                factors.push(self.power()?);
            } else {
                break;
            }
            if factors.len() > MAX_NODES {
                return None;
            }
        }
        if factors.len() == 1 {
            factors.pop()
        } else {
            self.node(Expr::Mul(factors))
        }
    }

    fn unary(&mut self) -> Option<Expr> {
        self.enter()?;
        let r = if self.eat('-') {
            let x = self.unary()?;
            Some(Expr::Neg(Box::new(x)))
        } else if self.eat('+') {
            self.unary()
        } else if self.eat_cmd("pm") {
            let x = self.unary()?;
            Some(Expr::Pm(Box::new(Expr::Num(Q::ZERO)), Box::new(x)))
        } else if self.eat_cmd("mp") {
            let x = self.unary()?;
            Some(Expr::Pm(
                Box::new(Expr::Num(Q::ZERO)),
                Box::new(Expr::Neg(Box::new(x))),
            ))
        } else {
            self.power()
        };
        self.leave();
        r
    }

    fn power(&mut self) -> Option<Expr> {
        let base = self.postfix()?;
        if self.eat('^') {
            self.enter()?;
            let e = self.script()?;
            self.leave();
            let mut p = Expr::Pow(Box::new(base), Box::new(e));
            while self.eat('!') {
                p = Expr::Fact(Box::new(p));
            }
            return self.node(p);
        }
        Some(base)
    }

    /// A superscript/subscript argument: a group, a digit run, a letter, `-x`, a command.
    fn script(&mut self) -> Option<Expr> {
        match self.peek()? {
            '{' => self.group('{', '}'),
            '(' => self.group('(', ')'),
            '-' => {
                self.i += 1;
                let x = self.script()?;
                Some(Expr::Neg(Box::new(x)))
            }
            c if c.is_ascii_digit() => self.number(),
            c if c.is_ascii_alphabetic() => {
                self.i += 1;
                Some(letter(c))
            }
            '\\' => self.primary(),
            _ => None,
        }
    }

    /// A `\frac`/`\sqrt`/`\binom` argument: a group, or one char/command (`\frac12`).
    fn arg(&mut self) -> Option<Expr> {
        match self.peek()? {
            '{' => self.group('{', '}'),
            c if c.is_ascii_digit() => {
                self.i += 1;
                Some(Expr::Num(Q::int(c.to_digit(10)? as i128)))
            }
            c if c.is_ascii_alphabetic() => {
                self.i += 1;
                Some(letter(c))
            }
            '\\' => self.primary(),
            _ => None,
        }
    }

    fn group(&mut self, open: char, close: char) -> Option<Expr> {
        if !self.eat(open) {
            return None;
        }
        self.enter()?;
        let e = self.expr()?;
        self.leave();
        if !self.eat(close) {
            return None;
        }
        Some(e)
    }

    fn postfix(&mut self) -> Option<Expr> {
        let mut p = self.primary()?;
        loop {
            if self.eat('!') {
                p = Expr::Fact(Box::new(p));
            } else if self.peek() == Some('_') {
                self.i += 1;
                // subscript: a variable name (`a_1`) or a numeral's base (`204_5`)
                let sub = self.sub_text()?;
                p = match p {
                    Expr::Var(v) => Expr::Var(format!("{v}_{sub}")),
                    Expr::Num(q) if q.is_int() && q.n >= 0 => {
                        let base: u32 = sub.parse().ok()?;
                        if !(2..=36).contains(&base) {
                            return None;
                        }
                        let digits = q.n.to_string();
                        if !digits.chars().all(|c| c.is_digit(base)) {
                            return None;
                        }
                        Expr::Base(format!("{digits}_{base}"))
                    }
                    _ => return None,
                };
            } else {
                break;
            }
        }
        self.node(p)
    }

    fn sub_text(&mut self) -> Option<String> {
        match self.peek()? {
            '{' => {
                let start = self.i + 1;
                let mut j = start;
                while j < self.s.len() && self.s[j] != '}' {
                    if self.s[j] == '{' || j - start > 32 {
                        return None;
                    }
                    j += 1;
                }
                if j >= self.s.len() {
                    return None;
                }
                self.i = j + 1;
                Some(
                    self.s[start..j]
                        .iter()
                        .filter(|c| !c.is_whitespace())
                        .collect(),
                )
            }
            c if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                Some(self.s[start..self.i].iter().collect())
            }
            c if c.is_ascii_alphabetic() => {
                self.i += 1;
                Some(c.to_string())
            }
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Expr> {
        self.ws();
        let s = self.s;
        let start = self.i;
        let mut int = String::new();
        while self.i < s.len() && s[self.i].is_ascii_digit() {
            int.push(s[self.i]);
            self.i += 1;
        }
        let mut frac = String::new();
        if self.i < s.len()
            && s[self.i] == '.'
            && s.get(self.i + 1).is_some_and(|c| c.is_ascii_digit())
        {
            self.i += 1;
            while self.i < s.len() && s[self.i].is_ascii_digit() {
                frac.push(s[self.i]);
                self.i += 1;
            }
        }
        if int.is_empty() && frac.is_empty() {
            self.i = start;
            return None;
        }
        // scientific notation `1.5e3`, `2E-4`
        let mut exp: i128 = 0;
        if self.i < s.len() && (s[self.i] == 'e' || s[self.i] == 'E') {
            let mut j = self.i + 1;
            let neg = s.get(j) == Some(&'-');
            if neg || s.get(j) == Some(&'+') {
                j += 1;
            }
            if s.get(j).is_some_and(|c| c.is_ascii_digit()) {
                let mut d = String::new();
                while j < s.len() && s[j].is_ascii_digit() && d.len() < 6 {
                    d.push(s[j]);
                    j += 1;
                }
                if j < s.len() && s[j].is_ascii_digit() {
                    return None; // exponent over 6 digits
                }
                exp = d.parse().ok()?;
                if neg {
                    exp = -exp;
                }
                self.i = j;
            }
        }
        if int.len() + frac.len() > MAX_DIGITS {
            return None;
        }
        let digits = format!("{int}{frac}");
        let trimmed = digits.trim_start_matches('0');
        let lit = if trimmed.len() <= 36 {
            let n: i128 = if trimmed.is_empty() {
                0
            } else {
                trimmed.parse().ok()?
            };
            Q::new(n, 1)?.mul(Q::int(10).powi(-(frac.len() as i128))?)
        } else {
            None
        };
        let e = match lit {
            Some(q) => Expr::Num(q),
            None => Expr::Big(format!(
                "{}.{}",
                int.trim_start_matches('0'),
                frac.trim_end_matches('0')
            )),
        };
        if exp != 0 {
            let p = Expr::Pow(
                Box::new(Expr::Num(Q::int(10))),
                Box::new(Expr::Num(Q::int(exp))),
            );
            return self.node(Expr::Mul(vec![e, p]));
        }
        self.node(e)
    }

    fn primary(&mut self) -> Option<Expr> {
        let c = self.peek()?;
        if c.is_ascii_digit() || c == '.' {
            return self.number();
        }
        if c.is_ascii_alphabetic() {
            self.i += 1;
            return self.node(letter(c));
        }
        match c {
            '(' => return self.group('(', ')'),
            '[' => return self.group('[', ']'),
            '{' => return self.group('{', '}'),
            '|' => {
                self.i += 1;
                self.enter()?;
                let e = self.expr()?;
                self.leave();
                if !self.eat('|') {
                    return None;
                }
                return self.node(Expr::Func(Func::Abs, Box::new(e)));
            }
            '\\' => {}
            _ => return None,
        }
        let name = self.peek_cmd()?;
        self.i += 1 + name.chars().count();
        self.enter()?;
        let r = match name.as_str() {
            "frac" => {
                let a = self.arg()?;
                let b = self.arg()?;
                Expr::Div(Box::new(a), Box::new(b))
            }
            "binom" => {
                let a = self.arg()?;
                let b = self.arg()?;
                Expr::Binom(Box::new(a), Box::new(b))
            }
            "sqrt" => {
                let idx = if self.peek() == Some('[') {
                    self.group('[', ']')?
                } else {
                    Expr::Num(Q::int(2))
                };
                let x = self.arg()?;
                Expr::Pow(
                    Box::new(x),
                    Box::new(Expr::Div(Box::new(Expr::Num(Q::ONE)), Box::new(idx))),
                )
            }
            "pi" => Expr::Pi,
            "infty" => Expr::Inf,
            "text" | "textbf" | "mathrm" | "mbox" | "textrm" | "operatorname" | "mathbf" => {
                self.group('{', '}')?
            }
            "log" | "lg" => {
                let base = if self.eat('_') {
                    self.script()?
                } else if name == "lg" {
                    Expr::Num(Q::int(10))
                } else {
                    // `\log x`: base 10 (the school convention of MATH problems)
                    Expr::Num(Q::int(10))
                };
                let x = self.func_arg()?;
                Expr::Log(Box::new(base), Box::new(x))
            }
            "lfloor" | "lceil" => {
                let e = self.expr()?;
                let close = if name == "lfloor" { "rfloor" } else { "rceil" };
                if !self.eat_cmd(close) {
                    return None;
                }
                let f = if name == "lfloor" {
                    Func::Floor
                } else {
                    Func::Ceil
                };
                Expr::Func(f, Box::new(e))
            }
            n => {
                if let Some(f) = func_of(n) {
                    // `\sin^2 x` is `(\sin x)^2`
                    let pow = if self.eat('^') {
                        Some(self.script()?)
                    } else {
                        None
                    };
                    let x = self.func_arg()?;
                    let e = Expr::Func(f, Box::new(x));
                    match pow {
                        Some(p) => Expr::Pow(Box::new(e), Box::new(p)),
                        None => e,
                    }
                } else if GREEK.contains(&n) {
                    Expr::Var(n.to_string())
                } else {
                    return None;
                }
            }
        };
        self.leave();
        self.node(r)
    }

    /// A function's argument: a bracketed group, or a power with the simple
    /// factors right after it (`\sin 2x` is `\sin(2x)`).
    fn func_arg(&mut self) -> Option<Expr> {
        match self.peek()? {
            '(' | '{' | '[' => self.power(),
            _ => {
                let mut fs = vec![self.power()?];
                while let Some(c) = self.peek() {
                    if c.is_ascii_alphanumeric() {
                        fs.push(self.power()?);
                    } else {
                        break;
                    }
                }
                if fs.len() == 1 {
                    fs.pop()
                } else {
                    Some(Expr::Mul(fs))
                }
            }
        }
    }
}

fn letter(c: char) -> Expr {
    match c {
        'e' => Expr::E,
        'i' => Expr::I,
        c => Expr::Var(c.to_string()),
    }
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
