//! The optional copy of HLS streams in a directory (`[hls] dir`), for
//! archiving or for a web server or CDN that pulls files. Files carry the
//! names of the URLs: `DIR/APP/STREAM.m3u8` with `DIR/APP/STREAM/TOKEN-N.ts`,
//! and `DIR/APP/STREAM/index.m3u8` with `TOKEN-initN.mp4` and `TOKEN-N.m4s`
//! (that playlist lists whole segments only: LL-HLS parts need a server
//! that can hold a request).
//!
//! A segment is written before the playlist that lists it; a playlist is
//! written aside and renamed over the old one, so a reader never sees half
//! of it. Writes run in order on tokio's blocking threads behind a bounded
//! queue: a slow disk loses files (with a warning), never slows muxing.
//! With `dir_cleanup` (the default), a segment's file goes when it leaves
//! memory, and the stream's files go when its session ends.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use liu_hls::cmaf::CmafSegmenter;
use liu_hls::segmenter::TsSegmenter;
use tokio::sync::mpsc;
use tracing::{Instrument, debug, warn};

/// File operations queued, at most, before new ones are dropped.
const QUEUE: usize = 256;

enum FileOp {
    /// Writes a segment or init section.
    Write(PathBuf, Bytes),
    /// Writes a playlist aside, then renames it into place.
    Replace(PathBuf, Bytes),
    Remove(PathBuf),
}

/// One session's files: what was written, and the queue to the writer task.
pub(super) struct StreamFiles {
    tx: mpsc::Sender<FileOp>,
    /// `DIR/APP`: the playlists' directory.
    app_dir: PathBuf,
    /// `DIR/APP/STREAM`: the media directory.
    media_dir: PathBuf,
    /// The file name of the TS playlist, `STREAM.m3u8`.
    ts_playlist: String,
    token: String,
    cleanup: bool,
    /// Sequence numbers of the segments on disk, oldest first.
    ts_written: VecDeque<u64>,
    cmaf_written: VecDeque<u64>,
    /// Init sections on disk, oldest first.
    inits_written: VecDeque<u32>,
    playlists_written: Vec<PathBuf>,
    /// The playlists written say `EXT-X-ENDLIST`: (TS, CMAF).
    ended_written: (bool, bool),
    dropped: u64,
}

impl StreamFiles {
    /// Files for stream `name` of `app` under `dir`, or `None` (with a
    /// warning) if a name cannot be a path safely. Spawns the writer task.
    pub(super) fn new(
        dir: &Path,
        app: &str,
        name: &str,
        token: &str,
        cleanup: bool,
    ) -> Option<Self> {
        let (Some(app_rel), true) = (safe_relative(app), is_safe_segment(name)) else {
            warn!("HLS files: not written, the application or stream name is not a safe path");
            return None;
        };
        let app_dir = dir.join(app_rel);
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_files(rx).in_current_span());
        Some(StreamFiles {
            tx,
            media_dir: app_dir.join(name),
            app_dir,
            ts_playlist: format!("{name}.m3u8"),
            token: token.to_string(),
            cleanup,
            ts_written: VecDeque::new(),
            cmaf_written: VecDeque::new(),
            inits_written: VecDeque::new(),
            playlists_written: Vec::new(),
            ended_written: (false, false),
            dropped: 0,
        })
    }

    fn send(&mut self, op: FileOp) {
        if self.tx.try_send(op).is_err() {
            self.dropped += 1;
            if self.dropped == 1 {
                warn!("HLS files: the disk is behind, files are being dropped");
            }
        }
    }

    /// Writes what is new since the last call: segments and init sections,
    /// then the playlists; removes what left memory.
    pub(super) fn sync(
        &mut self,
        ts: Option<&TsSegmenter>,
        ts_playlist: Option<&Bytes>,
        cmaf: Option<&CmafSegmenter>,
    ) {
        if let Some(ts) = ts {
            self.sync_ts(ts, ts_playlist);
        }
        if let Some(cmaf) = cmaf {
            self.sync_cmaf(cmaf);
        }
    }

    fn sync_ts(&mut self, ts: &TsSegmenter, playlist: Option<&Bytes>) {
        let newest = self.ts_written.back().copied();
        let new: Vec<(u64, Bytes)> = ts
            .segments()
            .filter(|s| newest.is_none_or(|n| s.entry.sequence > n))
            .map(|s| (s.entry.sequence, s.data.clone()))
            .collect();
        // The session calls on every change of either form: a TS playlist
        // changes only with a new segment or its end.
        let ending = ts.is_ended() && !self.ended_written.0;
        if new.is_empty() && !ending {
            return;
        }
        self.ended_written.0 = ts.is_ended();
        for (sequence, data) in new {
            self.send(FileOp::Write(self.ts_path(sequence), data));
            self.ts_written.push_back(sequence);
        }
        if let Some(p) = playlist {
            let path = self.app_dir.join(&self.ts_playlist);
            self.send(FileOp::Replace(path.clone(), p.clone()));
            if !self.playlists_written.contains(&path) {
                self.playlists_written.push(path);
            }
        }
        if self.cleanup {
            let oldest = ts.segments().next().map_or(u64::MAX, |s| s.entry.sequence);
            while let Some(&s) = self.ts_written.front().filter(|&&s| s < oldest) {
                self.ts_written.pop_front();
                self.send(FileOp::Remove(self.ts_path(s)));
            }
        }
    }

    fn sync_cmaf(&mut self, cmaf: &CmafSegmenter) {
        let newest = self.cmaf_written.back().copied();
        let new: Vec<(u64, u32, Bytes)> = cmaf
            .segments()
            .filter(|s| newest.is_none_or(|n| s.sequence > n))
            .filter_map(|s| Some((s.sequence, s.init, s.data.clone()?)))
            .collect();
        // Parts do not change the file playlist: segments and the end do.
        let ending = cmaf.is_ended() && !self.ended_written.1;
        if new.is_empty() && !ending {
            return;
        }
        self.ended_written.1 = cmaf.is_ended();
        for (sequence, init, data) in new {
            if self.inits_written.back().is_none_or(|&i| init > i) {
                if let Some(bytes) = cmaf.init(init) {
                    self.send(FileOp::Write(self.init_path(init), bytes));
                }
                self.inits_written.push_back(init);
            }
            self.send(FileOp::Write(self.cmaf_path(sequence), data));
            self.cmaf_written.push_back(sequence);
        }
        if !self.cmaf_written.is_empty() {
            let path = self.media_dir.join("index.m3u8");
            let text = Bytes::from(cmaf.file_playlist());
            self.send(FileOp::Replace(path.clone(), text));
            if !self.playlists_written.contains(&path) {
                self.playlists_written.push(path);
            }
        }
        if self.cleanup {
            let oldest = cmaf.segments().next();
            let (oldest_seq, oldest_init) =
                oldest.map_or((u64::MAX, u32::MAX), |s| (s.sequence, s.init));
            while let Some(&s) = self.cmaf_written.front().filter(|&&s| s < oldest_seq) {
                self.cmaf_written.pop_front();
                self.send(FileOp::Remove(self.cmaf_path(s)));
            }
            while let Some(&i) = self.inits_written.front().filter(|&&i| i < oldest_init) {
                self.inits_written.pop_front();
                self.send(FileOp::Remove(self.init_path(i)));
            }
        }
    }

    /// The session ended: with cleanup, every file it wrote goes.
    pub(super) fn finish(&mut self) {
        if !self.cleanup {
            return;
        }
        for s in std::mem::take(&mut self.ts_written) {
            self.send(FileOp::Remove(self.ts_path(s)));
        }
        for s in std::mem::take(&mut self.cmaf_written) {
            self.send(FileOp::Remove(self.cmaf_path(s)));
        }
        for i in std::mem::take(&mut self.inits_written) {
            self.send(FileOp::Remove(self.init_path(i)));
        }
        for p in std::mem::take(&mut self.playlists_written) {
            self.send(FileOp::Remove(p));
        }
    }

    fn ts_path(&self, sequence: u64) -> PathBuf {
        self.media_dir.join(format!("{}-{sequence}.ts", self.token))
    }

    fn cmaf_path(&self, sequence: u64) -> PathBuf {
        self.media_dir
            .join(format!("{}-{sequence}.m4s", self.token))
    }

    fn init_path(&self, init: u32) -> PathBuf {
        self.media_dir
            .join(format!("{}-init{init}.mp4", self.token))
    }
}

