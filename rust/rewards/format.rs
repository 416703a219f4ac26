//! Format and label rewards, and DAPO's overlong penalty.

use super::extract::{extract, Fallback, Mode};
use crate::{Error, Result};
use regex::{Regex, RegexBuilder};

/// The default strict format: `<think>…</think>` then `<answer>…</answer>`,
/// nothing else but whitespace around (DeepSeek-R1 / Open-R1 style).
pub const THINK_ANSWER: &str = r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*";

/// Compile a user pattern with full-match semantics (the whole completion must
/// match) and `.` matching newlines. Rust `regex` syntax: no look-around or
/// backreferences, and matching is linear time, so a hostile completion cannot
/// make it slow. The compiled program is capped at 1 MiB.
pub fn compile(pattern: &str) -> Result<Regex> {
    RegexBuilder::new(&format!(r"\A(?:{pattern})\z"))
        .dot_matches_new_line(true)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| Error::value("pattern", format!("not a valid regular expression: {e}")))
}

pub fn format_score(re: &Regex, completion: &str) -> f32 {
    if re.is_match(completion) {
        1.0
    } else {
        0.0
    }
}

/// A label's comparison key: no `\text{}`, `$`, `**`, quotes or surrounding
/// punctuation/whitespace; lower case unless `case_sensitive`.
pub fn label_key(s: &str, case_sensitive: bool) -> String {
    let mut t = s.trim();
    if let Some(inner) = t.strip_prefix("\\text{").and_then(|r| r.strip_suffix('}')) {
        t = inner;
    }
    let t = t.trim_matches(|c: char| c.is_whitespace() || "$*\"'`.,;:!?()[]{}".contains(c));
    if case_sensitive {
        t.to_string()
    } else {
        t.to_lowercase()
    }
}

pub fn label_score(completion: &str, label_key_: &str, mode: Mode, case_sensitive: bool) -> f32 {
    match extract(completion, mode, Fallback::default()) {
        Some(a) if label_key(&a, case_sensitive) == label_key_ => 1.0,
        _ => 0.0,
    }
}

/// DAPO's soft overlong punishment (Yu et al. 2025, eq. 13; verl's
/// `overlong_buffer`): 0 up to `max_len - buffer`, then falling linearly to
/// `-factor` at `max_len`, and on below for longer responses (verl does not clip).
pub fn overlong_penalty(
    lengths: &[i64],
    max_len: i64,
    buffer: i64,
    factor: f64,
) -> Result<Vec<f32>> {
    if buffer <= 0 {
        return Err(Error::value(
            "buffer",
            format!("must be >= 1, got {buffer}"),
        ));
    }
    if max_len < buffer {
        return Err(Error::value(
            "max_len",
            format!("must be >= buffer ({buffer}), got {max_len}"),
        ));
    }
    if !factor.is_finite() || factor < 0.0 {
        return Err(Error::value(
            "factor",
            format!("must be finite and >= 0, got {factor}"),
        ));
    }
    let expected = max_len - buffer;
    lengths
        .iter()
        .map(|&l| {
            if l < 0 {
                return Err(Error::value("lengths", format!("must be >= 0, got {l}")));
            }
            let exceed = (l - expected) as f64;
            Ok((-exceed / buffer as f64 * factor).min(0.0) as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_full_match() {
        let re = compile(THINK_ANSWER).unwrap();
        assert_eq!(
            format_score(&re, "<think>a\nb</think>\n<answer>1</answer>"),
            1.0
        );
        assert_eq!(
            format_score(&re, "<think>a</think><answer>1</answer> junk"),
            0.0
        );
        assert_eq!(format_score(&re, "<answer>1</answer>"), 0.0);
        assert!(compile("(").is_err());
    }

    #[test]
    fn labels() {
        assert_eq!(label_key(" **Acceptable**. ", false), "acceptable");
        assert_eq!(
            label_score(
                "<answer>unacceptable</answer>",
                "unacceptable",
                Mode::Auto,
                false
            ),
            1.0
        );
        assert_eq!(
            label_score(
                "<answer>acceptable</answer>",
                "unacceptable",
                Mode::Auto,
                false
            ),
            0.0
        );
        assert_eq!(label_score("no tags", "acceptable", Mode::Auto, false), 0.0);
    }

    #[test]
    fn overlong() {
        let p = overlong_penalty(&[0, 80, 90, 100, 110], 100, 20, 1.0).unwrap();
        assert_eq!(p, vec![0.0, 0.0, -0.5, -1.0, -1.5]);
        assert!(overlong_penalty(&[1], 100, 0, 1.0).is_err());
        assert!(overlong_penalty(&[-1], 100, 10, 1.0).is_err());
    }
}
