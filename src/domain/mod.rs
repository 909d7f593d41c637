//! Types and rules of the contract, without I/O.

pub mod input;
