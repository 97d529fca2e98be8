//! Frames over one replication connection: read whole frames off the
//! read half, write frames to the write half, with deadlines.

use std::future::Future;
use std::io;
use std::time::Duration;

use bolide_transport::rt;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::wire::{DecodeError, Frame};

/// Bytes asked of the socket per read.
const READ_BYTES: usize = 256 << 10;

/// Reads frames off a byte stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes of `buf` already decoded.
    used: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: Vec::new(),
            used: 0,
        }
    }

    /// The next frame; an error at end of stream or for a bad frame.
    pub async fn next(&mut self) -> io::Result<Frame> {
        loop {
            match Frame::decode(&self.buf[self.used..]) {
                Ok((frame, len)) => {
                    self.used += len;
                    return Ok(frame);
                }
                Err(DecodeError::Invalid(why)) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, why))
                }
                Err(DecodeError::Incomplete) => self.fill().await?,
            }
        }
    }

    /// The next frame, or a timeout error after `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> io::Result<Frame> {
        within(limit, self.next()).await
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.used > 0 {
            self.buf.drain(..self.used);
            self.used = 0;
        }
        let filled = self.buf.len();
        self.buf.resize(filled + READ_BYTES, 0);
        let n = self.inner.read(&mut self.buf[filled..]).await;
        self.buf.truncate(filled + *n.as_ref().unwrap_or(&0));
        match n? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }
}

/// Writes one frame.
pub async fn send<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> io::Result<()> {
    let mut bytes = Vec::new();
    frame.encode(&mut bytes);
    w.write_all(&bytes).await?;
    w.flush().await
}

/// Runs `work`, failing with `TimedOut` after `limit`.
pub async fn within<T>(
    limit: Duration,
    work: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let late = async {
        rt::sleep(limit).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("nothing within {limit:?}"),
        ))
    };
    futures_lite::future::or(work, late).await
}