/// A path segment that needs no escaping in a URI and means no directory
/// trick: unreserved characters only (RFC 3986 section 2.3), not `.`/`..`.
fn is_safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// An application name (segments joined by `/`) as a relative path.
fn safe_relative(app: &str) -> Option<PathBuf> {
    app.split('/')
        .map(|s| is_safe_segment(s).then_some(s))
        .collect::<Option<PathBuf>>()
}

/// The writer task: one operation at a time, in order, off the runtime.
async fn write_files(mut rx: mpsc::Receiver<FileOp>) {
    let mut failures = 0u64;
    while let Some(op) = rx.recv().await {
        let done = tokio::task::spawn_blocking(move || apply(&op).map_err(|e| (op.path(), e)));
        match done.await {
            Ok(Ok(())) => {}
            Ok(Err((path, e))) => {
                failures += 1;
                if failures == 1 {
                    warn!(
                        "HLS files: {}: {e} (later failures at debug level)",
                        path.display()
                    );
                } else {
                    debug!("HLS files: {}: {e}", path.display());
                }
            }
            Err(e) => warn!("HLS files: the writer stopped: {e}"),
        }
    }
}

impl FileOp {
    fn path(&self) -> PathBuf {
        match self {
            FileOp::Write(p, _) | FileOp::Replace(p, _) | FileOp::Remove(p) => p.clone(),
        }
    }
}

fn apply(op: &FileOp) -> io::Result<()> {
    match op {
        FileOp::Write(path, data) => {
            create_parent(path)?;
            std::fs::write(path, data)
        }
        FileOp::Replace(path, data) => {
            create_parent(path)?;
            let mut aside = path.clone().into_os_string();
            aside.push(".tmp");
            std::fs::write(&aside, data)?;
            std::fs::rename(&aside, path)
        }
        FileOp::Remove(path) => match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

fn create_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::create_dir_all(dir),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_names_become_paths() {
        assert!(is_safe_segment("cam-1_a.b~"));
        for bad in ["", ".", "..", "a/b", "a b", "流", "a\\b", "a%2F"] {
            assert!(!is_safe_segment(bad), "{bad:?}");
        }
        assert_eq!(safe_relative("live/sub"), Some(PathBuf::from("live/sub")));
        assert_eq!(safe_relative("live/../etc"), None);
        assert_eq!(safe_relative("/abs"), None);
    }
}
