//! Group commit for the SQL stores' consumes: concurrent `consume_usage` calls
//! become one transaction (one statement on PostgreSQL, one `BEGIN IMMEDIATE` on
//! SQLite) with one commit.
//!
//! - No added latency when idle: a call that finds a free slot (fewer than
//!   `max_in_flight` batches or single calls in flight) and nobody waiting is sent
//!   at once, alone, on the single-call path.
//! - Calls that arrive while every slot is busy wait in a queue. When a slot frees,
//!   the queue (up to `max_batch` calls) leaves as the next batch. A queue that
//!   has waited `window` for a slot leaves anyway on an extra slot (up to
//!   `max_overflow` of them), so a queued call never waits much longer than the
//!   window for a slow batch ahead of it.
//! - A batch is decided in arrival order. It never holds one customer under two
//!   periods or one receipt under two customers (the executor groups a batch by
//!   counter, and those would then be decided out of order): such a call closes
//!   the batch and leads the next one.
//! - A call is answered only from a committed batch. A batch the database refused
//!   as a whole (a deadlock, a serialization failure, one bad value) committed
//!   nothing; its calls are then decided one by one on the single-call path, in
//!   order. A batch that failed because the database cannot be reached answers
//!   each of its calls with that error, as the single-call path would.
//!
//! Batches in flight at the same time are concurrent, as single calls on several
//! pool connections are: their calls were all waiting at once, so any order
//! between them is one the caller could have seen.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use async_trait::async_trait;
use dream_core::{ConsumeOutcome, ConsumeRequest, CustomerId, StoreError, Tenant};
use tokio::sync::oneshot;

/// Settings of group commit (`DREAM_GROUP_COMMIT_MICROS` in `dream serve`).
///
/// ```
/// use std::time::Duration;
/// let off = dream_store::GroupCommitConfig::off();
/// assert!(off.window.is_zero());
/// let on = dream_store::GroupCommitConfig::default();
/// assert_eq!(on.window, Duration::from_micros(200));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitConfig {
    /// How long a queued consume waits for a busy store before its batch is sent
    /// anyway on an extra connection; zero turns group commit off (every consume
    /// is its own transaction). Tokio's timer rounds it up to its 1 ms tick.
    pub window: Duration,
    /// The most consumes in one batch.
    pub max_batch: usize,
}

impl GroupCommitConfig {
    /// Every consume its own transaction, as without group commit.
    pub fn off() -> Self {
        Self {
            window: Duration::ZERO,
            max_batch: 1,
        }
    }

    /// Group commit with a window of `micros` µs (0 = off) and the default batch size.
    pub fn from_micros(micros: u64) -> Self {
        if micros == 0 {
            return Self::off();
        }
        Self {
            window: Duration::from_micros(micros),
            ..Self::default()
        }
    }
}

impl Default for GroupCommitConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_micros(200),
            max_batch: 128,
        }
    }
}

/// Why a batch was not committed.
pub(crate) enum BatchError {
    /// The database refused the batch and rolled it back: deciding its consumes
    /// one by one is safe and may succeed.
    RolledBack,
    /// The store cannot run anything now (connection, pool): every consume of the
    /// batch gets this error, as it would alone.
    Failed(StoreError),
}

/// The single-call and batch paths of one SQL store.
#[async_trait]
pub(crate) trait ConsumeExecutor: Send + Sync + 'static {
    /// One consume, in its own transaction.
    async fn consume_one(&self, request: &ConsumeRequest) -> Result<ConsumeOutcome, StoreError>;

    /// The consumes decided in this order in one transaction, one answer each in
    /// the same order; committed exactly when `Ok` (an answer may still be an
    /// error when a committed outcome does not decode).
    async fn consume_batch(&self, requests: &[ConsumeRequest]) -> Result<Vec<Answer>, BatchError>;
}

pub(crate) type Answer = Result<ConsumeOutcome, StoreError>;

