//! The server's password hasher: Argon2id on N dedicated threads, at most N at once.
//!
//! Each hash holds 19 MiB, so an unbounded burst of creates with passwords grows
//! memory with the burst (600 requests reached 10 GB). A request waits a short
//! time for a slot, then gets 503 `busy` with `Retry-After` instead of queueing.
//!
//! Why dedicated threads, each with its own [`HashMemory`], rather than
//! `spawn_blocking` behind the semaphore: bounding concurrency alone did not bound
//! memory. Measured on glibc with 600 creates, 300 at a time: 2 permits peaked at
//! 461 MiB, 1 permit at 252 MiB. After the first 19 MiB block is freed glibc raises
//! its mmap threshold, later blocks come from the heap, and small allocations made
//! in between fragment it so each new block extends the heap. Allocating the
//! working memory once per thread keeps the peak near N × 19 MiB.

use std::{
    sync::{mpsc, Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use dream_core::{ports::PasswordHasher, CoreError, HashMemory, PasswordHash};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

type Job = Box<dyn FnOnce(&mut HashMemory) + Send>;

/// Hashes on N dedicated threads behind a semaphore of N permits.
#[derive(Debug, Clone)]
pub struct BoundedPasswordHasher {
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
    jobs: mpsc::Sender<Job>,
}

impl BoundedPasswordHasher {
    /// At most `concurrency` hashes at once (at least one) on as many threads; a
    /// request waits up to `queue_timeout` for a slot. The threads end when the
    /// last clone of the hasher is dropped.
    pub fn new(concurrency: usize, queue_timeout: Duration) -> Self {
        let concurrency = concurrency.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..concurrency {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("dream-hash-{i}"))
                .spawn(move || {
                    // Allocated on the first job, then reused for every hash.
                    let mut memory: Option<HashMemory> = None;
                    loop {
                        // The lock is held only to take the next job, not while hashing.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(memory.get_or_insert_with(HashMemory::new)),
                            Err(_) => return, // every sender dropped: shut down
                        }
                    }
                });
            if let Err(err) = spawned {
                // Fewer threads only means fewer hashes at once; the permits still
                // bound memory, and jobs wait for a running thread.
                tracing::error!(error = %err, "could not start a password hashing thread");
            }
        }
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            queue_timeout,
            jobs,
        }
    }

    fn busy(&self) -> CoreError {
        // The queue wait is what a slot took to free up under this load, so it
        // is a fair guess of when to try again.
        CoreError::Busy {
            retry_after_secs: self.queue_timeout.as_secs().max(1),
        }
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, CoreError> {
        tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| self.busy())?
            // Only a closed semaphore fails, and this one is never closed.
            .map_err(|_| self.busy())
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let permit = self.permit().await?;
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            // The permit lives as long as the hashing, even if the request is
            // cancelled meanwhile: the memory is in use until the work is done.
            let _permit = permit;
            let _ = reply.send(work(memory));
        });
        let failed = || {
            tracing::error!("password hashing threads are gone");
            CoreError::invalid("password", "could not be hashed")
        };
        self.jobs.send(job).map_err(|_| failed())?;
        result.await.map_err(|_| failed())
    }
}

#[async_trait]
impl PasswordHasher for BoundedPasswordHasher {
    async fn hash(&self, password: String) -> Result<PasswordHash, CoreError> {
        self.run(move |memory| PasswordHash::hash_in(&password, memory))
            .await?
    }

    async fn verify(&self, hash: PasswordHash, password: String) -> Result<bool, CoreError> {
        self.run(move |memory| hash.verify_in(&password, memory))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_answers_busy_after_the_queue_time() {
        let hasher = BoundedPasswordHasher::new(1, Duration::from_millis(10));
        let held = hasher
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("permit");
        let err = hasher
            .hash("correct horse battery".into())
            .await
            .expect_err("pool is full");
        assert!(
            matches!(
                err,
                CoreError::Busy {
                    retry_after_secs: 1
                }
            ),
            "{err:?}"
        );
        drop(held);
        let hash = hasher
            .hash("correct horse battery".into())
            .await
            .expect("hashed");
        assert!(hasher
            .verify(hash, "correct horse battery".into())
            .await
            .expect("verified"));
    }
}
