//! Expressions: recursive descent over chars.

use super::*;

pub(super) fn parse_expr_str(s: &str, depth: usize, budget: &mut Budget) -> Option<Expr> {
    // a ratio `7:32` / `V_1:V_2` is the quotient; three parts do not parse
    if s.contains(':') {
        let (parts, _) = super::answer::split_top(s, &[":"]);
        if parts.len() == 2 {
            let a = parse_expr_str(parts[0], depth + 1, budget)?;
            let b = parse_expr_str(parts[1], depth + 1, budget)?;
            return Some(Expr::Div(Box::new(a), Box::new(b)));
        }
        if parts.len() > 2 {
            return None;
        }
    }
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

pub(super) struct P<'a, 'b> {
    s: &'a [char],
    i: usize,
    depth: usize,
    budget: &'b mut Budget,
}

pub(super) fn func_of(name: &str) -> Option<Func> {
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

pub(super) const GREEK: &[&str] = &[
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

/// All of `v` as one node: its only item, or `ctor(v)` (a sum or a product)
/// when it holds several; `v` is left empty.
fn collapse(v: &mut Vec<Expr>, ctor: fn(Vec<Expr>) -> Expr) -> Option<Expr> {
    if v.len() == 1 {
        v.pop()
    } else {
        Some(ctor(std::mem::take(v)))
    }
}

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

    /// `\pm` (Some(false)) or `\mp` (Some(true)), eaten.
    fn eat_pm(&mut self) -> Option<bool> {
        if self.eat_cmd("pm") {
            Some(false)
        } else if self.eat_cmd("mp") {
            Some(true)
        } else {
            None
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
            } else if let Some(minus) = self.eat_pm() {
                // `a \pm b` is Pm(a, b); `a \mp b` is Pm(a, -b)
                let t = self.term()?;
                let t = if minus { Expr::Neg(Box::new(t)) } else { t };
                let acc = collapse(&mut terms, Expr::Add)?;
                terms = vec![Expr::Pm(Box::new(acc), Box::new(t))];
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
        // a mixed number `7 1/2` (space, then a proper numeric fraction)
        if first_is_int_literal && factors.len() == 1 {
            if let Some(f) = self.slash_fraction() {
                let whole = factors.pop()?;
                factors.push(Expr::Add(vec![whole, f]));
            }
        }
        loop {
            // two number literals in a row (`2 3`) are not a product: no parse
            if self.peek().is_some_and(|c| c.is_ascii_digit())
                && self.s[..self.i]
                    .iter()
                    .rev()
                    .find(|c| !c.is_whitespace())
                    .is_some_and(|c| c.is_ascii_digit())
            {
                return None;
            }
            if self.eat('*') || self.eat_cmd("cdot") || self.eat_cmd("times") {
                factors.push(self.unary()?);
            } else if self.eat('/') || self.eat_cmd("div") {
                let d = self.unary()?;
                let n = collapse(&mut factors, Expr::Mul)?;
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

    /// After a whole number: ` a/b` with whitespace before, `0 <= a < b`, and
    /// nothing that continues the term after it; consumed only then.
    fn slash_fraction(&mut self) -> Option<Expr> {
        let save = self.i;
        // (the parser may already have skipped the space after the whole number)
        let spaced = self.s[..self.i].last().is_some_and(|c| c.is_whitespace())
            || self.s.get(self.i).is_some_and(|c| c.is_whitespace());
        let r = (|| {
            if !spaced || !self.peek()?.is_ascii_digit() {
                return None;
            }
            let a = self.number()?;
            if !self.eat('/') || !self.peek()?.is_ascii_digit() {
                return None;
            }
            let b = self.number()?;
            match (&a, &b) {
                (Expr::Num(x), Expr::Num(y))
                    if x.is_int()
                        && y.is_int()
                        && x.n >= 0
                        && x.n < y.n
                        && !self.starts_factor() =>
                {
                    Some(Expr::Div(Box::new(a), Box::new(b)))
                }
                _ => None,
            }
        })();
        if r.is_none() {
            self.i = save;
        }
        r
    }

    /// Whether the chars at `j` spell `pat`.
    fn at(&self, j: usize, pat: &str) -> bool {
        let n = pat.chars().count();
        self.s
            .get(j..j + n)
            .is_some_and(|w| w.iter().copied().eq(pat.chars()))
    }

    /// A repeating block `\overline{3}` / `\overline 3` at `self.i`: its digits.
    fn overline(&mut self) -> Option<String> {
        if !self.at(self.i, "\\overline") {
            return None;
        }
        let save = self.i;
        self.i += 9;
        let mut rep = String::new();
        let braced = self.eat('{');
        while let Some(&c) = self.s.get(self.i) {
            if !c.is_ascii_digit() || (!braced && !rep.is_empty()) {
                break;
            }
            rep.push(c);
            self.i += 1;
        }
        if rep.is_empty() || rep.len() > 18 || (braced && !self.eat('}')) {
            self.i = save;
            return None;
        }
        Some(rep)
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
        let mut rep = None;
        if self.i < s.len()
            && s[self.i] == '.'
            && (s.get(self.i + 1).is_some_and(|c| c.is_ascii_digit())
                || self.at(self.i + 1, "\\overline"))
        {
            self.i += 1;
            while self.i < s.len() && s[self.i].is_ascii_digit() {
                frac.push(s[self.i]);
                self.i += 1;
            }
            // a repeating decimal `0.1\overline{6}` is exact: 1/6
            rep = self.overline();
            if rep.is_none() && frac.is_empty() {
                self.i = start;
                return None;
            }
        }
        if int.is_empty() && frac.is_empty() && rep.is_none() {
            self.i = start;
            return None;
        }
        if let Some(rep) = rep {
            let lit = format!("{int}{frac}");
            let lit = lit.trim_start_matches('0');
            if lit.len() > 18 || frac.len() > 18 {
                return None;
            }
            let head = Q::new(lit.parse().unwrap_or(0), 10i128.pow(frac.len() as u32))?;
            let r: i128 = rep.parse().ok()?;
            let den = 10i128.pow(frac.len() as u32) * (10i128.pow(rep.len() as u32) - 1);
            return self.node(Expr::Num(head.add(Q::new(r, den)?)?));
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

pub(super) fn letter(c: char) -> Expr {
    match c {
        'e' => Expr::E,
        'i' => Expr::I,
        c => Expr::Var(c.to_string()),
    }
}
