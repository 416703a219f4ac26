//! Finding the final answer in a model's completion.
//!
//! Every mode is a linear scan (no backtracking regex), so a 1 MiB completion
//! costs a few hundred microseconds at worst. An answer that cannot be found
//! is `None` (scored 0), never an error.

use super::latex::brace_group;
use crate::error::named_enum;
use std::borrow::Cow;

named_enum! {
    /// Where the answer is in a completion. The names (`"auto"`, ...) are
    /// what users pass; the Python API exports them as `MODES`.
    pub enum Mode for "mode" {
        /// boxed (adjacent boxes joined) → answer tags → `####` → whichever of "the answer is" /
        /// "Answer:" comes last → a line `A:` → the last math segment and then the last
        /// number, each if enabled ([`Fallback`]).
        Auto = "auto",
        /// The last `\boxed{...}` or `\fbox{...}` (nested braces).
        Boxed = "boxed",
        /// GSM8K's `#### N` (the last one).
        Gsm8k = "gsm8k",
        /// "The answer is ..." (the last one, to the end of its sentence).
        AnswerIs = "answer_is",
        /// "Answer: ..." (the last one, to the end of its line).
        AnswerColon = "answer_colon",
        /// `<answer>...</answer>` (the last complete pair).
        Tag = "tag",
        /// The last number in the text.
        LastNumber = "last_number",
        /// A multiple-choice letter A–Z, from any of the above or a lone `(B)`.
        Choice = "choice",
    }
}

/// The last `\boxed{..}`/`\fbox{..}` that starts before `end`: (start, content, end).
fn box_before(s: &str, end: usize) -> Option<(usize, &str, usize)> {
    let head = &s[..end];
    let a = head.rfind("\\boxed").map(|p| (p, 6));
    let f = head.rfind("\\fbox").map(|p| (p, 5));
    let (p, n) = match (a, f) {
        (Some(a), Some(f)) => {
            if a.0 > f.0 {
                a
            } else {
                f
            }
        }
        (Some(a), None) => a,
        (None, Some(f)) => f,
        (None, None) => return None,
    };
    let rest = &s[p + n..];
    let trimmed = rest.trim_start();
    let off = p + n + (rest.len() - trimmed.len());
    if trimmed.starts_with('{') {
        return brace_group(s, off)
            .map(|(c, e)| (p, c.trim(), e))
            .filter(|x| !x.1.is_empty());
    }
    // `\boxed 5`: one token after a space
    if rest.starts_with(' ') {
        let len = trimmed
            .find(|c: char| c.is_whitespace() || c == '$')
            .unwrap_or(trimmed.len());
        return Some((p, &trimmed[..len], off + len)).filter(|x| !x.1.is_empty());
    }
    None
}

pub fn boxed(s: &str) -> Option<&str> {
    box_before(s, s.len()).map(|b| b.1)
}

/// Most boxes joined into one answer.
const MAX_JOINED_BOXES: usize = 8;

/// Whether the text between two boxes only joins them: spaces, `$`, commas,
/// `\quad`, `and`/`or` (also in `\text{}`).
fn connector(g: &str) -> bool {
    if g.len() > 64 {
        return false;
    }
    let mut t = g;
    loop {
        t = t.trim_start();
        if t.is_empty() {
            return true;
        }
        let next = [
            "$", ",", ";", "\\quad", "\\qquad", "\\text{", "\\mbox{", "}", "and", "or", "\\(",
            "\\)", "\\,", "&",
        ]
        .iter()
        .find_map(|w| t.strip_prefix(w));
        match next {
            Some(r) => t = r,
            None => return false,
        }
    }
}

/// The last box, with the boxes right before it that only a connector
/// separates (`\boxed{1}, \boxed{2}` and `\boxed{-2} \quad\text{and}\quad
/// \boxed{1}` are one answer each: `1, 2` and `-2, 1`).
pub fn boxed_joined(s: &str) -> Option<Cow<'_, str>> {
    let (mut start, last, _) = box_before(s, s.len())?;
    let mut parts = vec![last];
    while parts.len() < MAX_JOINED_BOXES {
        match box_before(s, start) {
            Some((p, c, e)) if e <= start && connector(&s[e..start]) => {
                parts.push(c);
                start = p;
            }
            _ => break,
        }
    }
    if parts.len() == 1 {
        return Some(Cow::Borrowed(last));
    }
    parts.reverse();
    Some(Cow::Owned(parts.join(", ")))
}

