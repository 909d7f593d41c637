//! Types and rules of the contract, without I/O.

pub mod credentials;
pub mod input;
pub mod provider;
