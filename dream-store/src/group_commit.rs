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
//!   (meter, period) counters or two customer-key rate windows (a key and no key
//!   count as two), nor one receipt under two customers (the executor groups a
//!   batch by counter, and those would then be decided out of order; a customer's
//!   rate window and credits are shared by its counters): such a call closes the
//!   batch and leads the next one. So a batch locks at most one counter per
//!   customer, and with it that customer's credit balance, rate window and at
//!   most one key's window (a key belongs to one customer, so no two batches in
//!   flight share a key window).
//! - A call is answered only from a committed batch. A batch the database refused
//!   as a whole (a deadlock, a serialization failure, one bad value) committed
//!   nothing; its calls are then decided one by one on the single-call path, in
//!   order. A batch that failed because the database cannot be reached answers
//!   each of its calls with that error, as the single-call path would.
//!
//! - A counter (one customer's usage and rate window) is in at most one batch or
//!   single call in flight. Its later calls wait in the queue, in order, while
//!   other customers' calls go ahead, and leave together once it is free: a hot
//!   customer's N waiting calls become one batch that locks and writes its row
//!   once, instead of N transactions queueing on the same row lock.
//!
//! Batches in flight at the same time are concurrent, as single calls on several
//! pool connections are: they hold different counters, and their calls were all
//! waiting at once, so any order between them is one the caller could have seen.

