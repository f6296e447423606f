//! A provider's lane: how many calls may be in flight (adapting down on rate limits and back up
//! on success), a shared cooldown after a 429, and requests- and tokens-per-minute pacing.
//!
//! One lane exists per provider endpoint and key, shared by every job that calls it, so a 429
//! seen by one call slows all of them instead of each call discovering the limit on its own.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How a lane schedules and retries its calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LaneSettings {
    /// Calls in flight at most (the adaptive limit never goes above it).
    pub concurrency: usize,
    /// Requests per minute at most, paced evenly.
    pub rpm: Option<u32>,
    /// Tokens per minute at most (estimated before a call, settled after it).
    pub tpm: Option<u64>,
    /// Extra attempts for transient failures.
    pub retries: u32,
    /// First backoff delay; doubles with each retry, with full jitter.
    pub backoff: Duration,
    /// Longest wait honoured from a provider's `retry-after`.
    pub max_retry_after: Duration,
    /// Wall time a case may take across all its attempts and waits.
    pub case_timeout: Duration,
}

impl Default for LaneSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            rpm: None,
            tpm: None,
            retries: 2,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(60),
            case_timeout: Duration::from_secs(300),
        }
    }
}

/// A shared, adaptive limit for one provider endpoint and key.
#[derive(Debug)]
pub(crate) struct Lane {
    settings: LaneSettings,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug)]
struct State {
    /// The current limit: halved on a rate limit, raised by one after a full window of
    /// successes (AIMD).
    limit: usize,
    in_flight: usize,
    successes: usize,
    cooldown_until: Option<Instant>,
    next_request_at: Option<Instant>,
    /// Tokens that may still be spent this minute; refilled continuously, may go negative when
    /// calls used more than estimated.
    tokens: f64,
    tokens_at: Instant,
}

/// A place in a lane; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    lane: &'a Lane,
    reserved_tokens: u64,
}

impl Lane {
    /// A lane with the given settings.
    pub(crate) fn new(settings: LaneSettings) -> Self {
        let limit = settings.concurrency.max(1);
        Self {
            settings,
            state: Mutex::new(State {
                limit,
                in_flight: 0,
                successes: 0,
                cooldown_until: None,
                next_request_at: None,
                tokens: settings.tpm.unwrap_or(0) as f64,
                tokens_at: Instant::now(),
            }),
            changed: Notify::new(),
        }
    }

    /// The lane's settings.
    pub(crate) fn settings(&self) -> &LaneSettings {
        &self.settings
    }

