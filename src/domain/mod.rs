//! Types and rules of the contract, without I/O.

pub mod address;
pub mod credentials;
pub mod ids;
pub mod input;
pub mod phone_number;
pub mod provider;
pub mod trunk;
