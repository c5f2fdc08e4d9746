//! RTMPT, RTMP tunnelled in HTTP (as Flash Player, FMS, librtmp and `FFmpeg`
//! speak it). The client POSTs its RTMP bytes and polls for the server's:
//!
//! - `POST /fcs/ident2`: a probe Flash Player sends first; FMS answers 404.
//! - `POST /open/1`: opens a session; the answer is its id and a newline.
//! - `POST /send/ID/SEQ`: the body carries client bytes.
//! - `POST /idle/ID/SEQ`: a poll (one-byte body).
//! - `POST /close/ID/SEQ`: ends the session.
//!
//! Every answer but `open` starts with one byte, the polling interval the
//! server suggests (in units of about 10 ms), followed by whatever server
//! bytes are waiting. Bodies are `application/x-fcs`. `SEQ` counts the
//! client's requests, one up each time.
//!
//! This module parses requests and keeps the per-session protocol state;
//! the caller owns HTTP and the byte queues.

/// Content type of every RTMPT request and answer.
pub const CONTENT_TYPE: &str = "application/x-fcs";

/// What an RTMPT request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelCommand {
    Ident,
    Open,
    Send,
    Idle,
    Close,
}

/// A parsed RTMPT request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelRequest<'a> {
    pub command: TunnelCommand,
    /// Session id (empty for `ident` and `open`).
    pub session: &'a str,
    pub seq: u64,
}

/// Why an RTMPT request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunnelError {
    #[error("malformed RTMPT path")]
    MalformedPath,
    #[error("sequence number {got} out of order (expected {expected})")]
    OutOfOrder { expected: u64, got: u64 },
}

impl<'a> TunnelRequest<'a> {
    /// Parses a POST path. `None` if the path is not an RTMPT command at
    /// all (it may be something else the HTTP server serves);
    /// `Some(Err)` if it names one but is malformed.
    pub fn parse(path: &'a str) -> Option<Result<Self, TunnelError>> {
        let rest = path.strip_prefix('/')?;
        let (first, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let command = match first {
            "fcs" => TunnelCommand::Ident,
            "open" => TunnelCommand::Open,
            "send" => TunnelCommand::Send,
            "idle" => TunnelCommand::Idle,
            "close" => TunnelCommand::Close,
            _ => return None,
        };
        let request = match command {
            TunnelCommand::Ident => (rest == "ident2").then_some(TunnelRequest {
                command,
                session: "",
                seq: 0,
            }),
            TunnelCommand::Open => rest.parse().ok().map(|seq| TunnelRequest {
                command,
                session: "",
                seq,
            }),
            _ => rest.split_once('/').and_then(|(session, seq)| {
                let valid = !session.is_empty()
                    && session.len() <= 64
                    && session.bytes().all(|b| b.is_ascii_alphanumeric());
                Some(TunnelRequest {
                    command,
                    session: valid.then_some(session)?,
                    seq: seq.parse().ok()?,
                })
            }),
        };
        Some(request.ok_or(TunnelError::MalformedPath))
    }
}

/// Most polling interval suggested to an idle client.
const MAX_INTERVAL: u8 = 0x21;

/// One session's protocol state: sequence numbers and the polling interval.
#[derive(Debug, Clone, Default)]
pub struct TunnelState {
    /// The sequence number the next request must carry, once one was seen.
    next_seq: Option<u64>,
    /// Empty answers since the last traffic.
    idle_answers: u8,
}

impl TunnelState {
    /// Checks a request's sequence number: the first one sets the count,
    /// each later one must be the previous plus one.
    ///
    /// # Errors
    ///
    /// [`TunnelError::OutOfOrder`] for anything else.
    pub fn check_seq(&mut self, seq: u64) -> Result<(), TunnelError> {
        match self.next_seq {
            Some(expected) if seq != expected => {
                Err(TunnelError::OutOfOrder { expected, got: seq })
            }
            _ => {
                self.next_seq = Some(seq.wrapping_add(1));
                Ok(())
            }
        }
    }

    /// The interval byte for an answer: 1 while bytes flow either way,
    /// then one more for each empty exchange, up to 0x21.
    pub fn interval(&mut self, traffic: bool) -> u8 {
        if traffic {
            self.idle_answers = 0;
        } else {
            self.idle_answers = self.idle_answers.saturating_add(1).min(MAX_INTERVAL - 1);
        }
        1 + self.idle_answers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let ok = |p| TunnelRequest::parse(p).unwrap().unwrap();
        assert_eq!(ok("/fcs/ident2").command, TunnelCommand::Ident);
        assert_eq!(ok("/open/1").command, TunnelCommand::Open);
        let r = ok("/send/ab12/7");
        assert_eq!(
            (r.command, r.session, r.seq),
            (TunnelCommand::Send, "ab12", 7)
        );
        assert_eq!(ok("/idle/X/0").command, TunnelCommand::Idle);
        assert_eq!(ok("/close/X/99").command, TunnelCommand::Close);
        for not_rtmpt in ["/", "/live/cam.flv", "/opens/1", "", "open/1"] {
            assert_eq!(TunnelRequest::parse(not_rtmpt), None, "{not_rtmpt}");
        }
        for bad in [
            "/open/x",
            "/open/",
            "/fcs/ident",
            "/send/abc",
            "/send//1",
            "/send/a-b/1",
            "/send/abc/-1",
            "/send/abc/1/2",
            "/idle/abc/18446744073709551616",
        ] {
            assert_eq!(
                TunnelRequest::parse(bad),
                Some(Err(TunnelError::MalformedPath)),
                "{bad}"
            );
        }
        let long = format!("/send/{}/1", "a".repeat(65));
        assert_eq!(
            TunnelRequest::parse(&long),
            Some(Err(TunnelError::MalformedPath))
        );
    }

    #[test]
    fn sequence_numbers_count_up_by_one() {
        let mut s = TunnelState::default();
        assert_eq!(s.check_seq(0), Ok(()));
        assert_eq!(s.check_seq(1), Ok(()));
        assert_eq!(
            s.check_seq(1),
            Err(TunnelError::OutOfOrder {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            s.check_seq(5),
            Err(TunnelError::OutOfOrder {
                expected: 2,
                got: 5
            })
        );
        assert_eq!(s.check_seq(2), Ok(()));
        let mut s = TunnelState::default();
        assert_eq!(s.check_seq(u64::MAX), Ok(()));
        assert_eq!(s.check_seq(0), Ok(()));
    }

    #[test]
    fn interval_grows_while_idle_and_resets_on_traffic() {
        let mut s = TunnelState::default();
        assert_eq!(s.interval(true), 1);
        let idle: Vec<u8> = (0..40).map(|_| s.interval(false)).collect();
        assert_eq!(&idle[..3], &[2, 3, 4]);
        assert_eq!(*idle.last().unwrap(), MAX_INTERVAL);
        assert!(idle.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(s.interval(true), 1);
    }
}
