//! The spending caps of a run (`--max-calls`, `--max-tokens`, `--max-cost`), checked before
//! every call.
//!
//! Each call reserves its worst case (one call; its input bound plus `max_tokens`; the cost of
//! those at the provider's price) before it starts and settles to what it actually used when it
//! ends. A call whose worst case does not fit waits while other calls hold reservations (they
//! may settle lower) and is refused once none do, so the caps hold at any concurrency.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// Caps on what a run may spend (`--max-calls`, `--max-tokens`, `--max-cost`); `None` is no
/// cap. Stored in a check's manifest so `--resume` keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetLimits {
    /// Provider calls (every attempt counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u64>,
    /// Input plus output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<f64>,
}

impl BudgetLimits {
    /// Whether any cap is set.
    pub fn is_set(&self) -> bool {
        self.max_calls.is_some() || self.max_tokens.is_some() || self.max_cost.is_some()
    }
}

/// What one call may spend at most, or did spend.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Spend {
    /// Calls.
    pub calls: u64,
    /// Tokens.
    pub tokens: u64,
    /// Dollars; `None` when the price is unknown.
    pub cost: Option<f64>,
}

/// The run's budget, shared by every call.
#[derive(Debug)]
pub(crate) struct Budget {
    limits: BudgetLimits,
    state: Mutex<Totals>,
    settled: Notify,
}

#[derive(Debug, Default)]
struct Totals {
    spent_calls: u64,
    spent_tokens: u64,
    spent_cost: f64,
    held_calls: u64,
    held_tokens: u64,
    held_cost: f64,
}

/// A reservation; settle it with what the call used (dropping it unsettled releases it).
#[derive(Debug)]
pub(crate) struct Hold<'a> {
    budget: &'a Budget,
    worst: Spend,
    settled: bool,
}

impl Budget {
    /// A budget with these caps.
    pub(crate) fn new(limits: BudgetLimits) -> Self {
        Self {
            limits,
            state: Mutex::new(Totals::default()),
            settled: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Totals> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves `worst` for one call, waiting while other reservations might settle lower.
    /// `Err` names the cap that stops the call.
    pub(crate) async fn reserve(&self, worst: Spend) -> Result<Hold<'_>, String> {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut t = self.lock();
                match self.exceeded(&t, worst) {
                    None => {
                        t.held_calls += worst.calls;
                        t.held_tokens = t.held_tokens.saturating_add(worst.tokens);
                        t.held_cost += worst.cost.unwrap_or(0.0);
                        return Ok(Hold {
                            budget: self,
                            worst,
                            settled: false,
                        });
                    }
                    Some(cap) if t.held_calls == 0 => return Err(cap),
                    Some(_) => {}
                }
            }
            notified.await;
        }
    }

    /// Counts `worst` as spent at once if it fits, for a call whose real use is known only
    /// much later (a batched request): it never waits. `Err` names the cap that stops it.
    pub(crate) fn admit(&self, worst: Spend) -> Result<(), String> {
        let mut t = self.lock();
        if let Some(cap) = self.exceeded(&t, worst) {
            return Err(cap);
        }
        t.spent_calls += worst.calls;
        t.spent_tokens = t.spent_tokens.saturating_add(worst.tokens);
        t.spent_cost += worst.cost.unwrap_or(0.0);
        Ok(())
    }

    /// What the caps leave once everything spent and held is taken off.
    pub(crate) fn left(&self) -> BudgetLimits {
        let t = self.lock();
        let l = &self.limits;
        BudgetLimits {
            max_calls: l
                .max_calls
                .map(|m| m.saturating_sub(t.spent_calls + t.held_calls)),
            max_tokens: l
                .max_tokens
                .map(|m| m.saturating_sub(t.spent_tokens.saturating_add(t.held_tokens))),
            max_cost: l
                .max_cost
                .map(|m| (m - t.spent_cost - t.held_cost).max(0.0)),
        }
    }

    /// The cap that `worst` would break on top of what is spent and held, if any.
    fn exceeded(&self, t: &Totals, worst: Spend) -> Option<String> {
        let l = &self.limits;
        if let Some(max) = l.max_calls {
            if t.spent_calls + t.held_calls + worst.calls > max {
                return Some(format!("--max-calls {max} reached"));
            }
        }
        if let Some(max) = l.max_tokens {
            if t.spent_tokens
                .saturating_add(t.held_tokens)
                .saturating_add(worst.tokens)
                > max
            {
                return Some(format!("--max-tokens {max} reached"));
            }
        }
        if let Some(max) = l.max_cost {
            match worst.cost {
                None => {
                    return Some(format!(
                        "--max-cost {max} is set and this provider's price is unknown"
                    ));
                }
                Some(c) if t.spent_cost + t.held_cost + c > max + 1e-12 => {
                    return Some(format!("--max-cost {max} reached"));
                }
                Some(_) => {}
            }
        }
        None
    }

    /// What has been spent so far.
    #[cfg(test)]
    fn spent(&self) -> Spend {
        let t = self.lock();
        Spend {
            calls: t.spent_calls,
            tokens: t.spent_tokens,
            cost: Some(t.spent_cost),
        }
    }
}

