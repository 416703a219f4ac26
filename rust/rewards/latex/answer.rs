//! The top level of an answer: tuples, sets, intervals, relations, matrices, text.

use super::expr::parse_expr_str;
use super::normalize::*;
use super::*;

// ---------------------------------------------------------------------------
// top level: tuples, sets, intervals, relations, matrices, text

/// Split at top-level (depth 0) occurrences of any of `seps`; returns pieces and
/// the separator index found before each piece after the first.
pub(crate) fn split_top<'a>(s: &'a str, seps: &[&str]) -> (Vec<&'a str>, Vec<usize>) {
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
pub(super) fn outer_pair(s: &str) -> bool {
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

pub(super) fn looks_like_words(s: &str) -> bool {
    // two or more letters in a row that are not a LaTeX command, and no digits
    // or operators: a word answer (`Evelyn`, `east`, `(B)` is handled apart).
    let t = s.trim();
    !t.is_empty()
        && !t.contains('\\')
        && t.chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '\'')
        && t.split(|c: char| !c.is_alphabetic()).any(|w| w.len() >= 3)
}

pub(super) fn choice_letter(s: &str) -> Option<char> {
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

pub(super) fn parse_ans(s: &str, depth: usize, budget: &mut Budget) -> Option<Ans> {
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
    // `\left[\begin{array}..\end{array}\right]`: the brackets around a matrix
    if matches!(s.as_bytes()[0], b'(' | b'[') && outer_pair(s) {
        let inner = s[1..s.len() - 1].trim();
        if inner.starts_with("\\begin") {
            return parse_ans(inner, depth + 1, budget);
        }
    }
    // matrices: `\begin{env} .. \end{env}`, matched in place (a `format!` per
    // environment showed up at 10% in perf)
    const ENVS: [&str; 6] = [
        "pmatrix", "bmatrix", "Bmatrix", "vmatrix", "matrix", "array",
    ];
    let env_body = s.strip_prefix("\\begin{").and_then(|r| {
        let (env, rest) = r.split_once('}')?;
        let body = rest.strip_suffix('}')?.strip_suffix(env)?;
        ENVS.contains(&env)
            .then_some((env, body.strip_suffix("\\end{")?))
    });
    if let Some((env, body)) = env_body {
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
    // unions of intervals
    let (parts, _) = split_top(s, &["\\cup"]);
    if parts.len() > 1 {
        return Some(Ans::Union(parse_each(&parts, depth, budget)?));
    }
    // relations
    let rels = ["\\le", "\\ge", "\\ne", "\\in", "=", "<", ">"];
    let (parts, which) = split_top(s, &rels);
    // a list of relations (`a_3 = 2, a_{37} = 19`, `x=2, x=3`): a bare list
    if which.len() > 1 {
        let (items, _) = split_top(s, &[",", ";"]);
        let with_rel = items
            .iter()
            .filter(|it| split_top(it, &rels).0.len() > 1)
            .count();
        if items.len() > 1 && with_rel > 1 {
            return Some(Ans::Set {
                items: set_items(&items, depth, budget)?,
                braces: false,
            });
        }
    }
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
            // `x = 1, 2` / `x = (1, 2)` / `(p, q) = (3, 2)`: a name (or a tuple
            // of names) bound to a list is the list
            let lhs = parse_ans(parts[0], depth + 1, budget)?;
            if is_label_ans(&lhs) {
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
            return Some(Ans::Seq {
                open: first,
                close: last,
                items: parse_each(&items, depth, budget)?,
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
/// Each piece parsed as an answer, in order; `None` past [`MAX_ITEMS`] pieces
/// or if any piece does not parse.
fn parse_each(pieces: &[&str], depth: usize, budget: &mut Budget) -> Option<Vec<Ans>> {
    if pieces.len() > MAX_ITEMS {
        return None;
    }
    pieces
        .iter()
        .map(|p| parse_ans(p, depth + 1, budget))
        .collect()
}

pub(super) fn set_items(pieces: &[&str], depth: usize, budget: &mut Budget) -> Option<Vec<Ans>> {
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

pub(super) fn count_pm(e: &Expr) -> usize {
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

pub(super) fn choose(e: &Expr, signs: u32, k: &mut u32) -> Expr {
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

/// A name that labels an answer: `x`, `a_3`, `AB`, `f(x)`, `g(2)`, `V_1:V_2`
/// (variables, products and quotients of variables).
pub fn is_label(e: &Expr) -> bool {
    match e {
        Expr::Var(_) => true,
        // `g(2)`: a function name applied to a number
        Expr::Mul(v) if v.len() == 2 && matches!(&v[0], Expr::Var(n) if n.len() == 1) => {
            matches!(&v[1], Expr::Var(_) | Expr::Num(_)) || is_label(&v[1])
        }
        Expr::Mul(v) => {
            v.iter().any(|x| matches!(x, Expr::Var(_)))
                && v.iter()
                    .all(|x| matches!(x, Expr::Var(_) | Expr::E | Expr::I) || is_label(x))
        }
        Expr::Div(a, b) => is_label(a) && is_label(b),
        _ => false,
    }
}

/// A label, or a tuple of labels `(p, q)`.
fn is_label_ans(a: &Ans) -> bool {
    match a {
        Ans::Expr(e) => is_label(e),
        Ans::Seq { items, .. } => items.iter().all(is_label_ans),
        _ => false,
    }
}
