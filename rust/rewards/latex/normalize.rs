//! The first pass: rewrite an answer string into a canonical LaTeX-ish form.

use super::*;

// ---------------------------------------------------------------------------
// normalisation

pub(super) const UNIT_WORDS: &[&str] = &[
    "cm", "mm", "km", "meters", "meter", "metres", "metre", "inches", "inch", "feet", "foot", "ft",
    "yards", "yard", "miles", "mile", "mph", "degrees", "degree", "cents", "cent", "dollars",
    "dollar", "units", "unit", "square", "sq", "cubic", "hours", "hour", "minutes", "minute",
    "seconds", "second", "days", "day", "weeks", "week", "years", "year", "pounds", "lbs", "kg",
    "grams", "liters", "litres", "people", "students", "points", "ways", "times", "percent",
];

pub(super) fn replace_all(s: &mut String, from: &str, to: &str) {
    if s.contains(from) {
        *s = s.replace(from, to);
    }
}

/// Remove `\cmd` where the next char is not a letter (so `\left` does not eat `\leftarrow`).
pub(super) fn remove_cmd(s: &mut String, cmd: &str) {
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

pub(super) const TEXT_CMDS: &[&str] = &[
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
pub(super) fn whole_wrapper(s: &str) -> Option<&str> {
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
pub(super) fn strip_text_groups(s: &str) -> String {
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
                        let word = inner.trim();
                        if word == "or" || word == "and" || word == "," {
                            // a list word: `3 \text{ or } -3` is the list `3, -3`
                            // (dropping it would leave `3 -3`, which is 0)
                            out.push_str(", ");
                            i = end;
                        } else if has_digit
                            || single
                            || *cmd == "\\mathbf"
                            || *cmd == "\\operatorname"
                        {
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
pub(super) fn strip_unit_words(s: &str) -> &str {
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

/// `28 pct`, `28 percent`, `28 percentage points`: the number, as a percentage.
fn strip_percent_word(t: &str) -> Option<&str> {
    for w in [
        " percentage points",
        " percentage point",
        " percentage",
        " percent",
        " pct",
    ] {
        if let Some(head) = t.strip_suffix(w) {
            let head = head.trim_end();
            if head.bytes().last().is_some_and(|c| c.is_ascii_digit()) {
                return Some(head);
            }
        }
    }
    None
}

/// `{n \choose k}` → `\binom{n}{k}` (the innermost group around each `\choose`,
/// or the whole answer when there is none).
fn choose_to_binom(s: &mut String) {
    for _ in 0..MAX_PM {
        let Some(p) = s.find("\\choose") else {
            return;
        };
        let b = s.as_bytes();
        // the unmatched `{` before p
        let mut depth = 0i32;
        let mut open = None;
        for i in (0..p).rev() {
            match b[i] {
                b'}' => depth += 1,
                b'{' if depth == 0 => {
                    open = Some(i);
                    break;
                }
                b'{' => depth -= 1,
                _ => {}
            }
        }
        let (start, end) = match open {
            Some(o) => match brace_group(s, o) {
                Some((_, e)) => (o, e),
                None => return,
            },
            None => (0, s.len()),
        };
        let inner_start = if open.is_some() { start + 1 } else { start };
        let inner_end = if open.is_some() { end - 1 } else { end };
        if p < inner_start || p + 7 > inner_end {
            return;
        }
        let n = s[inner_start..p].trim().to_string();
        let k = s[p + 7..inner_end].trim().to_string();
        s.replace_range(start..end, &format!("\\binom{{{n}}}{{{k}}}"));
    }
}

/// Collapse thousands separators (`12,345,678.5`): a run of 1–3 digits then
/// groups of exactly 3 digits, each comma directly followed by the digits.
pub(super) fn collapse_thousands(s: &str) -> String {
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
            // `,` or a single space (`36 320 014`), the same in the whole run; a
            // space group must not start a fraction (`7 100/3`)
            let sep = b.get(j).copied().filter(|c| *c == b',' || *c == b' ');
            while lead <= 3
                && k + 4 <= b.len()
                && Some(b[k]) == sep
                && b[k + 1..k + 4].iter().all(|c| c.is_ascii_digit())
                && !b.get(k + 4).is_some_and(|c| c.is_ascii_digit())
                && !(sep == Some(b' ') && matches!(b.get(k + 4), Some(b'/' | b'.')))
            {
                k += 4;
                groups += 1;
            }
            if groups > 0 {
                for &c in &b[i..k] {
                    if c.is_ascii_digit() {
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
pub(super) fn cmd_name(pat: &str) -> &str {
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
pub(super) fn commands_in(s: &str) -> Vec<String> {
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
            ("∓", "\\mp "),
            ("∅", "\\{\\}"),
            ("ℝ", "(-\\infty,\\infty)"),
            ("∪", "\\cup "),
            ("∈", "\\in "),
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
        ("\\emptyset", "\\{\\}"),
        ("\\varnothing", "\\{\\}"),
        ("\\mathbb{R}", "(-\\infty,\\infty)"),
        ("\\mathbb R", "(-\\infty,\\infty)"),
    ] {
        if wanted(from) {
            replace_all(&mut s, from, to);
        }
    }
    if wanted("\\choose") {
        choose_to_binom(&mut s);
    }
    // `\quad` between answers separates them (`2 \quad 3` is not `23`)
    for q in ["\\qquad", "\\quad"] {
        if wanted(q) {
            replace_all(&mut s, q, ", ");
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
    let mut percent = s.contains('%');
    if percent {
        s = s.replace('%', "");
    }
    // `3 or -3`, `x = 2 and x = 3`: list words between numbers are commas
    if s.bytes().any(|c| c.is_ascii_digit()) {
        replace_all(&mut s, " or ", ", ");
        replace_all(&mut s, " and ", ", ");
    }
    let mut t = s
        .trim()
        .trim_matches([',', ';', ' '])
        .trim_end_matches(['.', ' '])
        .trim()
        .to_string();
    if let Some(head) = strip_percent_word(&t) {
        t = head.to_string();
        percent = true;
    }
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
        t = t.trim().trim_matches([',', ';']).trim().to_string();
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
