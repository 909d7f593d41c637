//! One test binary: every test spawns the real server on 127.0.0.1:0 with a
//! temporary database, and carriers are local mock servers.

mod api_keys;
mod auth;
mod cli;
mod cloudonix;
mod config_state;
mod configs;
mod disk_full;
mod edges;
mod errors;
mod helpers;
mod inbound;
mod isolation;
mod metrics;
mod mock_carrier;
mod number_cache;
mod openapi;
mod paging;
mod phone_numbers;
mod plivo;
mod readme;
mod request_id;
mod schemathesis;
mod storage;
mod sync;
mod telnyx;
pub mod trunks;
mod twilio;
mod unusable;
mod vobiz;
mod vonage;
mod workflows;