struct Waiter {
    request: ConsumeRequest,
    answer: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct State {
    /// Single calls and batches running now.
    in_flight: usize,
    queue: VecDeque<Waiter>,
    timer_armed: bool,
}

struct Shared<E> {
    executor: E,
    config: GroupCommitConfig,
    max_in_flight: usize,
    max_overflow: usize,
    state: Mutex<State>,
}

/// The batching layer in front of one store's consume paths.
pub(crate) struct GroupCommit<E> {
    shared: Arc<Shared<E>>,
}

impl<E> Clone for GroupCommit<E> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<E> fmt::Debug for GroupCommit<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit")
            .field("config", &self.shared.config)
            .field("max_in_flight", &self.shared.max_in_flight)
            .finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl<E: ConsumeExecutor> GroupCommit<E> {
    /// `max_in_flight` slots run at once; up to `max_overflow` more start when a
    /// queue has waited the window (0 where more connections cannot help, as on
    /// SQLite's single writer).
    pub(crate) fn new(
        executor: E,
        config: GroupCommitConfig,
        max_in_flight: usize,
        max_overflow: usize,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                executor,
                config: GroupCommitConfig {
                    max_batch: config.max_batch.max(1),
                    ..config
                },
                max_in_flight: max_in_flight.max(1),
                max_overflow,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The same store with other settings (the queue starts empty).
    pub(crate) fn reconfigured(&self, config: GroupCommitConfig) -> Self
    where
        E: Clone,
    {
        Self::new(
            self.shared.executor.clone(),
            config,
            self.shared.max_in_flight,
            self.shared.max_overflow,
        )
    }

    /// Decides `request`: at once when the store is idle, else in the next batch.
    pub(crate) async fn consume(&self, request: &ConsumeRequest) -> Answer {
        let shared = &self.shared;
        if shared.config.window.is_zero() {
            return shared.executor.consume_one(request).await;
        }
        let waiting = {
            let mut state = lock(&shared.state);
            if state.in_flight < shared.max_in_flight && state.queue.is_empty() {
                state.in_flight += 1;
                None
            } else {
                let (answer, waiting) = oneshot::channel();
                state.queue.push_back(Waiter {
                    request: request.clone(),
                    answer,
                });
                if state.queue.len() >= shared.config.max_batch
                    && state.in_flight < shared.max_in_flight + shared.max_overflow
                {
                    state.in_flight += 1;
                    spawn_flusher(Arc::clone(shared), Slot::new(Arc::clone(shared)));
                } else if !state.timer_armed && shared.max_overflow > 0 {
                    state.timer_armed = true;
                    spawn_timer(Arc::clone(shared));
                }
                Some(waiting)
            }
        };
        match waiting {
            None => {
                let _slot = Slot::new(Arc::clone(shared));
                shared.executor.consume_one(request).await
            }
            Some(waiting) => waiting.await.unwrap_or_else(|_| {
                Err(StoreError::Backend(
                    "group commit: the batch of this consume was dropped".into(),
                ))
            }),
        }
    }
}

/// One slot of `in_flight`. Dropping it (also when its task panics or its caller
/// goes away) hands it to a new flusher when calls are queued, else frees it, so
/// a queued call is never left without a slot to send it.
struct Slot<E: ConsumeExecutor> {
    shared: Option<Arc<Shared<E>>>,
}

impl<E: ConsumeExecutor> Slot<E> {
    fn new(shared: Arc<Shared<E>>) -> Self {
        Self {
            shared: Some(shared),
        }
    }

    /// The next batch to send on this slot, or `None` after freeing the slot.
    fn next_batch(&mut self) -> Option<Vec<Waiter>> {
        let shared = self.shared.as_ref()?;
        let mut state = lock(&shared.state);
        if state.queue.is_empty() {
            state.in_flight -= 1;
            drop(state);
            self.shared = None;
            return None;
        }
        Some(take_batch(&mut state.queue, shared.config.max_batch))
    }
}

impl<E: ConsumeExecutor> Drop for Slot<E> {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let mut state = lock(&shared.state);
        if state.queue.is_empty() {
            state.in_flight -= 1;
            return;
        }
        drop(state);
        if tokio::runtime::Handle::try_current().is_ok() {
            let slot = Slot::new(Arc::clone(&shared));
            spawn_flusher(shared, slot);
        } else {
            // No runtime to send the queue on (only while shutting down): answer
            // the waiting calls instead of leaving them waiting forever.
            let mut state = lock(&shared.state);
            state.in_flight -= 1;
            for waiter in state.queue.drain(..) {
                let _ = waiter.answer.send(Err(StoreError::Unavailable(
                    "group commit: the runtime is shutting down".into(),
                )));
            }
        }
    }
}

fn spawn_flusher<E: ConsumeExecutor>(shared: Arc<Shared<E>>, mut slot: Slot<E>) {
    tokio::spawn(async move {
        while let Some(batch) = slot.next_batch() {
            run_batch(&shared.executor, batch).await;
        }
    });
}

/// After the window, sends a queue still waiting for a slot on an extra one.
fn spawn_timer<E: ConsumeExecutor>(shared: Arc<Shared<E>>) {
    tokio::spawn(async move {
        tokio::time::sleep(shared.config.window).await;
        let start = {
            let mut state = lock(&shared.state);
            state.timer_armed = false;
            let start = !state.queue.is_empty()
                && state.in_flight < shared.max_in_flight + shared.max_overflow;
            if start {
                state.in_flight += 1;
            }
            start
        };
        if start {
            let mut slot = Slot::new(Arc::clone(&shared));
            while let Some(batch) = slot.next_batch() {
                run_batch(&shared.executor, batch).await;
            }
        }
    });
}

/// The longest prefix of the queue that one batch may decide in arrival order:
/// at most `max` calls, no customer under two periods, no receipt under two
/// customers.
fn take_batch(queue: &mut VecDeque<Waiter>, max: usize) -> Vec<Waiter> {
    let mut periods: HashMap<(&Tenant, &CustomerId), chrono::DateTime<chrono::Utc>> =
        HashMap::new();
    let mut receipts: HashMap<(&Tenant, &str), &CustomerId> = HashMap::new();
    let mut n = 0;
    for waiter in queue.iter().take(max) {
        let r = &waiter.request;
        let period = *periods
            .entry((&r.tenant, &r.customer))
            .or_insert(r.period.start);
        if period != r.period.start {
            break;
        }
        if let Some(receipt) = &r.receipt {
            let owner = *receipts
                .entry((&r.tenant, receipt.as_str()))
                .or_insert(&r.customer);
            if owner != &r.customer {
                break;
            }
        }
        n += 1;
    }
    // The first call always fits, so every batch makes progress.
    queue.drain(..n.max(1)).collect()
}

async fn run_batch<E: ConsumeExecutor>(executor: &E, batch: Vec<Waiter>) {
    if batch.len() == 1 {
        for waiter in batch {
            let answer = executor.consume_one(&waiter.request).await;
            let _ = waiter.answer.send(answer);
        }
        return;
    }
    let (requests, answers): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|w| (w.request, w.answer)).unzip();
    match executor.consume_batch(&requests).await {
        Ok(outcomes) if outcomes.len() == requests.len() => {
            for (answer, outcome) in answers.into_iter().zip(outcomes) {
                // A caller that went away still had its consume counted, as on the
                // single-call path once the statement was sent.
                let _ = answer.send(outcome);
            }
        }
        Ok(outcomes) => {
            let message = format!(
                "group commit: {} outcomes for a batch of {}",
                outcomes.len(),
                requests.len()
            );
            for answer in answers {
                let _ = answer.send(Err(StoreError::Backend(message.clone().into())));
            }
        }
        Err(BatchError::RolledBack) => {
            for (request, answer) in requests.iter().zip(answers) {
                let _ = answer.send(executor.consume_one(request).await);
            }
        }
        Err(BatchError::Failed(error)) => {
            let error = Arc::new(error);
            for answer in answers {
                let _ = answer.send(Err(share(&error)));
            }
        }
    }
}