impl Hold<'_> {
    /// The call is over and used `actual`.
    pub(crate) fn settle(mut self, actual: Spend) {
        let budget = self.budget;
        {
            let mut t = budget.lock();
            self.release(&mut t);
            t.spent_calls += self.worst.calls;
            t.spent_tokens = t.spent_tokens.saturating_add(actual.tokens);
            t.spent_cost += actual.cost.unwrap_or(0.0);
        }
        self.settled = true;
        budget.settled.notify_waiters();
    }

    fn release(&self, t: &mut Totals) {
        t.held_calls -= self.worst.calls;
        t.held_tokens -= self.worst.tokens;
        t.held_cost = (t.held_cost - self.worst.cost.unwrap_or(0.0)).max(0.0);
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        if !self.settled {
            // An abandoned call (interrupted) may still have been billed: count it as spent
            // in full, so a cap can never be passed.
            let mut t = self.budget.lock();
            self.release(&mut t);
            t.spent_calls += self.worst.calls;
            t.spent_tokens = t.spent_tokens.saturating_add(self.worst.tokens);
            t.spent_cost += self.worst.cost.unwrap_or(0.0);
            drop(t);
            self.budget.settled.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spend(tokens: u64, cost: f64) -> Spend {
        Spend {
            calls: 1,
            tokens,
            cost: Some(cost),
        }
    }

    #[tokio::test]
    async fn caps_refuse_the_call_that_would_pass_them() {
        let budget = Budget::new(BudgetLimits {
            max_calls: Some(2),
            ..BudgetLimits::default()
        });
        budget
            .reserve(spend(1, 0.0))
            .await
            .unwrap()
            .settle(spend(1, 0.0));
        budget
            .reserve(spend(1, 0.0))
            .await
            .unwrap()
            .settle(spend(1, 0.0));
        let refused = budget.reserve(spend(1, 0.0)).await.unwrap_err();
        assert_eq!(refused, "--max-calls 2 reached");
    }

    #[tokio::test]
    async fn a_worst_case_waits_for_held_reservations_to_settle_lower() {
        let budget = std::sync::Arc::new(Budget::new(BudgetLimits {
            max_tokens: Some(100),
            ..BudgetLimits::default()
        }));
        let first = budget.reserve(spend(80, 0.0)).await.unwrap();
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move {
                budget
                    .reserve(spend(80, 0.0))
                    .await
                    .map(|h| h.settle(spend(10, 0.0)))
            })
        };
        tokio::task::yield_now().await;
        first.settle(spend(15, 0.0));
        waiting.await.unwrap().unwrap();
        assert_eq!(budget.spent().tokens, 25);
    }

    #[test]
    fn an_admitted_worst_case_is_spent_at_once_and_what_is_left_follows() {
        let budget = Budget::new(BudgetLimits {
            max_calls: Some(3),
            max_cost: Some(1.0),
            ..BudgetLimits::default()
        });
        budget.admit(spend(10, 0.4)).unwrap();
        budget.admit(spend(10, 0.4)).unwrap();
        assert_eq!(
            budget.admit(spend(10, 0.4)).unwrap_err(),
            "--max-cost 1 reached"
        );
        let left = budget.left();
        assert_eq!(left.max_calls, Some(1));
        assert!((left.max_cost.unwrap() - 0.2).abs() < 1e-9);
        assert_eq!(left.max_tokens, None);
    }

    #[tokio::test]
    async fn an_unknown_price_never_fits_a_cost_cap() {
        let budget = Budget::new(BudgetLimits {
            max_cost: Some(1.0),
            ..BudgetLimits::default()
        });
        let unknown = Spend {
            calls: 1,
            tokens: 1,
            cost: None,
        };
        assert!(
            budget
                .reserve(unknown)
                .await
                .unwrap_err()
                .contains("price is unknown")
        );
        let hold = budget.reserve(spend(1, 0.6)).await.unwrap();
        drop(hold);
        assert!(
            budget.reserve(spend(1, 0.6)).await.is_err(),
            "an abandoned call counts in full"
        );
    }
}
