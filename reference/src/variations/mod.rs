//! Conformance variations: the reference behaving differently from its own
//! defaults in ways the contract allows (see [`Variation`]).
//!
//! The catalogue and its switch are in `catalogue`; the other forms of JSON and
//! of documents in `json` and `documents`. The HTTP middleware that applies
//! them is [`crate::vary`], the data planted at start [`crate::planted`].

mod catalogue;
pub(crate) mod documents;
pub(crate) mod json;

pub use catalogue::{ParseVariationError, Variation, VariationSet};
