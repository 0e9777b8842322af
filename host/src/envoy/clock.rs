//! Virtual time and the root context's timer: tests move time explicitly, so timeouts and ticks are reproducible.

use std::time::Duration;

/// The VM's clock (time since the Unix epoch) and its one timer (`proxy_set_tick_period_milliseconds`).
#[derive(Debug)]
pub(crate) struct Clock {
    now: Duration,
    timer: Option<Timer>,
}

#[derive(Debug, Clone, Copy)]
struct Timer {
    period: Duration,
    next: Duration,
}

impl Clock {
    pub(crate) fn starting_at(now: Duration) -> Clock {
        Clock { now, timer: None }
    }

    pub(crate) fn now(&self) -> Duration {
        self.now
    }

    /// Moves time forward to `at` (the dispatcher's next event, or the end of an `advance_time`).
    pub(crate) fn move_to(&mut self, at: Duration) {
        self.now = self.now.max(at);
    }

    /// Sets the timer to fire every `period` from now; zero stops it (Envoy `setTickPeriod`).
    pub(crate) fn set_tick_period(&mut self, period: Duration) {
        self.timer = (!period.is_zero()).then(|| Timer {
            period,
            next: self.now + period,
        });
    }

    pub(crate) fn tick_period(&self) -> Option<Duration> {
        self.timer.map(|t| t.period)
    }

    pub(crate) fn next_tick(&self) -> Option<Duration> {
        self.timer.map(|t| t.next)
    }

    /// After a tick that fired at `fired_at`: the timer re-arms one period after the tick returned (Envoy
    /// `tickHandler`), unless the tick itself set a new period.
    pub(crate) fn rearm(&mut self, fired_at: Duration) {
        if let Some(timer) = &mut self.timer
            && timer.next <= fired_at
        {
            timer.next = self.now + timer.period;
        }
    }

    pub(crate) fn stop_timer(&mut self) {
        self.timer = None;
    }
}
