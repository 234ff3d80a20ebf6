//! `fittrack`: runs the whole stack (default), one service, the router, composition
//! or migrations. See `fittrack --help`.

use fittrack_router::{configure_global_allocator, RouterGlobalAllocator};

configure_global_allocator!();

fn main() -> std::process::ExitCode {
    fittrack::cli::main()
}
