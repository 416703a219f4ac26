//! Finding the final answer in a model's completion.
//!
//! Every mode is a linear scan (no backtracking regex), so a 1 MiB completion
//! costs a few hundred microseconds at worst. An answer that cannot be found
//! is `None` (scored 0), never an error.

use super::latex::brace_group;
use crate::{Error, Result};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// boxed → answer tags → `####` → "the answer is" → "Answer:" (→ last number if enabled).
    Auto,
    /// The last `\boxed{...}` or `\fbox{...}` (nested braces).
    Boxed,
    /// GSM8K's `#### N` (the last one).
    Gsm8k,
    /// "The answer is ..." (the last one, to the end of its sentence).
    AnswerIs,
    /// "Answer: ..." (the last one, to the end of its line).
    AnswerColon,
    /// `<answer>...</answer>` (the last complete pair).
    Tag,
    /// The last number in the text.
    LastNumber,
    /// A multiple-choice letter A–Z, from any of the above or a lone `(B)`.
    Choice,
}

impl FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mode> {
        Ok(match s {
            "auto" => Mode::Auto,
            "boxed" => Mode::Boxed,
            "gsm8k" => Mode::Gsm8k,
            "answer_is" => Mode::AnswerIs,
            "answer_colon" => Mode::AnswerColon,
            "tag" => Mode::Tag,
            "last_number" => Mode::LastNumber,
            "choice" => Mode::Choice,
            _ => {
                return Err(Error::value(
                    "mode",
                    format!(
                        "unknown extraction mode {s:?}; expected one of 'auto', 'boxed', \
                         'gsm8k', 'answer_is', 'answer_colon', 'tag', 'last_number', 'choice'"
                    ),
                ))
            }
        })
    }
}

pub fn boxed(s: &str) -> Option<&str> {
    let a = s.rfind("\\boxed").map(|p| (p, 6));
    let f = s.rfind("\\fbox").map(|p| (p, 5));
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
            .map(|(c, _)| c.trim())
            .filter(|x| !x.is_empty());
    }
    // `\boxed 5`: one token after a space
    if rest.starts_with(' ') {
        let end = trimmed
            .find(|c: char| c.is_whitespace() || c == '$')
            .unwrap_or(trimmed.len());
        return Some(&trimmed[..end]).filter(|x| !x.is_empty());
    }
    None
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

/// Case-insensitive last occurrence of an ASCII `needle`.
fn rfind_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.len() > h.len() {
        return None;
    }
    (0..=h.len() - n.len())
        .rev()
        .find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
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

pub fn answer_is(s: &str) -> Option<&str> {
    let p = rfind_ci(s, "answer is")?;
    let rest = &s[p + 9..];
    Some(clean_inline(sentence(rest))).filter(|x| !x.is_empty())
}

pub fn answer_colon(s: &str) -> Option<&str> {
    let p = rfind_ci(s, "answer:")?;
    let rest = &s[p + 7..];
    let line = rest.split('\n').next().unwrap_or("");
    Some(clean_inline(line)).filter(|x| !x.is_empty())
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

pub fn extract(s: &str, mode: Mode, last_number_fallback: bool) -> Option<&str> {
    match mode {
        Mode::Boxed => boxed(s),
        Mode::Gsm8k => gsm8k(s),
        Mode::AnswerIs => answer_is(s),
        Mode::AnswerColon => answer_colon(s),
        Mode::Tag => tag(s),
        Mode::LastNumber => last_number(s),
        Mode::Auto => boxed(s)
            .or_else(|| tag(s))
            .or_else(|| gsm8k(s))
            .or_else(|| answer_is(s))
            .or_else(|| answer_colon(s))
            .or_else(|| {
                if last_number_fallback {
                    last_number(s)
                } else {
                    None
                }
            }),
        Mode::Choice => extract(s, Mode::Auto, false)
            .and_then(choice_of)
            .or_else(|| last_paren_letter(s)),
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
        assert_eq!(
            extract("The answer is (C).", Mode::Choice, false),
            Some("C")
        );
        assert_eq!(extract("I pick (B)", Mode::Choice, false), Some("B"));
        assert_eq!(extract("7 apples", Mode::Auto, false), None);
        assert_eq!(extract("7 apples", Mode::Auto, true), Some("7"));
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
        assert_eq!(extract("a\0b \\boxed{\0}", Mode::Auto, false), Some("\0"));
        // multi-byte text near every cut point never splits a char
        assert_eq!(answer_is("the answer is é."), Some("é"));
        assert_eq!(boxed("\\boxed{é}"), Some("é"));
    }
}