/// One error for many callers: the same kind, the shared error as its source.
fn share(error: &Arc<StoreError>) -> StoreError {
    let shared = Box::new(SharedError(Arc::clone(error)));
    match error.as_ref() {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict(what) => StoreError::Conflict(what),
        StoreError::Unavailable(_) => StoreError::Unavailable(shared),
        _ => StoreError::Backend(shared),
    }
}

#[derive(Debug)]
struct SharedError(Arc<StoreError>);

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "batch failed: {}", self.0)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(self.0.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use chrono::{TimeZone, Utc};
    use dream_core::{Mode, Period, PlatformId, UsageLimit};

    use super::*;

    /// A counter per customer, decided like the stores do, recording batch sizes.
    #[derive(Default)]
    struct Counting {
        used: Mutex<HashMap<String, u64>>,
        batches: Mutex<Vec<usize>>,
        singles: AtomicUsize,
    }

    impl Counting {
        fn decide(used: &mut HashMap<String, u64>, r: &ConsumeRequest) -> ConsumeOutcome {
            let n = used.entry(r.customer.as_str().to_owned()).or_default();
            if dream_core::within_limit(*n, r.amount, r.limit) {
                *n += r.amount;
                ConsumeOutcome::Accepted { used: *n }
            } else {
                ConsumeOutcome::LimitReached { used: *n }
            }
        }
    }

    #[async_trait]
    impl ConsumeExecutor for Arc<Counting> {
        async fn consume_one(&self, r: &ConsumeRequest) -> Answer {
            self.singles.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
            let mut used = self.used.lock().expect("lock");
            Ok(Counting::decide(&mut used, r))
        }

        async fn consume_batch(&self, rs: &[ConsumeRequest]) -> Result<Vec<Answer>, BatchError> {
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.batches.lock().expect("lock").push(rs.len());
            let mut used = self.used.lock().expect("lock");
            Ok(rs
                .iter()
                .map(|r| Ok(Counting::decide(&mut used, r)))
                .collect())
        }
    }

    fn request(customer: &str, limit: u64) -> ConsumeRequest {
        let now = Utc
            .with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
            .single()
            .expect("time");
        ConsumeRequest {
            tenant: Tenant {
                platform: PlatformId::parse("plt_gc").expect("platform"),
                mode: Mode::Test,
            },
            customer: CustomerId::parse(&format!("usr_{customer}")).expect("customer"),
            period: Period::calendar_month(now),
            amount: 1,
            limit: UsageLimit::Limited(limit),
            rate_limit_per_minute: None,
            now,
            receipt: None,
        }
    }

    async fn hammer(executor: Arc<Counting>, calls: usize, limit: u64) -> Vec<ConsumeOutcome> {
        let gc = GroupCommit::new(executor, GroupCommitConfig::default(), 1, 0);
        let tasks: Vec<_> = (0..calls)
            .map(|_| {
                let gc = gc.clone();
                tokio::spawn(async move { gc.consume(&request("hot", limit)).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("task").expect("consume"));
        }
        outcomes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_calls_share_batches_and_stay_exact() {
        let executor = Arc::new(Counting::default());
        let outcomes = hammer(Arc::clone(&executor), 64, 50).await;
        let accepted = outcomes
            .iter()
            .filter(|o| matches!(o, ConsumeOutcome::Accepted { .. }))
            .count();
        assert_eq!(accepted, 50);
        let batches = executor.batches.lock().expect("lock").clone();
        let singles = executor.singles.load(Ordering::SeqCst);
        assert_eq!(
            batches.iter().sum::<usize>() + singles,
            64,
            "every call sent once"
        );
        assert!(
            batches.iter().any(|&n| n > 1),
            "calls waiting on a busy slot leave together: {batches:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_rolled_back_batch_is_decided_one_by_one() {
        let refusing = Arc::new(AlwaysRollBack::new());
        let gc = GroupCommit::new(Arc::clone(&refusing), GroupCommitConfig::default(), 1, 0);
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let gc = gc.clone();
                tokio::spawn(async move { gc.consume(&request("hot", 30)).await })
            })
            .collect();
        let mut used = Vec::new();
        for task in tasks {
            match task.await.expect("task").expect("consume") {
                ConsumeOutcome::Accepted { used: n } => used.push(n),
                ConsumeOutcome::LimitReached { used: n } => assert_eq!(n, 30),
                other => panic!("unexpected {other:?}"),
            }
        }
        used.sort_unstable();
        assert_eq!(used, (1..=30).collect::<Vec<_>>());
        assert!(
            refusing.1.load(Ordering::SeqCst) > 0,
            "some batch was refused"
        );
    }

    /// Refuses every batch; decides single calls like `Counting`.
    struct AlwaysRollBack(Arc<Counting>, AtomicUsize);

    impl AlwaysRollBack {
        fn new() -> Self {
            Self(Arc::new(Counting::default()), AtomicUsize::new(0))
        }
    }

    #[async_trait]
    impl ConsumeExecutor for Arc<AlwaysRollBack> {
        async fn consume_one(&self, r: &ConsumeRequest) -> Answer {
            self.0.consume_one(r).await
        }

        async fn consume_batch(&self, _: &[ConsumeRequest]) -> Result<Vec<Answer>, BatchError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            Err(BatchError::RolledBack)
        }
    }

    #[test]
    fn a_batch_never_holds_a_customer_under_two_periods_or_a_receipt_twice_over() {
        let (tx, _rx) = oneshot::channel();
        let mut queue = VecDeque::new();
        let a = request("a", 10);
        let mut a_next = request("a", 10);
        a_next.period = Period::calendar_month(a.now + chrono::Duration::days(40));
        queue.push_back(Waiter {
            request: a.clone(),
            answer: tx,
        });
        for r in [request("b", 10), a_next, a.clone()] {
            let (tx, _rx) = oneshot::channel();
            queue.push_back(Waiter {
                request: r,
                answer: tx,
            });
        }
        assert_eq!(
            take_batch(&mut queue, 10).len(),
            2,
            "stops at a's second period"
        );
        assert_eq!(take_batch(&mut queue, 10).len(), 1, "a's next period alone");
        assert_eq!(queue.len(), 1);

        let mut with_receipt = |customer: &str| {
            let mut r = request(customer, 10);
            r.receipt = Some("same".into());
            let (tx, _rx) = oneshot::channel();
            queue.push_back(Waiter {
                request: r,
                answer: tx,
            });
        };
        with_receipt("a");
        with_receipt("a");
        with_receipt("b");
        assert_eq!(
            take_batch(&mut queue, 10).len(),
            3,
            "one customer's retries of a receipt share a batch"
        );
        assert_eq!(take_batch(&mut queue, 1).len(), 1, "at most max");
        assert!(queue.is_empty());
    }
}
