//! The one error type of the core.
//!
//! Every fallible core function returns [`Result`]. The binding layer maps
//! each variant to a Python exception class in one place (`py/mod.rs`):
//! `Value` → `ValueError`, `Type` → `TypeError`. An unparseable *model
//! answer* is never an error: it is data (a score of 0 or NaN).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An argument has the right type but a bad value (shape, range, length).
    Value { arg: &'static str, msg: String },
    /// An argument has the wrong type or dtype.
    Type { arg: &'static str, msg: String },
}

impl Error {
    pub fn value(arg: &'static str, msg: impl Into<String>) -> Self {
        Error::Value {
            arg,
            msg: msg.into(),
        }
    }
    pub fn type_(arg: &'static str, msg: impl Into<String>) -> Self {
        Error::Type {
            arg,
            msg: msg.into(),
        }
    }
}

/// `s` as one of the named `choices`; otherwise a `Value` error on `arg` that
/// lists every name. The one way option names are parsed: each option enum's
/// `FromStr` is a call to this.
pub fn choose<T: Copy>(arg: &'static str, s: &str, choices: &[(&str, T)]) -> Result<T> {
    if let Some(&(_, v)) = choices.iter().find(|(name, _)| *name == s) {
        return Ok(v);
    }
    let names: Vec<String> = choices.iter().map(|(n, _)| format!("'{n}'")).collect();
    let list = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    };
    Err(Error::value(arg, format!("expected {list}, got {s:?}")))
}

/// An option enum parsed from its names: declares the enum (`Debug, Clone,
/// Copy, PartialEq, Eq`), `ALL` (every variant, in order), `name()` and a
/// `FromStr` through [`choose`], whose error names `arg`.
///
/// ```ignore
/// named_enum! {
///     /// Doc.
///     pub enum Strategy for "strategy" { Bfd = "bfd", Ffd = "ffd" }
/// }
/// ```
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $T:ident for $arg:literal {
            $($(#[$vmeta:meta])* $V:ident = $name:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $T {
            $($(#[$vmeta])* $V),+
        }

        impl $T {
            /// Every variant, in the order the docs list them.
            pub const ALL: &'static [$T] = &[$($T::$V),+];

            /// The name users write.
            pub fn name(self) -> &'static str {
                match self {
                    $($T::$V => $name),+
                }
            }
        }

        impl std::str::FromStr for $T {
            type Err = $crate::Error;
            fn from_str(s: &str) -> $crate::Result<Self> {
                $crate::error::choose($arg, s, &[$(($name, $T::$V)),+])
            }
        }
    };
}
pub(crate) use named_enum;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Value { arg, msg } | Error::Type { arg, msg } => write!(f, "{arg}: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_argument() {
        let e = Error::value("capacity", "must be > 0, got 0");
        assert_eq!(e.to_string(), "capacity: must be > 0, got 0");
        let e = Error::type_("rewards", "expected float32 or float64");
        assert_eq!(e.to_string(), "rewards: expected float32 or float64");
    }

    #[test]
    fn choose_lists_every_name() {
        let c = [("a", 1), ("b", 2), ("c", 3)];
        assert_eq!(choose("x", "b", &c), Ok(2));
        let e = choose("x", "d", &c).unwrap_err().to_string();
        assert_eq!(e, "x: expected 'a', 'b' or 'c', got \"d\"");
        let e = choose("x", "d", &c[..1]).unwrap_err().to_string();
        assert_eq!(e, "x: expected 'a', got \"d\"");
    }
}
