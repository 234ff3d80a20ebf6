//! One contract, every backend: [`backend_contracts!`](crate::backend_contracts)
//! expands each contract into one test per backend, so a failure names its
//! backend (`redis::a_job_is_delivered_once_and_acked`) and a backend that is
//! not configured here is reported as skipped on its own line.

/// Expands `contracts` into one `#[tokio::test]` per backend, in a module
/// named after the backend.
///
/// - `setup`: `async fn(&'static str) -> Option<T>`, given the backend's
///   name; `None` when that backend is not configured on this machine (the
///   test then says so and passes: CI's real-services pass configures them all).
/// - `contracts`: `async fn(T)`, each run on a fresh `T`.
///
/// ```ignore
/// fittrack_kit::backend_contracts! {
///     setup: queue_under_test,
///     backends: [memory, redis],
///     contracts: [a_job_is_delivered_once_and_acked, stats_count_waiting_in_flight_and_dead_jobs],
/// }
/// ```
#[macro_export]
macro_rules! backend_contracts {
    (setup: $setup:ident, backends: [$($backend:ident),+ $(,)?], contracts: $contracts:tt $(,)?) => {
        $( $crate::backend_contracts!(@backend $setup, $backend, $contracts); )+
    };
    (@backend $setup:ident, $backend:ident, [$($contract:ident),+ $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $contract() {
                    match super::$setup(stringify!($backend)).await {
                        Some(under_test) => super::$contract(under_test).await,
                        None => eprintln!(
                            "{}: not configured here; contract {} skipped",
                            stringify!($backend),
                            stringify!($contract)
                        ),
                    }
                }
            )+
        }
    };
}
