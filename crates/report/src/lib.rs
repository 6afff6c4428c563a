//! The formats around an investigation: incident files in, reports out.
//!
//! - [`incident`]: parses an incident TOML text (name, start time, victims, exploiters, optional token
//!   metadata) into an [`chaintrace_analysis::investigate::Incident`], with errors naming file and line;
//! - [`json`]: the public JSON contract of a report (`"schema_version": 1`), as serde DTOs;
//! - [`markdown`], [`html`] (self-contained, with an inline SVG flow graph laid out by [`svg`]) and
//!   [`summary`] (plain text for a terminal).
//!
//! Pure: every function takes values and returns strings. Reading and writing files is the caller's job.

#![warn(missing_docs)]

pub mod html;
pub mod incident;
pub mod json;
pub mod markdown;
pub mod summary;
pub mod svg;

mod fmt;
mod tables;

pub use incident::{IncidentError, parse_incident};
