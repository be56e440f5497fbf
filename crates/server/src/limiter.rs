//! Failed-authentication limits, per client address and per user name: a sliding window of
//! failures; while a key has too many, every attempt from it is refused with 429 before any
//! credential is checked.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits and the failures seen.
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: usize,
    window: Duration,
    max_keys: usize,
    seen: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailureLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        FailureLimiter {
            max_failures,
            window,
            max_keys: 100_000,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` if any key is over its limit now.
    pub fn blocked(&self, keys: &[String]) -> Option<u64> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| {
                let q = seen.get_mut(k)?;
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > self.window)
                {
                    q.pop_front();
                }
                (q.len() >= self.max_failures).then(|| {
                    let oldest = q.front().copied().unwrap_or(now);
                    self.window
                        .saturating_sub(now.duration_since(oldest))
                        .as_secs()
                        .max(1)
                })
            })
            .max()
    }

    /// Count a failure against every key.
    pub fn fail(&self, keys: &[String]) {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= self.max_keys {
            let window = self.window;
            seen.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) <= window));
        }
        for k in keys {
            let q = seen.entry(k.clone()).or_default();
            q.push_back(now);
            while q.len() > self.max_failures {
                q.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_only_that_key() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        let ip = vec!["ip:1".to_string()];
        for _ in 0..2 {
            l.fail(&ip);
        }
        assert_eq!(l.blocked(&ip), None);
        l.fail(&ip);
        assert!(l.blocked(&ip).is_some_and(|s| (1..=60).contains(&s)));
        assert_eq!(l.blocked(&["ip:2".to_string()]), None);
    }

    #[test]
    fn window_expires() {
        let l = FailureLimiter::new(1, Duration::from_millis(10));
        let k = vec!["u:x".to_string()];
        l.fail(&k);
        assert!(l.blocked(&k).is_some());
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(l.blocked(&k), None);
    }
}
