//! Process facts: CPU time used, the open-file limit, and wall-clock time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// User and system CPU time of this process so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTime {
    /// From getrusage(RUSAGE_SELF).
    pub fn now() -> CpuTime {
        // SAFETY: getrusage only writes into the zeroed struct it is given.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
                return CpuTime::default();
            }
            usage
        };
        let tv = |t: libc::timeval| {
            Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000)
        };
        CpuTime {
            user: tv(usage.ru_utime),
            system: tv(usage.ru_stime),
        }
    }

    /// CPU used since `earlier`.
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    pub fn total(self) -> Duration {
        self.user + self.system
    }

    /// As a percentage of one core over `wall`.
    pub fn percent_of(self, wall: Duration) -> f64 {
        if wall.is_zero() {
            0.0
        } else {
            100.0 * self.total().as_secs_f64() / wall.as_secs_f64()
        }
    }
}

/// Raises the soft open-file limit to at least `want` (up to the hard
/// limit). Returns the limit in force afterwards.
pub fn raise_nofile(want: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit read and write the struct they are given.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur as u64 >= want {
            return lim.rlim_cur as u64;
        }
        let target = (want as libc::rlim_t).min(lim.rlim_max);
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            target as u64
        } else {
            lim.rlim_cur as u64
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Unix time in ms, now.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Maps monotonic instants to Unix time, so a viewer reads the clock once
/// per socket read.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    base_unix_us: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Self {
        let base = Instant::now();
        let base_unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        Clock { base, base_unix_us }
    }

    /// Unix time in µs at `at`.
    pub fn unix_us(&self, at: Instant) -> u64 {
        self.base_unix_us + at.saturating_duration_since(self.base).as_micros() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_moves_and_clock_agrees_with_system_time() {
        let a = CpuTime::now();
        let mut x = 0u64;
        for i in 0..3_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(CpuTime::now().since(a).total() > Duration::ZERO);
        let c = Clock::new();
        let diff = c.unix_us(Instant::now()) as i64 / 1000 - unix_ms() as i64;
        assert!(diff.abs() <= 2, "{diff}");
        assert!(raise_nofile(64) >= 64);
    }
}