pub fn gsm8k(s: &str) -> Option<&str> {
    let p = s.rfind("####")?;
    let rest = &s[p + 4..];
    let line = rest.split('\n').next().unwrap_or("");
    Some(line.trim()).filter(|x| !x.is_empty())
}

pub fn tag(s: &str) -> Option<&str> {
    let close = s.rfind("</answer>")?;
    let open = s[..close].rfind("<answer>")?;
    Some(s[open + 8..close].trim()).filter(|x| !x.is_empty())
}

/// Case-insensitive last occurrence of an ASCII `needle` that starts before `end`.
fn rfind_ci_before(hay: &str, needle: &str, end: usize) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let end = end.min(h.len());
    if n.len() > end {
        return None;
    }
    (0..=end - n.len())
        .rev()
        .find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Case-insensitive last occurrence of an ASCII `needle`.
fn rfind_ci(hay: &str, needle: &str) -> Option<usize> {
    rfind_ci_before(hay, needle, hay.len())
}

/// Trim what surrounds an inline answer: `$`, `**`, `\(`, quotes, a final period.
fn clean_inline(x: &str) -> &str {
    let mut t = x.trim();
    loop {
        let before = t;
        for w in ["**", "$", "\\(", "\\)", "\\[", "\\]", "\"", "*", ":"] {
            t = t.strip_prefix(w).unwrap_or(t).trim_start();
            t = t.strip_suffix(w).unwrap_or(t).trim_end();
        }
        t = t.trim_end_matches(['.', ',', ';', '!']).trim();
        if t == before {
            return t;
        }
    }
}

/// End of the sentence that starts at `rest`: a newline, or a `.` followed by
/// whitespace/end that is not a decimal point.
fn sentence(rest: &str) -> &str {
    let b = rest.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            return &rest[..i];
        }
        if c == b'.' && b.get(i + 1).is_none_or(|n| n.is_ascii_whitespace()) {
            return &rest[..i];
        }
    }
    rest
}

/// The first math segment (`$..$`, `$$..$$`, `\(..\)`, `\[..\]`) when `t`
/// starts with one: `$42$ apples` is `42`.
fn leading_math(t: &str) -> Option<&str> {
    let (open, close) = if t.starts_with("$$") {
        ("$$", "$$")
    } else if t.starts_with('$') {
        ("$", "$")
    } else if t.starts_with("\\(") {
        ("\\(", "\\)")
    } else if t.starts_with("\\[") {
        ("\\[", "\\]")
    } else {
        return None;
    };
    let rest = &t[open.len()..];
    if close == "$" {
        // an escaped `\$` inside is a dollar sign: `$\$96$`
        let b = rest.as_bytes();
        return (0..b.len())
            .find(|&i| b[i] == b'$' && (i == 0 || b[i - 1] != b'\\'))
            .map(|e| &rest[..e]);
    }
    rest.find(close).map(|e| &rest[..e])
}

/// Trim a math segment: spaces and a sentence's `.`/`,`/`;` (not a factorial's `!`).
fn clean_math(x: &str) -> &str {
    x.trim().trim_end_matches(['.', ',', ';']).trim()
}

/// Byte offset of the last ` is ` outside `$..$` (`The largest $n$ is 34`).
fn last_is(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    let mut in_math = false;
    let mut found = None;
    for i in 0..b.len() {
        if b[i] == b'$' && (i == 0 || b[i - 1] != b'\\') {
            in_math = !in_math;
        } else if !in_math && b[i..].starts_with(b" is ") {
            found = Some(i + 4);
        }
    }
    found
}

/// Words after a number that are part of the answer: arithmetic in words
/// (the answer is then not a number, and scores 0) and percent words.
const KEEP_WORDS: [&str; 12] = [
    "plus",
    "minus",
    "times",
    "divided",
    "over",
    "squared",
    "cubed",
    "mod",
    "modulo",
    "percent",
    "percentage",
    "pct",
];

