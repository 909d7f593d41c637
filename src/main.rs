use std::process::ExitCode;

use clap::Parser;

#[actix_web::main]
async fn main() -> ExitCode {
    let _flush = match telebind::logging::init() {
        Ok(flush) => flush,
        Err(e) => {
            eprintln!("telebind: cannot start the log thread: {e}");
            return ExitCode::FAILURE;
        }
    };
    telebind::cli::run(telebind::cli::Cli::parse()).await
}
