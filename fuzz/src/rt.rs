//! A current-thread tokio runtime with paused time (a stuck exchange times
//! out at once instead of hanging the fuzzer), and a reader that hands out
//! its bytes in fuzzer-chosen pieces.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, ReadBuf};

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
}

/// Runs `future` to completion on this thread's runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(future))
}

/// Reads `data` in pieces of the sizes in `chunks` (cycling; 0 counts as 1).
pub struct Chunked<'a> {
    data: &'a [u8],
    chunks: Vec<usize>,
    next: usize,
}

impl<'a> Chunked<'a> {
    /// A reader of `data` in pieces of `chunks` bytes.
    pub fn new(data: &'a [u8], chunks: Vec<usize>) -> Self {
        Self {
            data,
            chunks,
            next: 0,
        }
    }
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let piece = match self.chunks.get(self.next % self.chunks.len().max(1)) {
            Some(&n) => n.max(1),
            None => usize::MAX,
        };
        self.next = self.next.wrapping_add(1);
        let n = piece.min(buf.remaining()).min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = tail;
        Poll::Ready(Ok(()))
    }
}
