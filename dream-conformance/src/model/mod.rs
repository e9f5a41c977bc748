//! The property test against a reference model.

mod ops;
mod world;

use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use dream_core::ports::Stores;

use ops::{ops_strategy, Op};
use world::World;

/// Runs `cases` random sequences of up to 60 operations against fresh stores from
/// `factory`, each through a [`Dream`](dream_core::Dream) with a
/// [`ManualClock`](dream_core::ManualClock), and checks them against a reference model.
///
/// Setup per case: platforms A and B; tenants A/test, A/live and B/test, each with
/// tiers `free` (limit 3, the default plan), `pro` (limit 7) and `max`
/// (unlimited), each also with meters `exports` (daily: 2, 5, unlimited) and
/// `seats` (never resets: 1, 3, unlimited), and two secret keys. Operations:
/// track 1–4 units for customer `c0`/`c1`/`c2` after authenticating one of the
/// tenant's keys, track -2..3 units of a meter (negative: give seats back; on
/// other meters an error naming `/amount`), grant 1–4 credits of a meter under
/// one of four grant ids (a repeated id adds nothing), change a customer's plan,
/// roll the clock into the next UTC day or calendar month, revoke a key.
///
/// Checked after every operation: accepted usage is exact and never exceeds the
/// plan's limit unless credits paid for the excess, spending exactly what the
/// allowance could not hold (all or nothing); `Unlimited` never refuses; every
/// meter, its period and every credit balance match the model; refused calls change nothing (beyond
/// creating the customer on first sight); every known customer's stored usage in
/// the current period equals the model's, and other tenants see none of it;
/// per-tenant totals and active counts match; a customer never tracked does not
/// exist, and changing its plan is `NotFound`; revoked keys give `InvalidApiKey`
/// and keep their first revocation time; the same reference in different tenants
/// names different customers.
///
/// Each case runs on a fresh current-thread tokio runtime (the factory is called
/// inside it). On failure, proptest shrinks the sequence and this function panics
/// with the reason and the minimal failing sequence. `PROPTEST_*` environment
/// variables other than the case count apply as usual.
pub fn run_model_property_test<S: Into<Stores>>(factory: impl Fn() -> S, cases: u32) {
    run_model_property_test_async(|| std::future::ready(factory()), cases);
}

/// [`run_model_property_test`] for backends whose set-up is asynchronous
/// (connect, create a schema, migrate): `factory()` is awaited inside each case's
/// runtime, so connections belong to that runtime.
pub fn run_model_property_test_async<F, Fut, S>(factory: F, cases: u32)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
    S: Into<Stores>,
{
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&ops_strategy(), |ops| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(format!("could not build a tokio runtime: {e}")))?;
        runtime.block_on(async { run_case(factory().await.into(), &ops).await })
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => panic!(
            "model property test failed: {reason}\nminimal failing sequence ({} ops):\n{ops:#?}",
            ops.len()
        ),
        Err(TestError::Abort(reason)) => panic!("model property test aborted: {reason}"),
    }
}

async fn run_case(store: Stores, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut world = World::new(store).await?;
    world.check().await?;
    for (i, op) in ops.iter().enumerate() {
        world
            .apply(op)
            .await
            .map_err(|e| context(e, &format!("op #{i} {op:?}")))?;
        world
            .check()
            .await
            .map_err(|e| context(e, &format!("after op #{i} {op:?}")))?;
    }
    Ok(())
}

/// Prefixes a failure's reason with where it happened.
fn context(error: TestCaseError, prefix: &str) -> TestCaseError {
    match error {
        TestCaseError::Fail(reason) => TestCaseError::fail(format!("{prefix}: {reason}")),
        TestCaseError::Reject(reason) => TestCaseError::reject(format!("{prefix}: {reason}")),
    }
}
