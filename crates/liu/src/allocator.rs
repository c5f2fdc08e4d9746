//! Which allocator serves Liu, chosen by measurement (docs/performance.md, "Which
//! allocator"): glibc's malloc, with its per-thread cache off and Liu's trims after
//! connections end (`liu_server::heap`). The `jemalloc` and `mimalloc` features swap in those
//! allocators for the comparison only.
//!
//! glibc's per-thread cache (tcache) keeps up to seven freed chunks of each small size per
//! thread, out of `malloc_trim`'s reach; after a load, those chunks are scattered over the
//! heap and keep its pages resident. Measured a minute after 300 streams ended: 17-19 % over
//! the idle RSS with the cache, 3-4 % without, and no difference in CPU per delivered MB
//! beyond the machine's drift. glibc reads its tunables only at exec, so `liu serve` executes itself
//! once more with `GLIBC_TUNABLES=glibc.malloc.tcache_count=0`.

#[cfg(all(feature = "jemalloc", feature = "mimalloc"))]
compile_error!("features `jemalloc` and `mimalloc` each choose the global allocator: pick one");

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The glibc tunables `liu serve` runs with unless `GLIBC_TUNABLES` is set.
pub const GLIBC_TUNABLES: &str = "glibc.malloc.tcache_count=0";

/// Executes this program again, same arguments and process id, with [`GLIBC_TUNABLES`], unless
/// the environment already sets `GLIBC_TUNABLES` (any value, even empty: the operator's
/// choice). Returns only if that is so, or if the exec failed (logged).
pub fn tune_glibc_malloc() {
    #[cfg(all(
        target_os = "linux",
        target_env = "gnu",
        not(feature = "jemalloc"),
        not(feature = "mimalloc")
    ))]
    {
        use std::os::unix::process::CommandExt as _;
        if std::env::var_os("GLIBC_TUNABLES").is_some() {
            return;
        }
        let mut args = std::env::args_os();
        let err = std::process::Command::new("/proc/self/exe")
            .arg0(args.next().unwrap_or_else(|| "liu".into()))
            .args(args)
            .env("GLIBC_TUNABLES", GLIBC_TUNABLES)
            .exec();
        tracing::warn!(
            "could not restart with GLIBC_TUNABLES={GLIBC_TUNABLES} ({err}); running with \
             glibc's defaults, which keep more memory after a load"
        );
    }
}
