//! Runs the fixed fan-out workload once, for callgrind:
//! `valgrind --tool=callgrind target/release/examples/fanout_workload [VIEWERS] [SECONDS]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let viewers = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let seconds = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let report = liu_server::workload::run_fanout(viewers, seconds);
    println!(
        "viewers={viewers} seconds={seconds} frames={} bytes_written={} socket_viewers={} \
         socket_bytes_min={} socket_bytes_max={}",
        report.frames,
        report.bytes_written,
        report.socket_viewers,
        report.socket_bytes_min,
        report.socket_bytes_max
    );
}