/// Cut words after the answer: `42 apples in total` is `42`. The cut is at the
/// first word of two or more ASCII letters (outside braces, not a `\command`,
/// not the list words `or`/`and`), and only when a digit comes before it.
fn cut_words(t: &str) -> &str {
    let b = t.as_bytes();
    let mut depth = 0i32;
    let mut digit = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b'\\' => {
                // skip a command name
                i += 1;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        if c.is_ascii_digit() {
            digit = true;
        }
        if depth == 0 && c.is_ascii_alphabetic() && (i == 0 || b[i - 1] == b' ') {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            let word = &t[i..j];
            let ends = j == b.len() || !b[j].is_ascii_alphanumeric() && b[j] != b'_';
            if digit && ends && word.len() >= 2 && word != "or" && word != "and" {
                if KEEP_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word)) {
                    // `5 minus 2` is not `5`; `28 percent` keeps its percent
                    return t;
                }
                let mut head = t[..i].trim_end();
                // `10 and the rest`: no dangling list word
                for w in [" and", " or", ","] {
                    head = head.strip_suffix(w).unwrap_or(head).trim_end();
                }
                return head;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    t
}

/// The answer in the text after an anchor (`The answer is`, `Answer:`, `####`).
fn refine(x: &str) -> Option<&str> {
    let mut t = x.trim_start_matches(|c: char| c == ':' || c == '*' || c.is_whitespace());
    for _ in 0..2 {
        if let Some(m) = leading_math(t) {
            return Some(clean_math(m)).filter(|x| !x.is_empty());
        }
        // `The largest $n$ is 34`: after the last ` is `, unless the answer
        // already starts (`10 and the rest is 2` is 10)
        if t.starts_with(|c: char| c.is_ascii_digit() || "-+.([{\\\u{2212}".contains(c)) {
            break;
        }
        match last_is(t) {
            Some(p) => t = t[p..].trim_start(),
            None => break,
        }
    }
    let t = clean_inline(cut_words(clean_inline(t)));
    Some(t).filter(|x| !x.is_empty())
}

pub fn answer_is(s: &str) -> Option<&str> {
    let p = rfind_ci(s, "answer is")?;
    refine(sentence(&s[p + 9..]))
}

/// `Answer:` (also `**Answer:**`, `Answer**:`); the rest of its line.
pub fn answer_colon(s: &str) -> Option<&str> {
    let (_, end) = colon_anchor(s, s.len())?;
    refine(s[end..].split('\n').next().unwrap_or(""))
}

/// The last `answer` followed (after `*`, `}` or spaces) by `:`: its start and
/// the byte after the colon.
fn colon_anchor(s: &str, mut before: usize) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    loop {
        let p = rfind_ci_before(s, "answer", before)?;
        let mut j = p + 6;
        while j < b.len() && matches!(b[j], b'*' | b'}' | b' ') && j < p + 12 {
            j += 1;
        }
        if b.get(j) == Some(&b':') {
            return Some((p, j + 1));
        }
        before = p + 5;
        if p == 0 {
            return None;
        }
    }
}

/// A line that starts with `A:` (GSM8K few-shot style), the last one.
pub fn a_colon(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let mut end = s.len();
    while let Some(p) = s[..end].rfind("A:") {
        let line_start = s[..p].rfind('\n').map_or(0, |k| k + 1);
        if b[line_start..p]
            .iter()
            .all(|c| matches!(c, b' ' | b'*' | b'\t'))
        {
            return refine(s[p + 2..].split('\n').next().unwrap_or(""));
        }
        end = p;
    }
    None
}

/// The anchored answer whose anchor comes last ("answer is" or "Answer:"), else a line "A:".
fn anchored(s: &str) -> Option<&str> {
    let is = rfind_ci(s, "answer is");
    let colon = colon_anchor(s, s.len()).map(|(p, _)| p);
    let colon_last = match (is, colon) {
        (Some(a), Some(c)) => c > a,
        (a, _) => a.is_none(),
    };
    if colon_last {
        answer_colon(s).or_else(|| answer_is(s))
    } else {
        answer_is(s).or_else(|| answer_colon(s))
    }
    .or_else(|| a_colon(s))
}

