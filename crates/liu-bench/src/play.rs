//! `liu bench play`: N viewers of one stream (or spread over K numbered
//! streams) from one thread, ramped at a fixed rate, each for the same
//! duration; then one report.

use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::error::BenchError;
use crate::report::{Report, RunInfo};
use crate::sys::{CpuTime, raise_nofile};
use crate::target::{Security, Target};
use crate::viewer::{self, Shared, TlsClient, ViewerConfig, ViewerResult};

/// What to run.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    pub url: String,
    pub viewers: u32,
    /// Viewer `i` plays stream `i % K` of K numbered ones ([`Target::numbered`]);
    /// `None`: all play the URL's stream.
    pub streams: Option<u32>,
    /// The stream has no video: the first audio frame is the first frame.
    pub audio_only: bool,
    /// New connections per second.
    pub rate: f64,
    pub duration: Duration,
    pub setup_timeout: Duration,
    /// Interval of progress lines on stderr; `None` for none.
    pub progress: Option<Duration>,
    /// Where to write the run's timeline ([`TIMELINE_EVERY`]); `None` for none.
    pub timeline: Option<PathBuf>,
}

/// Interval of the timeline's lines.
const TIMELINE_EVERY: Duration = Duration::from_millis(200);

/// Extra time after the last viewer's end before everything is cut.
const HARD_STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs the viewers and returns the report.
pub fn run(opts: &PlayOptions) -> Result<Report, BenchError> {
    if opts.viewers == 0
        || !opts.rate.is_finite()
        || opts.rate <= 0.0
        || opts.duration.is_zero()
        || opts.streams == Some(0)
    {
        return Err(BenchError::Usage(
            "need -n >= 1, --streams >= 1, --rate > 0 and --duration > 0".into(),
        ));
    }
    let target = Target::parse(&opts.url)?;
    let addr = target.resolve()?;
    let want = u64::from(opts.viewers) + 64;
    let limit = raise_nofile(want);
    if limit < want {
        warn!(
            limit,
            want, "the open-file limit is too low for this many viewers: raise `ulimit -n`"
        );
    }
    let protocol = target.kind();
    let tls = TlsClient::new();
    let configs: Vec<Rc<ViewerConfig>> = match opts.streams {
        None => vec![target],
        Some(k) => (0..k).map(|i| target.numbered(i)).collect(),
    }
    .into_iter()
    .map(|target| {
        Rc::new(ViewerConfig {
            tls: (target.security == Security::Tls).then(|| tls.clone()),
            target,
            addr,
            setup_timeout: opts.setup_timeout,
            audio_only: opts.audio_only,
        })
    })
    .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::io("starting the runtime", e))?;
    let local = tokio::task::LocalSet::new();
    let shared = Rc::new(Shared::default());
    let timeline = match &opts.timeline {
        Some(path) => Some(
            std::fs::File::create(path)
                .map(std::io::BufWriter::new)
                .map_err(|e| BenchError::io(format!("creating {}", path.display()), e))?,
        ),
        None => None,
    };
    let cpu0 = CpuTime::now();
    let t0 = Instant::now();
    let timeline = timeline.map(|out| local.spawn_local(write_timeline(out, shared.clone())));
    let results = local.block_on(&runtime, ramp(opts, &configs, shared.clone()));
    if let Some(task) = timeline {
        task.abort();
    }
    let wall = t0.elapsed();
    let cpu = CpuTime::now().since(cpu0);
    let info = RunInfo {
        url: opts.url.clone(),
        protocol,
        viewers: opts.viewers,
        streams: opts.streams.unwrap_or(1),
        rate_per_s: opts.rate,
        duration: opts.duration,
        wall,
        cpu,
    };
    let latency = shared.latency.borrow();
    Ok(Report::build(&info, &results, &latency))
}

async fn ramp(
    opts: &PlayOptions,
    configs: &[Rc<ViewerConfig>],
    shared: Rc<Shared>,
) -> Vec<ViewerResult> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let t0 = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / opts.rate);
    let progress = opts
        .progress
        .map(|every| tokio::task::spawn_local(progress(every, shared.clone(), opts.viewers)));
    let mut handles: Vec<JoinHandle<ViewerResult>> = Vec::with_capacity(opts.viewers as usize);
    let mut interrupted = false;
    let mut interrupt = std::pin::pin!(crate::sys::interrupted());
    for i in 0..opts.viewers {
        let start = t0 + interval.mul_f64(f64::from(i));
        tokio::select! {
            _ = tokio::time::sleep_until(start.into()) => {}
            _ = &mut interrupt => { interrupted = true; }
        }
        if interrupted {
            warn!(started = i, "interrupted: stopping every viewer");
            break;
        }
        let start = Instant::now();
        let end = start + opts.duration;
        let config = &configs[i as usize % configs.len()];
        handles.push(tokio::task::spawn_local(viewer::run(
            config.clone(),
            shared.clone(),
            start,
            end,
            stop_rx.clone(),
        )));
    }
    let last_end = Instant::now() + opts.duration;
    if !interrupted {
        tokio::select! {
            _ = tokio::time::sleep_until(last_end.into()) => {}
            _ = &mut interrupt => {
                warn!("interrupted: stopping every viewer");
                let _ = stop_tx.send(true);
            }
        }
    } else {
        let _ = stop_tx.send(true);
    }
    let hard_stop = tokio::time::Instant::from_std(last_end + HARD_STOP_GRACE);
    let mut results = Vec::with_capacity(handles.len());
    for h in handles {
        let abort = h.abort_handle();
        match tokio::time::timeout_at(hard_stop, h).await {
            Ok(Ok(r)) => results.push(r),
            Ok(Err(e)) => warn!("a viewer task failed: {e}"),
            Err(_) => {
                abort.abort();
                let _ = stop_tx.send(true);
            }
        }
    }
    if let Some(p) = progress {
        p.abort();
    }
    results
}

/// Appends one timeline line every [`TIMELINE_EVERY`] until aborted; a write
/// error ends the timeline with a warning, not the run.
async fn write_timeline(mut out: std::io::BufWriter<std::fs::File>, shared: Rc<Shared>) {
    let mut tick = tokio::time::interval(TIMELINE_EVERY);
    loop {
        tick.tick().await;
        let unix = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let line = format!(
            "{unix:.3} {} {} {} {} {} {}\n",
            shared.bytes.get(),
            shared.playing.get(),
            shared.started.get(),
            shared.failed.get(),
            shared.stalls.get(),
            shared.backwards.get()
        );
        if let Err(e) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            warn!("timeline: {e}; no more lines");
            return;
        }
    }
}

/// Logs a progress line every `every`.
async fn progress(every: Duration, shared: Rc<Shared>, viewers: u32) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    let (mut last_bytes, mut last_cpu, mut last_at) = (0u64, CpuTime::now(), Instant::now());
    loop {
        tick.tick().await;
        let (bytes, cpu, now) = (shared.bytes.get(), CpuTime::now(), Instant::now());
        let secs = (now - last_at).as_secs_f64();
        let mbps = (bytes - last_bytes) as f64 * 8.0 / secs / 1e6;
        let cpu_pct = cpu.since(last_cpu).percent_of(now - last_at);
        info!(
            "started {}/{}, playing {}, failed {}, {:.1} Mbit/s, tool CPU {:.1} %",
            shared.started.get(),
            viewers,
            shared.playing.get(),
            shared.failed.get(),
            mbps,
            cpu_pct
        );
        (last_bytes, last_cpu, last_at) = (bytes, cpu, now);
    }
}
