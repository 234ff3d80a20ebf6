//! Stand-alone router binary (`fittrack router` runs the same thing).
#![recursion_limit = "256"]

use fittrack_router::{configure_global_allocator, RouterGlobalAllocator};

configure_global_allocator!();

fn main() -> Result<(), hive_router::error::RouterInitError> {
    fittrack_router::run()
}