/// Most math segments joined into one answer by [`last_math`].
const MAX_JOINED_MATH: usize = 8;

/// A gap of only `or` / `and` between two math segments (`$x=2$ or $x=3$`).
fn or_and(g: &str) -> bool {
    let t = g.trim();
    let t = t.strip_prefix(',').unwrap_or(t).trim_start();
    let t = t
        .strip_prefix("\\text{")
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(t)
        .trim();
    t == "or" || t == "and"
}

/// The last math segment: `$..$`, `$$..$$`, `\(..\)` or `\[..\]` (an escaped
/// `\$` is a dollar sign, not a delimiter), with the segments right before it
/// that only `or`/`and` separates (`$x=2$ or $x=3$` is `x=2, x=3`).
pub fn last_math(s: &str) -> Option<Cow<'_, str>> {
    let b = s.as_bytes();
    let mut open: Option<(usize, usize, u8)> = None; // segment start, content start, closer kind
    let mut segs: Vec<(usize, usize, usize)> = Vec::new(); // start, content start, content end
    let mut i = 0;
    let close = |segs: &mut Vec<(usize, usize, usize)>, seg: (usize, usize, usize)| {
        if segs.len() == MAX_JOINED_MATH {
            segs.remove(0);
        }
        segs.push(seg);
    };
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\\', Some(&c)) => {
                match (open, c) {
                    (None, b'(') => open = Some((i, i + 2, b')')),
                    (None, b'[') => open = Some((i, i + 2, b']')),
                    (Some((st, cs, k)), c) if c == k => {
                        close(&mut segs, (st, cs, i));
                        open = None;
                    }
                    _ => {}
                }
                i += 2;
                continue;
            }
            (b'$', next) => {
                let two = next == Some(&b'$');
                let kind = if two { b'D' } else { b'$' };
                match open {
                    None => open = Some((i, i + 1 + two as usize, kind)),
                    Some((st, cs, k)) if k == kind => {
                        close(&mut segs, (st, cs, i));
                        open = None;
                    }
                    _ => {}
                }
                i += 1 + two as usize;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let &(mut start, cs, ce) = segs.last()?;
    let last = s[cs..ce].trim();
    if last.is_empty() {
        return None;
    }
    let mut parts = vec![last];
    for &(st, cs, ce) in segs.iter().rev().skip(1) {
        // the gap runs from this segment's closing delimiter to the next start
        let close_len = if s[ce..].starts_with("$$") || s[ce..].starts_with('\\') {
            2
        } else {
            1
        };
        let c = s[cs..ce].trim();
        if c.is_empty() || !or_and(&s[ce + close_len..start]) {
            break;
        }
        parts.push(c);
        start = st;
    }
    if parts.len() == 1 {
        return Some(Cow::Borrowed(last));
    }
    parts.reverse();
    Some(Cow::Owned(parts.join(", ")))
}

/// The last line when it is only a choice letter: `(B)`, `\\textbf{(B)}`, `**B**`.
pub fn choice_line(s: &str) -> Option<&str> {
    let line = s.trim_end().rsplit('\n').next()?.trim();
    let mut t = line.trim_matches(|c| c == '*' || c == '$').trim();
    for w in ["\\textbf{", "\\text{", "\\mathrm{", "\\mathbf{"] {
        if let Some(r) = t.strip_prefix(w).and_then(|r| r.strip_suffix('}')) {
            t = r.trim();
        }
    }
    let inner = t.strip_prefix('(').and_then(|r| r.strip_suffix(')'))?;
    let mut it = inner.chars();
    let c = it.next()?;
    (it.next().is_none() && c.is_ascii_uppercase()).then_some(t)
}

/// The last number: `-1,234.5`, `.5`, `3/4` (a plain fraction is kept whole).
pub fn last_number(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let mut end = b.len();
    while end > 0 && !b[end - 1].is_ascii_digit() {
        end -= 1;
    }
    if end == 0 {
        return None;
    }
    let mut start = end;
    loop {
        while start > 0 && b[start - 1].is_ascii_digit() {
            start -= 1;
        }
        // `1,234` / `3.5` / `3/4`: a separator with digits on both sides
        if start >= 2 && matches!(b[start - 1], b',' | b'.' | b'/') && b[start - 2].is_ascii_digit()
        {
            start -= 1;
            continue;
        }
        break;
    }
    if start > 0 && b[start - 1] == b'.' {
        start -= 1;
    }
    if start > 0 && b[start - 1] == b'-' {
        start -= 1;
    } else if start >= 3 && &s.as_bytes()[start - 3..start] == "\u{2212}".as_bytes() {
        start -= 3;
    }
    s.get(start..end)
}