use std::{
    collections::{HashMap, HashSet, VecDeque},
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

/// One customer: its counters (one per meter and period), credit balances and
/// rate window, what a consume locks.
type Counter = (Tenant, CustomerId);

fn counter_of(request: &ConsumeRequest) -> Counter {
    (request.tenant.clone(), request.customer.clone())
}

#[derive(Default)]
struct State {
    /// Single calls and batches running now.
    in_flight: usize,
    queue: VecDeque<Waiter>,
    timer_armed: bool,
    /// Counters held by the single calls and batches in flight.
    busy: HashSet<Counter>,
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
        let counter = counter_of(request);
        let waiting = {
            let mut state = lock(&shared.state);
            if state.in_flight < shared.max_in_flight
                && state.queue.is_empty()
                && !state.busy.contains(&counter)
            {
                state.in_flight += 1;
                state.busy.insert(counter.clone());
                None
            } else {
                let (answer, waiting) = oneshot::channel();
                // A free slot while others queue: they wait for busy counters,
                // this call need not.
                let free_slot =
                    state.in_flight < shared.max_in_flight && !state.busy.contains(&counter);
                state.queue.push_back(Waiter {
                    request: request.clone(),
                    answer,
                });
                if free_slot
                    || (state.queue.len() >= shared.config.max_batch
                        && state.in_flight < shared.max_in_flight + shared.max_overflow)
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
                let _slot = Slot::new(Arc::clone(shared)).holding(vec![counter]);
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

/// One slot of `in_flight`, with the counters its call or batch holds. Dropping
/// it (also when its task panics or its caller goes away) releases them and hands
/// the slot to a new flusher when calls are queued, else frees it, so a queued
/// call is never left without a slot to send it.
struct Slot<E: ConsumeExecutor> {
    shared: Option<Arc<Shared<E>>>,
    counters: Vec<Counter>,
}

impl<E: ConsumeExecutor> Slot<E> {
    fn new(shared: Arc<Shared<E>>) -> Self {
        Self {
            shared: Some(shared),
            counters: Vec::new(),
        }
    }

    fn holding(mut self, counters: Vec<Counter>) -> Self {
        self.counters = counters;
        self
    }

    /// Releases the counters of the last batch and takes the next batch to send
    /// on this slot, or `None` after freeing the slot (nothing queued, or only
    /// calls whose counters other slots hold: those slots send them next).
    fn next_batch(&mut self) -> Option<Vec<Waiter>> {
        let shared = self.shared.as_ref()?;
        let mut state = lock(&shared.state);
        for counter in self.counters.drain(..) {
            state.busy.remove(&counter);
        }
        let State { queue, busy, .. } = &mut *state;
        let (batch, counters) = take_batch(queue, busy, shared.config.max_batch);
        if batch.is_empty() {
            state.in_flight -= 1;
            drop(state);
            self.shared = None;
            return None;
        }
        self.counters = counters;
        Some(batch)
    }
}

impl<E: ConsumeExecutor> Drop for Slot<E> {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let mut state = lock(&shared.state);
        for counter in self.counters.drain(..) {
            state.busy.remove(&counter);
        }
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

/// The calls of the queue that one batch may decide in arrival order, and the
/// counters they hold (now marked `busy`): at most `max` calls, none whose
/// counter is `busy`, no customer under two (meter, period, key window), no receipt under two
/// customers. A call left behind keeps every later call of its counter and of its
/// receipt behind too, so each counter's and each receipt's calls stay in
/// arrival order; the rest of the queue keeps its order.
fn take_batch(
    queue: &mut VecDeque<Waiter>,
    busy: &mut HashSet<Counter>,
    max: usize,
) -> (Vec<Waiter>, Vec<Counter>) {
    let mut held_back: HashSet<Counter> = HashSet::new();
    let mut held_back_receipts: HashSet<(Tenant, String)> = HashSet::new();
    let mut periods: HashMap<Counter, (&str, chrono::DateTime<chrono::Utc>, Option<&str>)> =
        HashMap::new();
    let mut receipts: HashMap<(Tenant, String), CustomerId> = HashMap::new();
    let mut taken = vec![false; queue.len()];
    let mut held: HashSet<Counter> = HashSet::new();
    let mut count = 0;
    for (index, waiter) in queue.iter().enumerate() {
        if count == max {
            break;
        }
        let r = &waiter.request;
        let counter = counter_of(r);
        let receipt = r.receipt.as_ref().map(|x| (r.tenant.clone(), x.clone()));
        let blocked = busy.contains(&counter)
            || held_back.contains(&counter)
            || receipt
                .as_ref()
                .is_some_and(|x| held_back_receipts.contains(x));
        if blocked {
            held_back.insert(counter);
            held_back_receipts.extend(receipt);
            continue;
        }
        let meter_period = (
            r.meter.as_ref(),
            r.period.start,
            r.key_rate.as_ref().map(|k| k.window.as_str()),
        );
        if *periods.entry(counter.clone()).or_insert(meter_period) != meter_period {
            break;
        }
        if let Some(receipt) = receipt {
            if *receipts
                .entry(receipt)
                .or_insert_with(|| r.customer.clone())
                != r.customer
            {
                break;
            }
        }
        taken[index] = true;
        held.insert(counter);
        count += 1;
    }
    let mut batch = Vec::with_capacity(count);
    let mut rest = VecDeque::with_capacity(queue.len() - count);
    for (waiter, taken) in queue.drain(..).zip(taken) {
        if taken {
            batch.push(waiter);
        } else {
            rest.push_back(waiter);
        }
    }
    *queue = rest;
    busy.extend(held.iter().cloned());
    (batch, held.into_iter().collect())
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

    use dream_core::{Period, UsageLimit};

    use super::*;

    /// A counter per customer, decided like the stores do, recording batch sizes.
    #[derive(Default)]
    struct Counting {
        used: Mutex<HashMap<String, u64>>,
        batches: Mutex<Vec<usize>>,
        singles: AtomicUsize,
        /// Customers of the transactions running now, and how often one was
        /// already running when another started (two transactions on one row).
        running: Mutex<HashMap<String, usize>>,
        overlaps: AtomicUsize,
    }

    impl Counting {
        fn enter<'r>(&self, requests: impl IntoIterator<Item = &'r ConsumeRequest>) {
            let mut running = self.running.lock().expect("lock");
            let customers: HashSet<&str> =
                requests.into_iter().map(|r| r.customer.as_str()).collect();
            for customer in customers {
                let n = running.entry(customer.to_owned()).or_default();
                if *n > 0 {
                    self.overlaps.fetch_add(1, Ordering::SeqCst);
                }
                *n += 1;
            }
        }

        fn leave<'r>(&self, requests: impl IntoIterator<Item = &'r ConsumeRequest>) {
            let mut running = self.running.lock().expect("lock");
            let customers: HashSet<&str> =
                requests.into_iter().map(|r| r.customer.as_str()).collect();
            for customer in customers {
                if let Some(n) = running.get_mut(customer) {
                    *n -= 1;
                }
            }
        }

        fn decide(used: &mut HashMap<String, u64>, r: &ConsumeRequest) -> ConsumeOutcome {
            let n = used.entry(r.customer.as_str().to_owned()).or_default();
            if dream_core::within_limit(*n, r.amount, r.limit) {
                *n += r.amount;
                ConsumeOutcome::Accepted {
                    used: *n,
                    credits_spent: 0,
                }
            } else {
                ConsumeOutcome::LimitReached { used: *n }
            }
        }
    }

    #[async_trait]
    impl ConsumeExecutor for Arc<Counting> {
        async fn consume_one(&self, r: &ConsumeRequest) -> Answer {
            self.singles.fetch_add(1, Ordering::SeqCst);
            self.enter([r]);
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.leave([r]);
            let mut used = self.used.lock().expect("lock");
            Ok(Counting::decide(&mut used, r))
        }

        async fn consume_batch(&self, rs: &[ConsumeRequest]) -> Result<Vec<Answer>, BatchError> {
            self.enter(rs);
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.leave(rs);
            self.batches.lock().expect("lock").push(rs.len());
            let mut used = self.used.lock().expect("lock");
            Ok(rs
                .iter()
                .map(|r| Ok(Counting::decide(&mut used, r)))
                .collect())
        }
    }

    fn request(customer: &str, limit: u64) -> ConsumeRequest {
        crate::test_requests::consume(customer, 1, UsageLimit::Limited(limit))
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
                ConsumeOutcome::Accepted { used: n, .. } => used.push(n),
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
    fn a_batch_never_holds_a_customer_under_two_counters_or_a_receipt_twice_over() {
        let a = request("a", 10);
        let mut a_next = request("a", 10);
        a_next.period = Period::calendar_month(a.now + chrono::Duration::days(40));
        let mut queue = queued([a.clone(), request("b", 10), a_next, a]);
        assert_eq!(
            take_batch(&mut queue, &mut HashSet::new(), 10).0.len(),
            2,
            "stops at a's second period"
        );
        assert_eq!(
            take_batch(&mut queue, &mut HashSet::new(), 10).0.len(),
            1,
            "a's next period alone"
        );
        assert_eq!(queue.len(), 1);

        let mut a_exports = request("a", 10);
        a_exports.meter = std::borrow::Cow::Borrowed("exports");
        let mut queue = queued([
            request("a", 10),
            request("b", 10),
            a_exports,
            request("a", 10),
        ]);
        assert_eq!(
            take_batch(&mut queue, &mut HashSet::new(), 10).0.len(),
            2,
            "stops at a's second meter"
        );
        assert_eq!(
            take_batch(&mut queue, &mut HashSet::new(), 10).0.len(),
            1,
            "a's other meter alone"
        );
        assert_eq!(queue.len(), 1);

        let with_receipt = |customer: &str| {
            let mut r = request(customer, 10);
            r.receipt = Some("same".into());
            r
        };
        // Behind the call the meter case left: a's plain call, then the retries.
        queue.extend(queued([
            with_receipt("a"),
            with_receipt("a"),
            with_receipt("b"),
        ]));
        assert_eq!(
            take_batch(&mut queue, &mut HashSet::new(), 10).0.len(),
            3,
            "one customer's retries of a receipt share a batch"
        );
        assert_eq!(
            take_batch(&mut queue, &mut HashSet::new(), 1).0.len(),
            1,
            "at most max"
        );
        assert!(queue.is_empty());
    }

    fn queued(requests: impl IntoIterator<Item = ConsumeRequest>) -> VecDeque<Waiter> {
        requests
            .into_iter()
            .map(|request| Waiter {
                request,
                answer: oneshot::channel().0,
            })
            .collect()
    }

    fn customers(batch: &[Waiter]) -> Vec<String> {
        batch
            .iter()
            .map(|w| w.request.customer.as_str().to_owned())
            .collect()
    }

    #[test]
    fn a_busy_counter_keeps_its_calls_queued_in_order_while_others_go() {
        let (a, b, c) = (request("a", 10), request("b", 10), request("c", 10));
        let mut b_receipt = b.clone();
        b_receipt.receipt = Some("r1".into());
        let mut c_same_receipt = c.clone();
        c_same_receipt.receipt = Some("r1".into());
        let mut queue = queued([a.clone(), b_receipt, a.clone(), c_same_receipt, c.clone()]);
        let mut busy = HashSet::from([counter_of(&b)]);
        let (batch, held) = take_batch(&mut queue, &mut busy, 10);
        assert_eq!(
            customers(&batch),
            [a.customer.as_str(), a.customer.as_str()],
            "b is busy; c's first call shares b's receipt, so c waits behind it"
        );
        assert_eq!(held, [counter_of(&a)]);
        assert!(busy.contains(&counter_of(&a)) && busy.contains(&counter_of(&b)));
        assert_eq!(queue.len(), 3);

        let (batch, _) = take_batch(&mut queue, &mut busy, 10);
        assert!(
            batch.is_empty(),
            "b and a are busy; c is held behind b's receipt"
        );

        busy.remove(&counter_of(&b));
        let (batch, held) = take_batch(&mut queue, &mut busy, 10);
        assert_eq!(
            customers(&batch),
            [b.customer.as_str()],
            "once b is free it leaves; c's call with b's receipt must follow it"
        );
        busy.remove(&held[0]);
        let (batch, _) = take_batch(&mut queue, &mut busy, 10);
        assert_eq!(
            customers(&batch),
            [c.customer.as_str(), c.customer.as_str()]
        );
        assert!(queue.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_hot_customers_waiting_calls_leave_together_on_one_slot() {
        let executor = Arc::new(Counting::default());
        // PostgreSQL's shape: several slots and extra ones, which a hot customer
        // must not spread its calls over.
        let gc = GroupCommit::new(executor.clone(), GroupCommitConfig::default(), 4, 4);
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let gc = gc.clone();
                tokio::spawn(async move { gc.consume(&request("hot", 150)).await })
            })
            .collect();
        let mut accepted = Vec::new();
        for task in tasks {
            if let ConsumeOutcome::Accepted { used, .. } =
                task.await.expect("task").expect("consume")
            {
                accepted.push(used);
            }
        }
        accepted.sort_unstable();
        assert_eq!(accepted, (1..=150).collect::<Vec<_>>());
        assert_eq!(
            executor.overlaps.load(Ordering::SeqCst),
            0,
            "two transactions ran on the hot counter at once"
        );
        let batches = executor.batches.lock().expect("lock").len();
        let transactions = executor.singles.load(Ordering::SeqCst) + batches;
        assert!(
            transactions <= 40,
            "200 calls for one counter took {transactions} transactions"
        );
        let state = lock(&gc.shared.state);
        assert!(state.busy.is_empty() && state.queue.is_empty() && state.in_flight == 0);
    }
}