    /// The current adaptive limit.
    #[cfg(test)]
    fn current_limit(&self) -> usize {
        self.lock().limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain counters; a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a place: no cooldown, fewer calls in flight than the current limit, the next
    /// request slot reached and `tokens` (an estimate) available this minute.
    pub(crate) async fn enter(&self, tokens: u64) -> Ticket<'_> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait_until = {
                let mut s = self.lock();
                let now = Instant::now();
                match self.blocked_until(&mut s, now, tokens) {
                    Blocked::No => {
                        s.in_flight += 1;
                        if let Some(rpm) = self.settings.rpm {
                            let slot = Duration::from_secs_f64(60.0 / f64::from(rpm.max(1)));
                            s.next_request_at = Some(now + slot);
                        }
                        if self.settings.tpm.is_some() {
                            s.tokens -= tokens as f64;
                        }
                        return Ticket {
                            lane: self,
                            reserved_tokens: tokens,
                        };
                    }
                    Blocked::Until(at) => Some(at),
                    Blocked::Full => None,
                }
            };
            match wait_until {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = &mut notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    fn blocked_until(&self, s: &mut State, now: Instant, tokens: u64) -> Blocked {
        if let Some(until) = s.cooldown_until {
            if until > now {
                return Blocked::Until(until);
            }
            s.cooldown_until = None;
        }
        if s.in_flight >= s.limit {
            return Blocked::Full;
        }
        if let Some(at) = s.next_request_at.filter(|at| *at > now) {
            return Blocked::Until(at);
        }
        if let Some(tpm) = self.settings.tpm {
            let per_second = tpm as f64 / 60.0;
            let elapsed = now.duration_since(s.tokens_at).as_secs_f64();
            s.tokens = (s.tokens + elapsed * per_second).min(tpm as f64);
            s.tokens_at = now;
            // A call larger than the whole minute's allowance waits for a full bucket.
            let need = (tokens as f64).min(tpm as f64);
            if s.tokens < need {
                let wait = (need - s.tokens) / per_second.max(f64::MIN_POSITIVE);
                return Blocked::Until(now + Duration::from_secs_f64(wait.min(60.0)));
            }
        }
        Blocked::No
    }

    /// A call was rate limited: halve the limit (once per cooldown) and pause the whole lane
    /// for `wait`.
    pub(crate) fn rate_limited(&self, wait: Duration) {
        let mut s = self.lock();
        let now = Instant::now();
        let cooling = s.cooldown_until.is_some_and(|until| until > now);
        if !cooling {
            s.limit = (s.limit / 2).max(1);
            s.successes = 0;
        }
        let until = now + wait;
        s.cooldown_until = Some(s.cooldown_until.map_or(until, |u| u.max(until)));
        drop(s);
        self.changed.notify_waiters();
    }
}

enum Blocked {
    No,
    Until(Instant),
    Full,
}

impl Ticket<'_> {
    /// The call succeeded having used `tokens`: count it toward raising the limit again and
    /// settle the token estimate.
    pub(crate) fn succeeded(self, tokens: u64) {
        let lane = self.lane;
        let mut s = lane.lock();
        s.successes += 1;
        if s.successes >= s.limit && s.limit < lane.settings.concurrency {
            s.limit += 1;
            s.successes = 0;
        }
        if lane.settings.tpm.is_some() {
            s.tokens += self.reserved_tokens as f64 - tokens as f64;
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.lane.lock().in_flight -= 1;
        self.lane.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(concurrency: usize) -> Lane {
        Lane::new(LaneSettings {
            concurrency,
            ..LaneSettings::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limits_halve_the_limit_once_per_cooldown_and_successes_raise_it() {
        let lane = lane(8);
        lane.rate_limited(Duration::from_secs(1));
        lane.rate_limited(Duration::from_secs(1));
        assert_eq!(lane.current_limit(), 4, "one halving per cooldown");
        let started = Instant::now();
        let ticket = lane.enter(0).await;
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "the cooldown holds"
        );
        ticket.succeeded(0);
        for _ in 0..4 {
            lane.enter(0).await.succeeded(0);
        }
        assert_eq!(
            lane.current_limit(),
            5,
            "a full window of successes adds one"
        );
        lane.rate_limited(Duration::from_millis(1));
        assert_eq!(lane.current_limit(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_lane_waits_for_a_place() {
        let lane = std::sync::Arc::new(lane(1));
        let first = lane.enter(0).await;
        let waiter = {
            let lane = lane.clone();
            tokio::spawn(async move {
                let _t = lane.enter(0).await;
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        let released = Instant::now();
        drop(first);
        assert!(waiter.await.unwrap() >= released);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_per_minute_are_paced() {
        let lane = Lane::new(LaneSettings {
            rpm: Some(120),
            ..LaneSettings::default()
        });
        let started = Instant::now();
        for _ in 0..5 {
            lane.enter(0).await.succeeded(0);
        }
        // Five requests at two a second: the fifth starts two seconds after the first.
        assert_eq!(started.elapsed().as_millis() / 100, 20);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_per_minute_are_paced() {
        let lane = Lane::new(LaneSettings {
            tpm: Some(600),
            ..LaneSettings::default()
        });
        let started = Instant::now();
        lane.enter(600).await.succeeded(600);
        lane.enter(300).await.succeeded(300);
        // 300 tokens refill at 10 a second.
        assert_eq!(started.elapsed().as_secs(), 30);
    }
}
