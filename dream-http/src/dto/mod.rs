//! Request and response bodies. Request types derive both `Object` (the schema in
//! the spec) and `Deserialize` (parsing with exact field errors); both use camelCase
//! and refuse unknown fields, so the spec and the parser agree.

mod customer;
mod dashboard;
mod keys;
mod tier;
mod usage;

pub use customer::*;
pub use dashboard::*;
pub use keys::*;
pub use tier::*;
pub use usage::*;

use dream_core::Mode;
use poem_openapi::{Enum, Object};
use serde::Deserialize;

/// Test or live data.
#[derive(Enum, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ModeDto {
    /// Test mode.
    Test,
    /// Live mode.
    Live,
}

impl From<ModeDto> for Mode {
    fn from(m: ModeDto) -> Self {
        match m {
            ModeDto::Test => Mode::Test,
            ModeDto::Live => Mode::Live,
        }
    }
}

impl From<Mode> for ModeDto {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Test => ModeDto::Test,
            Mode::Live => ModeDto::Live,
        }
    }
}

/// A plain acknowledgement.
#[derive(Object, Debug)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Server version.
    pub version: String,
}