fn choice_of(x: &str) -> Option<&str> {
    let t = x.trim();
    let t = t
        .strip_prefix("\\text{")
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(t);
    let t = t.trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace() || c == '.');
    let mut it = t.chars();
    let c = it.next()?;
    (it.next().is_none() && c.is_ascii_uppercase()).then_some(t)
}

/// A lone `(B)` near the end (the last one).
fn last_paren_letter(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(2)).rev().find_map(|i| {
        (b[i] == b'(' && b[i + 1].is_ascii_uppercase() && b[i + 2] == b')')
            .then(|| &s[i + 1..i + 2])
    })
}

/// The fallbacks of [`Mode::Auto`] when no anchor is found (both off by default in the core;
/// the Python API turns `last_math` on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fallback {
    /// The last math segment (`$..$`, `\(..\)`, `\[..\]`), as math-verify does.
    pub last_math: bool,
    /// The last number in the text.
    pub last_number: bool,
}

pub fn extract(s: &str, mode: Mode, fb: Fallback) -> Option<Cow<'_, str>> {
    let b = Cow::Borrowed;
    match mode {
        Mode::Boxed => boxed_joined(s),
        Mode::Gsm8k => gsm8k(s).map(b),
        Mode::AnswerIs => answer_is(s).map(b),
        Mode::AnswerColon => answer_colon(s).map(b),
        Mode::Tag => tag(s).map(b),
        Mode::LastNumber => last_number(s).map(b),
        Mode::Auto => boxed_joined(s).or_else(|| {
            tag(s)
                .or_else(|| gsm8k(s).and_then(refine))
                .or_else(|| anchored(s))
                .map(b)
                .or_else(|| {
                    if fb.last_math {
                        last_math(s).or_else(|| choice_line(s).map(b))
                    } else {
                        None
                    }
                })
                .or_else(|| {
                    if fb.last_number {
                        last_number(s).map(b)
                    } else {
                        None
                    }
                })
        }),
        Mode::Choice => {
            let a = extract(s, Mode::Auto, Fallback::default());
            a.as_deref()
                .and_then(choice_of)
                .or_else(|| last_paren_letter(s))
                .map(|x| Cow::Owned(x.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(boxed("so \\boxed{\\frac{1}{2}} and \\boxed{3}"), Some("3"));
        assert_eq!(boxed("\\boxed{\\{1,2\\}}"), Some("\\{1,2\\}"));
        assert_eq!(boxed("\\boxed{a{b}c}"), Some("a{b}c"));
        assert_eq!(boxed("\\boxed 5$"), Some("5"));
        assert_eq!(boxed("\\boxed{unclosed"), None);
        assert_eq!(boxed("\\fbox{7}"), Some("7"));
        assert_eq!(gsm8k("work\n#### 1,234\n"), Some("1,234"));
        assert_eq!(tag("<answer> 12 </answer>"), Some("12"));
        assert_eq!(tag("<answer>12"), None);
        assert_eq!(answer_is("So the answer is $1,234."), Some("1,234"));
        assert_eq!(answer_is("The answer is 3.5. Done"), Some("3.5"));
        assert_eq!(answer_is("The answer is: **42**"), Some("42"));
        assert_eq!(answer_colon("Answer: 7\nmore"), Some("7"));
        assert_eq!(last_number("it is 1,234.5 apples."), Some("1,234.5"));
        assert_eq!(last_number("x = -3/4"), Some("-3/4"));
        assert_eq!(last_number("no digits"), None);
        let ex = |s: &str, m: Mode, fb: Fallback| extract(s, m, fb).map(Cow::into_owned);
        let none = Fallback::default();
        let num = Fallback {
            last_number: true,
            ..none
        };
        let math = Fallback {
            last_math: true,
            ..none
        };
        assert_eq!(ex("The answer is (C).", Mode::Choice, none).unwrap(), "C");
        assert_eq!(ex("I pick (B)", Mode::Choice, none).unwrap(), "B");
        assert_eq!(ex("7 apples", Mode::Auto, none), None);
        assert_eq!(ex("7 apples", Mode::Auto, num).unwrap(), "7");
        assert_eq!(ex("so $x = 3$ then", Mode::Auto, none), None);
        assert_eq!(ex("so $x = 3$ then", Mode::Auto, math).unwrap(), "x = 3");
        assert_eq!(ex("$x=2$ or $x=3$.", Mode::Auto, math).unwrap(), "x=2, x=3");
        assert_eq!(ex("$a=1$, so $b=2$.", Mode::Auto, math).unwrap(), "b=2");
        assert_eq!(ex("$$1$$ and \\(2\\)", Mode::Auto, math).unwrap(), "1, 2");
        assert_eq!(
            ex("Option (C) fails.\n\\textbf{(B)}\n", Mode::Auto, math).unwrap(),
            "(B)"
        );
        assert_eq!(ex("Option (C) fails.\n(B) is 5", Mode::Auto, math), None);
        assert_eq!(ex("The answer is $27!$.", Mode::Auto, none).unwrap(), "27!");
        assert_eq!(
            ex("The answer is $\\$96$.", Mode::Auto, none).unwrap(),
            "\\$96"
        );
        assert_eq!(
            ex("\\(\\dfrac{31}{15}\\)", Mode::Auto, math).unwrap(),
            "\\dfrac{31}{15}"
        );
        assert_eq!(ex("\\[x = 3\\]", Mode::Auto, math).unwrap(), "x = 3");
        assert_eq!(ex("costs \\$5 or $$y$$", Mode::Auto, math).unwrap(), "y");
        assert_eq!(ex("$unclosed", Mode::Auto, math), None);
        for (text, want) in [
            (
                "Final Answer: The final answer is $12$. I hope it is correct.",
                "12",
            ),
            ("Final Answer: The largest $n$ is 34.", "34"),
            ("Q: ?\nA: 18", "18"),
            ("**Final Answer:** 42", "42"),
            ("**Final Answer**: 42", "42"),
            ("The answer is: 42", "42"),
            ("The answer is 42 apples.", "42"),
            ("The answer is 10 and the rest is 2.", "10"),
            ("The answer is 5 minus 2.", "5 minus 2"),
            ("The answer is 28 percent of them.", "28 percent of them"),
            ("The answer is $42$ apples.", "42"),
            ("The answer is x = 2 or x = 3.", "x = 2 or x = 3"),
            ("The answer is \u{2212}5.", "\u{2212}5"),
            ("#### 72 clips", "72"),
            ("The answer is 5. Answer: 7", "7"),
            ("Answer: 7. So the answer is 5", "5"),
            ("\\boxed{1}, \\boxed{2}", "1, 2"),
            ("\\boxed{-2} \\quad\\text{and}\\quad \\boxed{1}", "-2, 1"),
            ("$\\boxed{k = 45}$ and $\\boxed{n = 2}$", "k = 45, n = 2"),
            ("\\boxed{3} so then the answer \\boxed{5}", "5"),
        ] {
            assert_eq!(ex(text, Mode::Auto, none).as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn hostile() {
        let deep = "\\boxed".to_string() + &"{".repeat(10_000) + "1" + &"}".repeat(10_000);
        assert!(boxed(&deep).is_some());
        assert_eq!(boxed(&("\\boxed".to_string() + &"{".repeat(10_000))), None);
        assert_eq!(boxed("\\boxed{}}}}"), None);
        assert_eq!(boxed("\\boxed{\\"), None);
        let digits = "9".repeat(1 << 20);
        assert_eq!(last_number(&digits).map(str::len), Some(1 << 20));
        assert_eq!(
            extract("a\0b \\boxed{\0}", Mode::Auto, Fallback::default()).as_deref(),
            Some("\0")
        );
        // multi-byte text near every cut point never splits a char
        assert_eq!(answer_is("the answer is é."), Some("é"));
        assert_eq!(boxed("\\boxed{é}"), Some("é"));
    }
}
