//! postcouple's Rust core.
//!
//! Pure algorithms live in plain modules that `cargo test` runs without
//! Python: [`advantages`], [`packing`], [`rewards`]. The only module that
//! knows Python is `py` (behind the `python` feature), a thin PyO3 layer that
//! checks dtypes and shapes, releases the GIL around the work and returns
//! owned numpy arrays.

pub mod advantages;
pub mod error;
pub mod packing;
pub mod rewards;

#[cfg(feature = "python")]
mod py;

pub use error::{Error, Result};
